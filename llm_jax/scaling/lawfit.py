"""Fit any law of log loss the way Approach 3 fits its own, and bootstrap it over runs.

Same objective (Huber, delta 1e-3, on log loss, summed and scaled), same batched L-BFGS from many
starts with the best one polished, same verdict: converged only when the gradient is small and the
best starts agree on the exponents, never on an optimiser's flag. Bootstrap refits all run in one
batch, warm-started from the full-data optimum, each resample a set of point weights (and, for
envelope fits, its own data rows).

A law is `log_loss_and_jac(x, *data) -> (y, J)`: log-loss predictions y (K, P) and their Jacobian
J (K, P, k) for parameter rows x (K, k), data arrays (P,) shared or (K, P) per row.
"""

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from llm_jax.scaling import objective as obj
from llm_jax.scaling.approach3 import AGREE_TOL, DELTA, GRAD_REL_TOL, SCALE, start_agreement
from llm_jax.scaling.bootstrap import STUCK_TOL, narrow_warnings, percentile_intervals
from llm_jax.scaling.lbfgs import minimize_batch


@dataclass(frozen=True)
class Law:
    """A law: predictions with Jacobian, x rows → named parameters, exponent name → column."""

    log_loss_and_jac: Callable
    named: Callable
    exponents: dict


@dataclass
class LawFit:
    """Named parameters, internal x, convergence verdict and diagnostics, optional intervals."""

    params: dict
    x: np.ndarray
    converged: bool
    diagnostics: dict = field(default_factory=dict)
    ci: dict = field(default_factory=dict)  # name → [low, high] when bootstrapped
    bootstrap: dict = field(default_factory=dict)  # n, n_valid, level, se, warnings
    samples: dict | None = field(default=None, repr=False)  # bootstrap draws; not serialised

    def to_dict(self) -> dict:
        """JSON-ready."""
        out = dict(self.params)
        out.update(converged=self.converged, diagnostics=self.diagnostics, ci=self.ci)
        out["bootstrap"] = self.bootstrap
        return out


def _rows(value, rows):
    """A per-row array's rows; shared (1-D) arrays and None as they are."""
    return value if value is None or np.ndim(value) < 2 else value[rows]


def objective(law: Law, data: tuple, log_loss, weights=None) -> Callable:
    """fun(x_rows, row_index) → (f, g) of the summed, scaled Huber objective, for minimize_batch."""

    def fun(x, rows):
        y, jac = law.log_loss_and_jac(x, *(_rows(v, rows) for v in data))
        residual = y - _rows(log_loss, rows)
        return obj.huber_objective(residual, jac, DELTA, SCALE, _rows(weights, rows))

    return fun


def fit_law(law: Law, data: tuple, log_loss, starts) -> LawFit:
    """Multi-start fit on shared data (arrays (P,)); the best start polished to tight tolerances."""
    data = tuple(np.asarray(v, dtype=np.float64) for v in data)
    log_loss = np.asarray(log_loss, dtype=np.float64)
    fun = objective(law, data, log_loss)
    with np.errstate(all="ignore"):  # grid starts may overflow; the line search rejects those
        batch = minimize_batch(fun, np.atleast_2d(starts), gtol=1e-4)
        i_best = int(np.argmin(batch.f))
        # No stall rule here: near an exact fit the objective is ~0 and every step is "small".
        polish = minimize_batch(
            fun, batch.x[i_best : i_best + 1], gtol=1e-9, ftol=1e-15, max_iter=20000, stall_tol=0
        )
    xs, fs = np.vstack([batch.x, polish.x]), np.append(batch.f, polish.f)
    x = polish.x[0]
    f_best, grad = fun(x[None], None)
    grad_rel = float(np.abs(grad).max() / (len(log_loss) * DELTA * SCALE))
    n_at_best, spread = start_agreement(xs, fs, min(f_best[0], fs.min()), law.exponents.values())
    with np.errstate(over="ignore"):  # V_c = exp(ref + k/alpha) overflows when alpha → 0
        params = {k: float(v) for k, v in law.named(x).items()}
    problems = [] if np.isfinite(list(params.values())).all() else ["a parameter overflowed"]
    if grad_rel > GRAD_REL_TOL:
        problems.append(f"gradient not small: max|grad|/delta = {grad_rel:.2e} > {GRAD_REL_TOL}")
    if len(xs) > 2 and n_at_best < 2:
        problems.append("only one start reached the best objective")
    if spread > AGREE_TOL:
        problems.append(f"best starts disagree on the exponents by {spread:.2e}")
    if any(params[name] <= 0 for name in law.exponents):
        problems.append("an exponent is not positive")
    diagnostics = {
        "n_points": len(log_loss),
        "n_starts": len(batch.x),
        "huber_delta": DELTA,
        "objective_value": float(f_best[0] / SCALE),  # summed Huber loss, unscaled
        "grad_rel": grad_rel,
        "iterations": int(batch.n_iter[i_best] + polish.n_iter[0]),
        "starts_at_best": n_at_best,
        "best_starts_spread": spread,
        "problems": problems,
    }
    return LawFit(params, x, not problems, diagnostics)


def asymptotic_se(law: Law, x, data: tuple, log_loss) -> dict:
    """Gauss–Newton standard errors of the exponents: a yardstick for the bootstrap's, not an
    interval (it assumes independent points, so only for fits on raw rows)."""
    base, jac = law.log_loss_and_jac(np.asarray(x)[None], *data)
    jac = jac[0]
    dof = max(len(log_loss) - jac.shape[1], 1)
    sigma2 = float(np.sum((base[0] - log_loss) ** 2) / dof)
    cov = sigma2 * np.linalg.pinv(jac.T @ jac)
    se = np.sqrt(np.clip(np.diag(cov), 0.0, None))
    return {name: float(se[col]) for name, col in law.exponents.items()}


def bootstrap_law(
    fit: LawFit, law: Law, data: tuple, log_loss, weights, valid=None, level=0.95, se_asym=None
) -> LawFit:
    """Refit with each row of `weights` (R, P) (resampled runs), data shared (P,) or per resample
    (R, P); resamples not `valid` count as undefined. Stores ci, bootstrap and samples on `fit`."""
    n_resamples = len(weights)
    valid = np.ones(n_resamples, bool) if valid is None else np.asarray(valid, bool)
    fun = objective(law, data, log_loss, weights)
    with np.errstate(all="ignore"):  # refits of degenerate resamples may overflow
        batch = minimize_batch(fun, np.tile(fit.x, (n_resamples, 1)), gtol=1e-4, max_iter=2000)
        xs = np.where(valid[:, None], batch.x, np.nan)
        draws = law.named(xs)
    ci, se = percentile_intervals(draws, level)
    stuck = float(np.mean(np.abs(batch.x[valid] - fit.x).max(axis=1) < STUCK_TOL))
    fit.ci = ci
    fit.bootstrap = {
        "n": n_resamples,
        "n_valid": int(valid.sum()),
        "level": level,
        "se": se,
        "stuck_fraction": stuck,
        "warnings": narrow_warnings(se, stuck, se_asym or {}),
    }
    fit.samples = draws
    return fit
