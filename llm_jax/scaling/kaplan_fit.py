"""Kaplan-form fits of a table of training curves: which rows each law sees, intervals over runs,
and the `kaplan` entry of fits.json.

Every part is bootstrapped from the same resamples of runs: row fits (L(N), the joint law) take
them as point weights, envelope fits (L(D), L(C), N_opt) rebuild the envelope of each resample.
"""

from dataclasses import dataclass, field

import numpy as np

from llm_jax.scaling.approach12 import envelope
from llm_jax.scaling.bootstrap import percentile_intervals, resample_weights
from llm_jax.scaling.kaplan import (
    allocation,
    bootstrap_rows,
    fit_envelope,
    fit_joint,
    fit_power,
    implied_frontier,
    joint_loss,
)
from llm_jax.scaling.lawfit import LawFit
from llm_jax.scaling.table import RunTableError

MIN_SIZES = 3  # L(N) has two parameters: a third size is the first check of the form
LIMIT_EXCESS_TOL = 0.01  # warn when the "limit" points sit this far above the law's limit
PARAMS_CONVENTIONS = {"total": "params", "nonembed": "params_nonembed"}
# Envelope grid: the envelopes are smooth, and 500 points fit the same laws as Approach 1's 1500
# (to 3 digits on synthetic curves) at half the bootstrap cost.
ENVELOPE_GRID = 500


@dataclass
class KaplanFit:
    """The four Kaplan fits of one table, in one parameter convention."""

    l_n: LawFit
    l_d: LawFit
    joint: LawFit
    l_c: LawFit
    allocation: dict  # a, b, n_coef, d_coef, ci, diagnostics
    params_convention: str  # "total" or "nonembed"
    warnings: list = field(default_factory=list)
    envelopes: dict = field(default_factory=dict, repr=False)  # tokens, flops, frontier: plots

    @property
    def converged(self) -> bool:
        """Every loss law converged and the frontier has at least two winning sizes."""
        fits = (self.l_n, self.l_d, self.joint, self.l_c)
        return all(f.converged for f in fits) and not self.allocation["diagnostics"]["problems"]

    def predict(self, n_params, n_tokens):
        """The joint law's loss at (N, D)."""
        return joint_loss(self.joint.params, np.asarray(n_params), np.asarray(n_tokens))

    def to_dict(self) -> dict:
        """JSON-ready: joint law and frontier at the top, each fit's details beneath."""
        alloc = {k: self.allocation[k] for k in ("a", "b", "n_coef", "d_coef")}
        out = {**self.joint.params, **self.l_c.params, **alloc}
        out["converged"] = self.converged
        out["params_convention"] = self.params_convention
        out["ci"] = {**self.joint.ci, **self.l_c.ci, **self.allocation["ci"]}
        out["L_N"], out["L_D"] = self.l_n.to_dict(), self.l_d.to_dict()
        for name, fit in (("joint", self.joint), ("frontier", self.l_c)):
            out[name] = {k: getattr(fit, k) for k in ("converged", "diagnostics", "bootstrap")}
        out["frontier"]["allocation"] = self.allocation["diagnostics"]
        out["implied_by_joint"] = implied_frontier(self.joint.params)
        return out


def kaplan_params(table: dict, convention: str = "auto") -> tuple[np.ndarray, str]:
    """N in the chosen convention; "auto" is Kaplan's non-embedding count when the table has it."""
    if convention == "auto":
        convention = "nonembed" if "params_nonembed" in table else "total"
    if convention not in PARAMS_CONVENTIONS:
        raise ValueError(f"params convention must be auto, total or nonembed, got {convention!r}")
    column = PARAMS_CONVENTIONS[convention]
    if column not in table:
        raise RunTableError(f"Kaplan fits in the {convention} convention need a column {column!r}")
    return table[column], convention


def most_trained_rows(n_params, n_tokens) -> np.ndarray:
    """Index of each model size's row with the most tokens (its most nearly converged point)."""
    rows = [np.flatnonzero(n_params == size) for size in np.unique(n_params)]
    return np.array([r[np.argmax(n_tokens[r])] for r in rows])


def lower_envelopes(x, table: dict, n_params, masks, n_grid) -> dict:
    """The lower envelope of loss vs x over each mask's runs, stacked (R, n_grid)."""
    loss, tokens, runs = table["loss"], table["tokens"], table["run"]
    envs = [envelope(x[m], loss[m], n_params[m], tokens[m], runs[m], n_grid) for m in masks]
    return {k: np.stack([e[k] for e in envs]) for k in envs[0]}


def fit_kaplan(
    table: dict,
    n_bootstrap: int = 0,
    seed: int = 0,
    params: str = "auto",
    n_grid: int = ENVELOPE_GRID,
) -> KaplanFit:
    """All four Kaplan fits of a curve table (columns run, tokens, flops, loss, params)."""
    n, convention = kaplan_params(table, params)
    d, loss = table["tokens"], table["loss"]
    if len(np.unique(n)) < MIN_SIZES:
        raise RunTableError(
            f"Kaplan fits need training curves of at least {MIN_SIZES} model sizes, "
            f"got {len(np.unique(n))}"
        )
    # Row 0 of masks is the full table, the rest the runs drawn by each resample.
    weights = np.zeros((0, len(loss)))
    if n_bootstrap:
        weights = resample_weights(len(loss), n_bootstrap, table["run"], seed)
    masks = np.vstack([np.ones(len(loss), bool), weights > 0])
    by_tokens = lower_envelopes(d, table, n, masks, n_grid)
    by_flops = lower_envelopes(table["flops"], table, n, masks, n_grid)
    for name, env in (("tokens", by_tokens), ("FLOPs", by_flops)):
        if np.isfinite(env["loss"][0]).sum() < 3:
            raise RunTableError(f"Kaplan's envelopes need curves that overlap in {name}")
    top = most_trained_rows(n, d)
    l_n, law_n, data_n = fit_power(n[top], loss[top], "alpha_N", "N_c")
    joint, law_j, data_j = fit_joint(n, d, loss)
    if n_bootstrap:
        sizes_drawn = np.array([len(np.unique(n[m])) for m in masks[1:]])
        bootstrap_rows(l_n, law_n, data_n, loss[top], weights[:, top], sizes_drawn >= MIN_SIZES)
        bootstrap_rows(joint, law_j, data_j, loss, weights, sizes_drawn >= 2)
    frontier = interior(by_flops, n, masks)
    if np.isfinite(frontier["loss"][0]).sum() < 3:
        raise RunTableError("Kaplan's frontier needs sizes between the smallest and largest")
    l_d, _ = fit_envelope(by_tokens, "alpha_D", "D_c")
    l_c, _ = fit_envelope(frontier, "alpha_C", "C_c")
    fit = KaplanFit(l_n, l_d, joint, l_c, _allocation(frontier), convention)
    fit.envelopes = {k: _row(v, 0) for k, v in (("tokens", by_tokens), ("flops", by_flops))}
    fit.envelopes["frontier"] = _row(frontier, 0)
    fit.warnings = _limit_checks(fit, n[top], d[top])
    return fit


def interior(env: dict, n_params, masks) -> dict:
    """The envelope without the points won by the smallest or largest size of each resample:
    there the best size may lie outside those trained (Approach 2 drops such IsoFLOP minima too),
    and keeping them flattens N_opt(C) at both ends."""
    low = np.array([n_params[m].min() for m in masks])[:, None]
    high = np.array([n_params[m].max() for m in masks])[:, None]
    edge = (env["n_opt"] == low) | (env["n_opt"] == high)
    return env | {"loss": np.where(edge, np.inf, env["loss"])}


def _row(arrays: dict, i: int) -> dict:
    return {k: v[i] for k, v in arrays.items()}


def _allocation(by_flops: dict) -> dict:
    """N_opt, D_opt power laws on the full envelope (row 0), intervals from the resampled rows;
    n_envelope_models counts the interior sizes that win somewhere."""
    draws = allocation(by_flops)
    out = {k: float(v[0]) for k, v in draws.items()}
    out["ci"], _ = percentile_intervals({k: v[1:] for k, v in draws.items()})
    winners = np.unique(by_flops["n_opt"][0][np.isfinite(by_flops["loss"][0])])
    problems = [] if len(winners) >= 2 else ["the envelope has one interior winning size"]
    out["diagnostics"] = {"n_envelope_models": len(winners), "problems": problems}
    return out


def _limit_checks(fit: KaplanFit, n_top, d_top) -> list[str]:
    """How far above the joint law's limits the "limit" points sit: L(N) assumes D → ∞ (each
    size's most-trained row), L(D) assumes N → ∞ (the token envelope's winners)."""
    p = fit.joint.params
    env = fit.envelopes["tokens"]
    ok = np.isfinite(env["loss"])
    n_env, d_env = env["n_opt"][ok], env["flops"][ok]
    checks = (
        (fit.l_n, "L(N)", "D", fit.predict(n_top, d_top) / (p["N_c"] / n_top) ** p["alpha_N"]),
        (fit.l_d, "L(D)", "N", fit.predict(n_env, d_env) / (p["D_c"] / d_env) ** p["alpha_D"]),
    )
    warnings = []
    for part, name, limit, ratio in checks:
        worst = float(np.max(ratio) - 1)
        part.diagnostics["limit_excess_max"] = worst
        if worst > LIMIT_EXCESS_TOL:
            warnings.append(
                f"kaplan {name}: its points sit up to {worst:.1%} above the joint law's "
                f"{limit} → ∞ limit, so its exponent is biased; the joint fit's is not"
            )
    return warnings
