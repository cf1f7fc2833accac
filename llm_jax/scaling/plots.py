"""Figures of the fits (PNG and SVG): curves + envelope, IsoFLOPs, N*/D* vs C, IsoLoss contours
with the efficient frontier, Approach-3 residuals, and (kaplan_plots.py) Kaplan's figures."""

import pathlib

import numpy as np

from llm_jax.scaling.approach3 import optimal_allocation
from llm_jax.scaling.approach12 import envelope
from llm_jax.scaling.figures import colours, flops_label, new_figure, params_label, save
from llm_jax.scaling.kaplan_plots import plot_kaplan

KAPLAN_A = 0.73  # Kaplan et al. (2020): N_opt ∝ C^0.73, drawn for reference


def plot_curves(table: dict, fit1, out, convention: str = "6N") -> list[str]:
    """Loss vs FLOPs for each run, coloured by model size, with the Approach-1 envelope."""
    fig, ax = new_figure()
    by_size = colours(table["params"])
    runs = table["run"] if "run" in table else table["params"]
    for run in np.unique(runs):
        sel = np.flatnonzero(runs == run)
        sel = sel[np.argsort(table["flops"][sel])]
        n = table["params"][sel[0]]
        ax.plot(table["flops"][sel], table["loss"][sel], color=by_size[n], lw=1, marker=".")
    for n, colour in by_size.items():
        ax.plot([], [], color=colour, label=f"N = {n:.3g}")
    if fit1 is not None:
        env = envelope(table["flops"], table["loss"], table["params"], table["tokens"], runs)
        label = f"envelope (Approach 1: N* ∝ C^{fit1.a:.3f}, D* ∝ C^{fit1.b:.3f})"
        ax.plot(env["flops"], env["loss"], "k-", lw=2, alpha=0.6, label=label)
    ax.set(
        xscale="log",
        xlabel=flops_label(convention),
        ylabel="loss",
        title="Training curves by model size (Approach 1 reads the lower envelope)",
    )
    ax.legend(fontsize=7, ncol=2)
    return save(fig, out, "training_curves")


def plot_isoflops(points: dict, budgets, fit2, out, convention: str = "6N") -> list[str]:
    """Loss vs N per budget with the fitted parabolas and their minima."""
    fig, ax = new_figure()
    by_budget = colours(budgets, "plasma")
    for c, colour in by_budget.items():
        sel = budgets == c
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
    title = f"IsoFLOP profiles ({convention} FLOPs), parabolas in log N (★ used, × rejected)"
    ax.set(xscale="log", xlabel=params_label(), ylabel="loss", title=title)
    ax.legend(fontsize=7, ncol=2)
    return save(fig, out, "isoflops")


def _optimum_band(fit3, c):
    """95% band of N_opt(C) and D_opt(C) from the bootstrap draws, if any."""
    if not fit3.samples:
        return None
    n_opt, d_opt = optimal_allocation(fit3.samples, c[:, None])
    return [np.percentile(v, [2.5, 97.5], axis=1) for v in (n_opt, d_opt)]


def plot_optimal(results: dict, out, convention: str = "6N") -> list[str]:
    """N* and D* vs C on log-log axes: each approach's fit, intervals, Kaplan's frontier (fitted,
    when there is one, and his published exponent for reference)."""
    points = results["points"]
    c = np.geomspace(points["flops"].min(), points["flops"].max() * 100, 100)
    fig, axes = new_figure(11, 4.5, ncols=2)
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
    kaplan = results.get("kaplan")
    if kaplan is not None:
        alloc, what = kaplan.allocation, params_label(kaplan.params_convention)
        axes[0].plot(
            c,
            alloc["n_coef"] * c ** alloc["a"],
            "-.",
            label=f"Kaplan frontier, {what}: a = {alloc['a']:.3f}",
        )
        axes[1].plot(
            c,
            alloc["d_coef"] * c ** alloc["b"],
            "-.",
            label=f"Kaplan frontier: b = {alloc['b']:.3f}",
        )
    for ax, what in zip(axes, ("parameters N* (total)", "tokens D*"), strict=True):
        ax.set(xscale="log", yscale="log", xlabel=flops_label(convention), ylabel=f"optimal {what}")
        ax.legend(fontsize=7)
    fig.suptitle("Compute-optimal allocation: fitted power laws N* ∝ C^a, D* ∝ C^b")
    return save(fig, out, "optimal_allocation")


def plot_isoloss(results: dict, out, convention: str = "6N") -> list[str]:
    """IsoLoss contours of the Approach-3 law over (C, N) with its efficient frontier."""
    fit3, points = results["approach3"], results["points"]
    c = np.geomspace(points["flops"].min() / 10, points["flops"].max() * 100, 200)
    n = np.geomspace(points["params"].min() / 10, points["params"].max() * 10, 200)
    cc, nn = np.meshgrid(c, n)
    loss = fit3.predict(nn, cc / (6 * nn))
    fig, ax = new_figure()
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
        xscale="log",
        yscale="log",
        xlabel=flops_label(convention),
        ylabel=params_label(),
        title=title,
    )
    ax.legend(fontsize=7)
    return save(fig, out, "isoloss")


def plot_residuals(results: dict, out, convention: str = "6N") -> list[str]:
    """log(predicted) − log(observed) of the Approach-3 fit against C, coloured by N."""
    fit3, points = results["approach3"], results["points"]
    resid = np.log(fit3.predict(points["params"], points["tokens"])) - np.log(points["loss"])
    fig, ax = new_figure(7, 4)
    sc = ax.scatter(points["flops"], resid, c=np.log10(points["params"]), s=12, cmap="viridis")
    fig.colorbar(sc, ax=ax, label="log10 N (total parameters)")
    ax.axhline(0, color="k", lw=0.8)
    ax.set(
        xscale="log",
        xlabel=flops_label(convention),
        ylabel="log L_fit − log L_obs",
        title="Approach 3 residuals (Huber δ = 1e-3 on log loss)",
    )
    return save(fig, out, "residuals")


def plot_all(results: dict, table: dict, out, convention: str = "6N") -> list[str]:
    """Every figure the fitted approaches support; returns the written paths."""
    out = pathlib.Path(out)
    paths = plot_curves(table, results.get("approach1"), out, convention)
    if "approach2" in results:
        fit2 = results["approach2"]
        paths += plot_isoflops(results["points"], results["budgets"], fit2, out, convention)
    paths += plot_optimal(results, out, convention)
    if "approach3" in results:
        paths += plot_isoloss(results, out, convention) + plot_residuals(results, out, convention)
    if "kaplan" in results:
        paths += plot_kaplan(results["kaplan"], table, out, convention)
    return paths
