"""Bootstrap over runs for Approach 3: percentile intervals for parameters and derived quantities.

All resamples are refitted together by the batched L-BFGS (resamples are point weights), each
warm-started from the full-data optimum. That is safe only because the objective is summed and
scaled with tight tolerances; with the mean objective the refits barely move and the intervals
come out absurdly narrow (the Chinchilla paper's pitfall), which the narrow-interval check catches.
"""

import numpy as np

from llm_jax.scaling import objective as obj
from llm_jax.scaling.approach3 import DELTA, SCALE, Approach3Fit, law_loss, optimal_allocation
from llm_jax.scaling.lbfgs import minimize_batch

STUCK_TOL = 1e-9  # a refit that moved less than this from its warm start did not refit
NARROW_RATIO = 0.25  # warn when a bootstrap SE is below this fraction of the asymptotic SE


def resample_weights(n_points: int, n_resamples: int, groups=None, seed: int = 0) -> np.ndarray:
    """(R, P) multiplicities: resample whole groups (runs) with replacement, or points if None."""
    rng = np.random.default_rng(seed)
    if groups is None:
        groups = np.arange(n_points)
    labels, group_of = np.unique(np.asarray(groups), return_inverse=True)
    picks = rng.integers(0, len(labels), size=(n_resamples, len(labels)))
    counts = np.stack([np.bincount(p, minlength=len(labels)) for p in picks])
    return counts[:, group_of].astype(np.float64)


def derived(params: dict, at_flops=(), at_points=()) -> dict:
    """Parameters plus a, b, G, tokens/param at each C and loss at each (N, D); arrays broadcast."""
    alpha, beta = params["alpha"], params["beta"]
    out = dict(params)
    out["a"], out["b"] = beta / (alpha + beta), alpha / (alpha + beta)
    out["G"] = (alpha * params["A"] / (beta * params["B"])) ** (1.0 / (alpha + beta))
    for c in at_flops:
        n_opt, d_opt = optimal_allocation(params, c)
        out[f"tokens_per_param@C={c:.3g}"] = d_opt / n_opt
        out[f"N_opt@C={c:.3g}"] = n_opt
        out[f"L_opt@C={c:.3g}"] = law_loss(params, n_opt, d_opt)
    for n, d in at_points:
        out[f"loss@N={n:.3g},D={d:.3g}"] = law_loss(params, n, d)
    return out


def asymptotic_se(x, log_n, log_d, log_loss) -> np.ndarray:
    """Gauss–Newton standard errors of (a, b, e, alpha, beta): a yardstick, not an interval."""
    eps = 1e-6
    base = obj.predict_log_loss(x, log_n, log_d)
    jac = np.stack(
        [
            (obj.predict_log_loss(x + eps * np.eye(5)[i], log_n, log_d) - base) / eps
            for i in range(5)
        ],
        axis=1,
    )
    dof = max(len(log_loss) - 5, 1)
    sigma2 = float(np.sum((base - log_loss) ** 2) / dof)
    cov = sigma2 * np.linalg.pinv(jac.T @ jac)
    return np.sqrt(np.clip(np.diag(cov), 0.0, None))


def bootstrap_approach3(
    fit: Approach3Fit,
    n_params,
    n_tokens,
    loss,
    n_resamples=1000,
    groups=None,
    seed=0,
    level=0.95,
    at_flops=(),
    at_points=(),
) -> dict:
    """Refit on resampled runs; returns n, level, ci (name → [low, high]), se, warnings."""
    data = tuple(np.log(np.asarray(v, dtype=np.float64)) for v in (n_params, n_tokens, loss))
    weights = resample_weights(len(data[0]), n_resamples, groups, seed)
    x_full = obj.from_params(**fit.params())

    def fun(x, rows):
        return obj.value_and_grad(x, *data, DELTA, SCALE, weights=weights[rows])

    batch = minimize_batch(fun, np.tile(x_full, (n_resamples, 1)), gtol=1e-4, max_iter=2000)
    samples = [obj.to_params(x) for x in batch.x]
    table = {k: np.array([s[k] for s in samples]) for k in samples[0]}
    table = derived(table, at_flops, at_points)
    ci, se = percentile_intervals(table, level)
    stuck = float(np.mean(np.abs(batch.x - x_full).max(axis=1) < STUCK_TOL))
    warnings = _narrow_warnings(se, stuck, asymptotic_se(x_full, *data))
    return {
        "n": n_resamples,
        "level": level,
        "ci": ci,
        "se": se,
        "stuck_fraction": stuck,
        "warnings": warnings,
        "samples": {k: table[k] for k in samples[0]},
    }


def percentile_intervals(draws: dict, level: float = 0.95) -> tuple[dict, dict]:
    """Percentile intervals (name → [low, high]) and standard errors of bootstrap draws; NaN
    draws (resamples where a quantity is undefined) are left out."""
    tail = 100 * (1 - level) / 2
    ci, se = {}, {}
    for name, values in draws.items():
        values = np.asarray(values, dtype=np.float64)
        if np.isnan(values).all():
            continue
        ci[name] = [float(v) for v in np.nanpercentile(values, [tail, 100 - tail])]
        se[name] = float(np.nanstd(values, ddof=1)) if values.size > 1 else float("nan")
    return ci, se


def _narrow_warnings(se: dict, stuck: float, se_asym: np.ndarray) -> list[str]:
    """narrow_warnings for Approach 3's exponents (se_asym is over (a, b, e, alpha, beta))."""
    return narrow_warnings(se, stuck, {"alpha": se_asym[3], "beta": se_asym[4]})


def narrow_warnings(se: dict, stuck: float, se_asym: dict) -> list[str]:
    """Intervals implausibly narrow for the number of runs: refits that never moved, or SEs far
    below the Gauss–Newton yardstick (name → asymptotic SE)."""
    warnings = []
    if stuck > 0.05:
        warnings.append(f"{stuck:.0%} of bootstrap refits never left the warm start")
    for name, asym in se_asym.items():
        if se[name] < NARROW_RATIO * asym:
            warnings.append(
                f"bootstrap SE of {name} ({se[name]:.2g}) is implausibly narrow: below "
                f"{NARROW_RATIO} x the asymptotic SE ({asym:.2g}) for this many runs"
            )
    return warnings


def attach(fit: Approach3Fit, boot: dict) -> Approach3Fit:
    """Store the bootstrap's intervals on the fit (ci) and the rest under fit.bootstrap."""
    fit.ci = boot["ci"]
    # Raw samples stay out of the JSON; plots read them from fit.samples.
    fit.bootstrap = {k: v for k, v in boot.items() if k not in ("ci", "samples")}
    fit.samples = boot["samples"]
    return fit
