"""Approaches 1 and 2 of Hoffmann et al. (2022): N*(C), D*(C) read off the data, then power laws.

Approach 1 takes the lower envelope of loss vs FLOPs over training curves; Approach 2 fits a
parabola to each IsoFLOP profile (loss vs log N, and vs log D) and takes its minimum. Both then fit
N* = k_N·C^a and D* = k_D·C^b by least squares in log space.
"""

from dataclasses import asdict, dataclass, field

import numpy as np

from llm_jax.scaling.bootstrap import percentile_intervals, resample_weights


@dataclass
class PowerLawFit:
    """Approach 1 or 2 result: N* = n_coef·C^a, D* = d_coef·C^b, and the optima it came from."""

    approach: int
    a: float
    b: float
    n_coef: float
    d_coef: float
    optima: list = field(default_factory=list)  # per budget / envelope point
    diagnostics: dict = field(default_factory=dict)
    ci: dict = field(default_factory=dict)

    def n_opt(self, flops):
        """Fitted compute-optimal parameters at C."""
        return self.n_coef * np.asarray(flops, dtype=np.float64) ** self.a

    def d_opt(self, flops):
        """Fitted compute-optimal tokens at C."""
        return self.d_coef * np.asarray(flops, dtype=np.float64) ** self.b

    def to_dict(self) -> dict:
        """JSON-ready."""
        return asdict(self)


def power_law(flops, values) -> tuple[float, float]:
    """Least-squares (coef, exponent) of values = coef·flops^exponent in log space."""
    exponent, log_coef = np.polyfit(np.log(flops), np.log(values), 1)
    return float(np.exp(log_coef)), float(exponent)


def isoflop_minimum(log_x, loss) -> dict:
    """Parabola in log x through one IsoFLOP profile: its minimum, and whether to trust it."""
    centre = log_x.mean()  # centred, so the quadratic fit is well conditioned
    c2, c1, c0 = np.polyfit(log_x - centre, loss, 2)
    vertex = centre - c1 / (2 * c2) if c2 > 0 else np.nan
    order = np.argsort(log_x)
    # The optimum may lie outside the grid when the lowest observed loss is at an end.
    edge = int(np.argmin(loss[order])) in (0, len(loss) - 1)
    outside = not (log_x.min() < vertex < log_x.max())
    problem = "not convex" if c2 <= 0 else "minimum at grid edge" if edge or outside else None
    value = c0 - c1 * c1 / (4 * c2) if c2 > 0 else np.nan
    return {"x_opt": float(np.exp(vertex)), "loss_opt": float(value), "problem": problem}


def _budget_optima(n_params, n_tokens, loss, labels, min_points) -> list[dict]:
    optima = []
    for c in np.unique(labels):
        sel = labels == c
        entry = {"flops": float(c), "n_points": int(sel.sum())}
        if len(np.unique(n_params[sel])) < min_points:
            problem = f"fewer than {min_points} model sizes"
            optima.append(entry | {"used": False, "problem": problem})
            continue
        by_n = isoflop_minimum(np.log(n_params[sel]), loss[sel])
        by_d = isoflop_minimum(np.log(n_tokens[sel]), loss[sel])
        problem = by_n["problem"] or by_d["problem"]
        entry |= {"n_opt": by_n["x_opt"], "d_opt": by_d["x_opt"], "loss_opt": by_n["loss_opt"]}
        optima.append(entry | {"used": problem is None, "problem": problem})
    return optima


def fit_approach2(n_params, n_tokens, loss, budgets, min_points: int = 3) -> PowerLawFit:
    """IsoFLOP parabolas per budget (label per row), edge/non-convex budgets flagged and dropped."""
    n_params, n_tokens, loss, budgets = (
        np.asarray(v, dtype=np.float64) for v in (n_params, n_tokens, loss, budgets)
    )
    optima = _budget_optima(n_params, n_tokens, loss, budgets, min_points)
    used = [o for o in optima if o["used"]]
    if len(used) < 2:
        rejected = [f"C={o['flops']:.3g}: {o['problem']}" for o in optima if not o["used"]]
        raise ValueError(
            f"Approach 2 needs at least 2 budgets with an interior minimum and >= {min_points} "
            f"points (its a comes from the optima across budgets); got {len(used)} of "
            f"{len(optima)} budget(s)" + (f" ({'; '.join(rejected)})" if rejected else "")
        )
    flops = np.array([o["flops"] for o in used])
    n_coef, a = power_law(flops, [o["n_opt"] for o in used])
    d_coef, b = power_law(flops, [o["d_opt"] for o in used])
    diagnostics = {"n_budgets": len(optima), "n_used": len(used), "a_plus_b": a + b}
    return PowerLawFit(2, a, b, n_coef, d_coef, optima, diagnostics)


def bootstrap_approach2(n_params, n_tokens, loss, budgets, n_resamples=200, seed=0, level=0.95):
    """Percentile intervals of every reported quantity (a, b, n_coef, d_coef, a_plus_b and each
    budget's n_opt, d_opt, loss_opt) from resampling points (runs) within each budget."""
    rng = np.random.default_rng(seed)
    arrays = [np.asarray(v, dtype=np.float64) for v in (n_params, n_tokens, loss, budgets)]
    groups = [np.flatnonzero(arrays[3] == c) for c in np.unique(arrays[3])]
    draws = []
    for _ in range(n_resamples):
        idx = np.concatenate([rng.choice(g, len(g)) for g in groups])
        try:
            fit = fit_approach2(*(v[idx] for v in arrays))
        except (ValueError, np.linalg.LinAlgError):
            continue  # a resample without two usable budgets has no estimate
        draws.append(_reported(fit))
    names = sorted({k for d in draws for k in d})
    columns = {k: [d.get(k, np.nan) for d in draws] for k in names}
    ci, _ = percentile_intervals(columns, level)
    return ci, {"n": n_resamples, "n_valid": len(draws), "level": level}


def _reported(fit: PowerLawFit) -> dict:
    """The numbers a fit reports, by name (per-budget optima only where that budget was used)."""
    out = {"a": fit.a, "b": fit.b, "n_coef": fit.n_coef, "d_coef": fit.d_coef}
    out["a_plus_b"] = fit.a + fit.b
    for o in fit.optima:
        if o.get("used"):
            for key in ("n_opt", "d_opt", "loss_opt"):
                out[f"{key}@C={o['flops']:.3g}"] = o[key]
    return out


def envelope(flops, loss, n_params, n_tokens, runs, n_grid: int = 1500) -> dict:
    """Lower envelope over training curves at n_grid log-spaced FLOPs (the paper's 1500)."""
    grid = np.geomspace(flops.min(), flops.max(), n_grid)
    best, coverage = np.full(n_grid, np.inf), np.zeros(n_grid, int)
    n_star, d_star = np.full(n_grid, np.nan), np.full(n_grid, np.nan)
    for run in np.unique(runs):
        sel = np.flatnonzero(runs == run)
        sel = sel[np.argsort(flops[sel])]
        inside = (grid >= flops[sel[0]]) & (grid <= flops[sel[-1]])
        coverage += inside
        log_c = np.log(grid[inside])
        curve = np.interp(log_c, np.log(flops[sel]), loss[sel])
        better = curve < best[inside]
        idx = np.flatnonzero(inside)[better]
        best[idx] = curve[better]
        n_star[idx] = n_params[sel[0]]
        d_star[idx] = np.exp(np.interp(log_c[better], np.log(flops[sel]), np.log(n_tokens[sel])))
    # Where a single run covers C its win is by default, not by comparison: leave those out.
    best[coverage < 2] = np.inf
    return {"flops": grid, "loss": best, "n_opt": n_star, "d_opt": d_star}


def fit_approach1(flops, loss, n_params, n_tokens, runs=None, n_grid: int = 1500) -> PowerLawFit:
    """Envelope of training curves (one per `runs` label, else per model size), then power laws."""
    flops, loss, n_params, n_tokens = (
        np.asarray(v, dtype=np.float64) for v in (flops, loss, n_params, n_tokens)
    )
    runs = np.asarray(n_params if runs is None else runs)
    if len(np.unique(n_params)) < 2:
        raise ValueError("Approach 1 needs training curves of at least 2 model sizes")
    env = envelope(flops, loss, n_params, n_tokens, runs, n_grid)
    ok = np.isfinite(env["loss"])
    if ok.sum() < 2:
        raise ValueError("Approach 1 needs training curves that overlap in FLOPs (two runs at C)")
    n_coef, a = power_law(env["flops"][ok], env["n_opt"][ok])
    d_coef, b = power_law(env["flops"][ok], env["d_opt"][ok])
    winners = np.unique(env["n_opt"][ok])
    diagnostics = {"n_runs": len(np.unique(runs)), "n_envelope_models": len(winners)}
    optima = [
        {"n_params": float(n), "share_of_grid": float(np.mean(env["n_opt"][ok] == n))}
        for n in winners
    ]
    return PowerLawFit(1, a, b, n_coef, d_coef, optima, diagnostics)


def run_resamples(runs, n_resamples: int, seed: int = 0) -> list[np.ndarray]:
    """Row masks of the runs drawn in each resample (runs with replacement; a lower envelope
    ignores repeats, so a mask is enough)."""
    weights = resample_weights(len(runs), n_resamples, groups=runs, seed=seed)
    return list(weights > 0)


def bootstrap_approach1(flops, loss, n_params, n_tokens, runs, n_resamples=200, seed=0, level=0.95):
    """Percentile intervals of a, b, n_coef, d_coef, a_plus_b from resampling curves (runs)."""
    arrays = [np.asarray(v, dtype=np.float64) for v in (flops, loss, n_params, n_tokens)]
    runs = np.asarray(runs)
    draws = []
    for rows in run_resamples(runs, n_resamples, seed):
        try:
            fit = fit_approach1(*(v[rows] for v in arrays), runs[rows])
        except (ValueError, np.linalg.LinAlgError):
            continue  # fewer than two model sizes, or no point covered by two runs
        draws.append(_reported(fit))
    columns = {k: [d[k] for d in draws] for k in ("a", "b", "n_coef", "d_coef", "a_plus_b")}
    ci, _ = percentile_intervals(columns, level)
    return ci, {"n": n_resamples, "n_valid": len(draws), "level": level}
