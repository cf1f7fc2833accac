"""Figures of the fits (matplotlib, PNG and SVG): curves + envelope, IsoFLOPs, N*/D* vs C,
IsoLoss contours with the efficient frontier, and Approach-3 residuals."""

import pathlib

import matplotlib

matplotlib.use("Agg")  # files only; never needs a display
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from llm_jax.scaling.approach3 import optimal_allocation  # noqa: E402
from llm_jax.scaling.approach12 import envelope  # noqa: E402

KAPLAN_A = 0.73  # Kaplan et al. (2020): N_opt ∝ C^0.73, drawn for reference


def _save(fig, out: pathlib.Path, name: str) -> list[str]:
    paths = []
    for ext in ("png", "svg"):
        path = out / f"{name}.{ext}"
        fig.savefig(path, dpi=120, bbox_inches="tight")
        paths.append(str(path))
    plt.close(fig)
    return paths


def _size_colours(n_params):
    sizes = np.unique(n_params)
    cmap = plt.get_cmap("viridis")
    return {n: cmap(i / max(len(sizes) - 1, 1)) for i, n in enumerate(sizes)}


def plot_curves(table: dict, fit1, out) -> list[str]:
    """Loss vs FLOPs for each run, coloured by model size, with the Approach-1 envelope."""
    fig, ax = plt.subplots(figsize=(7, 4.5))
    colours = _size_colours(table["params"])
    runs = table["run"] if "run" in table else table["params"]
    for run in np.unique(runs):
        sel = np.flatnonzero(runs == run)
        sel = sel[np.argsort(table["flops"][sel])]
        n = table["params"][sel[0]]
        ax.plot(table["flops"][sel], table["loss"][sel], color=colours[n], lw=1, marker=".")
    for n, colour in colours.items():
        ax.plot([], [], color=colour, label=f"N = {n:.3g}")
    if fit1 is not None:
        env = envelope(table["flops"], table["loss"], table["params"], table["tokens"], runs)
        label = f"envelope (Approach 1: N* ∝ C^{fit1.a:.3f}, D* ∝ C^{fit1.b:.3f})"
        ax.plot(env["flops"], env["loss"], "k-", lw=2, alpha=0.6, label=label)
    ax.set(
        xscale="log",
        xlabel="training FLOPs C",
        ylabel="loss",
        title="Training curves by model size (Approach 1 reads the lower envelope)",
    )
    ax.legend(fontsize=7, ncol=2)
    return _save(fig, out, "training_curves")


def plot_isoflops(points: dict, budgets, fit2, out) -> list[str]:
    """Loss vs N per budget with the fitted parabolas and their minima."""
    fig, ax = plt.subplots(figsize=(7, 4.5))
    cmap = plt.get_cmap("plasma")
    labels = np.unique(budgets)
    for i, c in enumerate(labels):
        sel = budgets == c
        colour = cmap(i / max(len(labels) - 1, 1))
        log_n = np.log(points["params"][sel])
        ax.scatter(points["params"][sel], points["loss"][sel], s=12, color=colour)
        if sel.sum() >= 3:
            coef = np.polyfit(log_n, points["loss"][sel], 2)
            grid = np.linspace(log_n.min(), log_n.max(), 100)
            ax.plot(np.exp(grid), np.polyval(coef, grid), color=colour, label=f"C = {c:.2g}")
    for o in fit2.optima if fit2 else []:
        if "n_opt" in o:
            marker = "*" if o["used"] else "x"
            ax.plot(o["n_opt"], o["loss_opt"], marker, color="k", ms=9)
    title = "IsoFLOP profiles, parabola fits in log N (★ minimum used, × rejected)"
    ax.set(xscale="log", xlabel="parameters N", ylabel="loss", title=title)
    ax.legend(fontsize=7, ncol=2)
    return _save(fig, out, "isoflops")


def _optimum_band(fit3, c):
    """95% band of N_opt(C) and D_opt(C) from the bootstrap draws, if any."""
    if not fit3.samples:
        return None
    n_opt, d_opt = optimal_allocation(fit3.samples, c[:, None])
    return [np.percentile(v, [2.5, 97.5], axis=1) for v in (n_opt, d_opt)]


def plot_optimal(results: dict, out) -> list[str]:
    """N* and D* vs C on log-log axes: each approach's fit, intervals, a Kaplan reference."""
    points = results["points"]
    c = np.geomspace(points["flops"].min(), points["flops"].max() * 100, 100)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.5))
    fit3 = results.get("approach3")
    for key, style in (("approach1", ":"), ("approach2", "--")):
        fit = results.get(key)
        if fit is None:
            continue
        axes[0].plot(c, fit.n_opt(c), style, label=f"{key}: a = {fit.a:.3f}")
        axes[1].plot(c, fit.d_opt(c), style, label=f"{key}: b = {fit.b:.3f}")
        used = [o for o in fit.optima if o.get("used")]
        axes[0].scatter([o["flops"] for o in used], [o["n_opt"] for o in used], s=15)
        axes[1].scatter([o["flops"] for o in used], [o["d_opt"] for o in used], s=15)
    if fit3 is not None:
        n3, d3 = fit3.optimal_allocation(c)
        axes[0].plot(c, n3, "-", label=f"approach3: a = {fit3.a:.3f}")
        axes[1].plot(c, d3, "-", label=f"approach3: b = {fit3.b:.3f}")
        band = _optimum_band(fit3, c)
        for ax, (low, high) in zip(axes, band or [], strict=False):
            ax.fill_between(c, low, high, alpha=0.2, label="approach3 95% bootstrap")
        anchor = n3[0]
        axes[0].plot(
            c,
            anchor * (c / c[0]) ** KAPLAN_A,
            color="grey",
            lw=0.8,
            label=f"Kaplan reference: N ∝ C^{KAPLAN_A}",
        )
    for ax, what in zip(axes, ("parameters N*", "tokens D*"), strict=True):
        ax.set(xscale="log", yscale="log", xlabel="training FLOPs C", ylabel=f"optimal {what}")
        ax.legend(fontsize=7)
    fig.suptitle("Compute-optimal allocation: fitted power laws N* ∝ C^a, D* ∝ C^b")
    return _save(fig, out, "optimal_allocation")


def plot_isoloss(results: dict, out) -> list[str]:
    """IsoLoss contours of the Approach-3 law over (C, N) with its efficient frontier."""
    fit3, points = results["approach3"], results["points"]
    c = np.geomspace(points["flops"].min() / 10, points["flops"].max() * 100, 200)
    n = np.geomspace(points["params"].min() / 10, points["params"].max() * 10, 200)
    cc, nn = np.meshgrid(c, n)
    loss = fit3.predict(nn, cc / (6 * nn))
    fig, ax = plt.subplots(figsize=(7, 4.5))
    levels = np.quantile(loss, np.linspace(0.02, 0.9, 12))
    contours = ax.contour(cc, nn, loss, levels=np.unique(levels), cmap="viridis", linewidths=0.8)
    ax.clabel(contours, fontsize=6, fmt="%.2f")
    ax.plot(c, fit3.optimal_allocation(c)[0], "r-", label="efficient frontier N_opt(C)")
    ax.scatter(points["flops"], points["params"], s=8, c="k", label="runs")
    title = (
        f"IsoLoss of L = {fit3.E:.2f} + {fit3.A:.3g}/N^{fit3.alpha:.3f} "
        f"+ {fit3.B:.3g}/D^{fit3.beta:.3f}"
    )
    ax.set(
        xscale="log", yscale="log", xlabel="training FLOPs C", ylabel="parameters N", title=title
    )
    ax.legend(fontsize=7)
    return _save(fig, out, "isoloss")


def plot_residuals(results: dict, out) -> list[str]:
    """log(predicted) − log(observed) of the Approach-3 fit against C, coloured by N."""
    fit3, points = results["approach3"], results["points"]
    resid = np.log(fit3.predict(points["params"], points["tokens"])) - np.log(points["loss"])
    fig, ax = plt.subplots(figsize=(7, 4))
    sc = ax.scatter(points["flops"], resid, c=np.log10(points["params"]), s=12, cmap="viridis")
    fig.colorbar(sc, ax=ax, label="log10 N")
    ax.axhline(0, color="k", lw=0.8)
    ax.set(
        xscale="log",
        xlabel="training FLOPs C",
        ylabel="log L_fit − log L_obs",
        title="Approach 3 residuals (Huber δ = 1e-3 on log loss)",
    )
    return _save(fig, out, "residuals")


def plot_all(results: dict, table: dict, out) -> list[str]:
    """Every figure the fitted approaches support; returns the written paths."""
    out = pathlib.Path(out)
    paths = plot_curves(table, results.get("approach1"), out)
    if "approach2" in results:
        paths += plot_isoflops(results["points"], results["budgets"], results["approach2"], out)
    paths += plot_optimal(results, out)
    if "approach3" in results:
        paths += plot_isoloss(results, out) + plot_residuals(results, out)
    return paths
