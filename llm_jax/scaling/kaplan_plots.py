"""Kaplan et al. (2020)'s figures of a KaplanFit: loss vs compute with the frontier over all
curves (their Figure 1, left), vs dataset size and vs parameters (Figure 1, middle and right), and
L(N, D) per model size (Figure 4, left)."""

import numpy as np

from llm_jax.scaling.figures import (
    colours,
    flops_label,
    log_loss_axis,
    new_figure,
    params_label,
    save,
)
from llm_jax.scaling.kaplan_fit import kaplan_params, most_trained_rows

TOKENS_LABEL = "dataset size D (tokens)"


def _exponent_label(fit, name: str) -> str:
    """'alpha = 0.076 [0.071, 0.081]' with the bootstrap interval when there is one."""
    text = f"{name} = {fit.params[name]:.3f}"
    if name in fit.ci:
        low, high = fit.ci[name]
        text += f" [{low:.3f}, {high:.3f}]"
    return text


def _curves(ax, table, x, n_params, lw=0.8, alpha=0.6):
    """Each run's curve (loss vs x), coloured by its model size; returns the size → colour map."""
    by_size = colours(n_params)
    for run in np.unique(table["run"]):
        sel = np.flatnonzero(table["run"] == run)
        sel = sel[np.argsort(x[sel])]
        ax.plot(x[sel], table["loss"][sel], color=by_size[n_params[sel[0]]], lw=lw, alpha=alpha)
    return by_size


def _power_line(ax, fit, v, exponent, scale, style, label):
    p = fit.params
    ax.plot(v, (p[scale] / v) ** p[exponent], style, lw=2, label=label)


def plot_compute(fit, table, out, convention) -> list[str]:
    """Loss vs compute: every learning curve, their lower envelope, L(C) fitted to it."""
    n, _ = kaplan_params(table, fit.params_convention)
    fig, ax = new_figure()
    _curves(ax, table, table["flops"], n)
    env, frontier = fit.envelopes["flops"], fit.envelopes["frontier"]
    ok = np.isfinite(env["loss"])
    ax.plot(env["flops"][ok], env["loss"][ok], "k-", lw=1.5, label="lower envelope")
    label = (
        f"L = (C_c/C)^α_C fitted where an interior size wins, C_c = {fit.l_c.params['C_c']:.2g}, "
    )
    label += _exponent_label(fit.l_c, "alpha_C")
    inside = frontier["flops"][np.isfinite(frontier["loss"])]
    _power_line(ax, fit.l_c, inside, "alpha_C", "C_c", "--", label)
    ax.set(xscale="log", xlabel=flops_label(convention))
    log_loss_axis(ax)
    ax.set_title(f"Compute: learning curves coloured by {params_label(fit.params_convention)}")
    ax.legend(fontsize=7)
    return save(fig, out, "kaplan_compute")


def plot_dataset(fit, table, out) -> list[str]:
    """Loss vs tokens: the curves, their lower envelope (least parameter-limited), L(D)."""
    n, _ = kaplan_params(table, fit.params_convention)
    fig, ax = new_figure()
    _curves(ax, table, table["tokens"], n, lw=0.6, alpha=0.3)
    env = fit.envelopes["tokens"]
    ok = np.isfinite(env["loss"])
    ax.plot(env["flops"][ok], env["loss"][ok], "k-", lw=1.5, label="lower envelope over runs")
    label = f"L = (D_c/D)^α_D, D_c = {fit.l_d.params['D_c']:.2g}, "
    _power_line(
        ax,
        fit.l_d,
        env["flops"][ok],
        "alpha_D",
        "D_c",
        "--",
        label + _exponent_label(fit.l_d, "alpha_D"),
    )
    ax.set(xscale="log", xlabel=TOKENS_LABEL, title="Dataset size")
    log_loss_axis(ax)
    ax.legend(fontsize=7)
    return save(fig, out, "kaplan_dataset")


def plot_params(fit, table, out) -> list[str]:
    """Loss vs N at each size's most-trained point, L(N), and the joint law's D → ∞ limit."""
    n, _ = kaplan_params(table, fit.params_convention)
    top = most_trained_rows(n, table["tokens"])
    fig, ax = new_figure()
    ax.scatter(n[top], table["loss"][top], color="k", s=15, label="most-trained row per size")
    grid = np.geomspace(n.min(), n.max(), 100)
    label = f"L = (N_c/N)^α_N, N_c = {fit.l_n.params['N_c']:.2g}, "
    _power_line(
        ax, fit.l_n, grid, "alpha_N", "N_c", "--", label + _exponent_label(fit.l_n, "alpha_N")
    )
    _power_line(
        ax,
        fit.joint,
        grid,
        "alpha_N",
        "N_c",
        ":",
        "joint L(N, D) at D → ∞: " + _exponent_label(fit.joint, "alpha_N"),
    )
    what = params_label(fit.params_convention)
    ax.set(xscale="log", xlabel=what, title="Parameters")
    log_loss_axis(ax)
    ax.legend(fontsize=7)
    return save(fig, out, "kaplan_params")


def plot_joint(fit, table, out) -> list[str]:
    """L(N, D) per model size: observed loss vs tokens (dots), the joint law (lines)."""
    n, _ = kaplan_params(table, fit.params_convention)
    fig, ax = new_figure()
    by_size = colours(n)
    d = np.geomspace(table["tokens"].min(), table["tokens"].max(), 100)
    for size, colour in by_size.items():
        sel = n == size
        ax.scatter(table["tokens"][sel], table["loss"][sel], color=colour, s=4)
        ax.plot(d, fit.predict(size, d), color=colour, lw=1, label=f"N = {size:.3g}")
    p = fit.joint.params
    title = (
        f"L(N, D) = [(N_c/N)^(α_N/α_D) + D_c/D]^α_D: α_N = {p['alpha_N']:.3f}, "
        f"α_D = {p['alpha_D']:.3f}, N_c = {p['N_c']:.2g}, D_c = {p['D_c']:.2g}"
    )
    ax.set(xscale="log", xlabel=TOKENS_LABEL)
    log_loss_axis(ax)
    ax.set_title(title, fontsize=8)
    ax.legend(fontsize=6, ncol=2, title=params_label(fit.params_convention), title_fontsize=6)
    return save(fig, out, "kaplan_joint")


def plot_kaplan(fit, table: dict, out, convention: str = "6N") -> list[str]:
    """All four Kaplan figures; returns the written paths."""
    paths = plot_compute(fit, table, out, convention)
    return (
        paths
        + plot_dataset(fit, table, out)
        + plot_params(fit, table, out)
        + plot_joint(fit, table, out)
    )
