"""Approach 3 of Hoffmann et al. (2022): fit L(N, D) = E + A/N^alpha + B/D^beta directly.

As in the paper: log-sum-exp form, Huber loss (delta = 1e-3) on log loss, L-BFGS from a grid of
initialisations, best start kept. Unlike the paper's published fit, the objective is *summed and
scaled* so the optimiser's relative-decrease test cannot stop it early (Besiroglu et al. 2024), and
convergence is judged by the gradient and by agreement of the best starts, never by scipy's flag.
"""

from dataclasses import asdict, dataclass, field

import numpy as np
from scipy.optimize import minimize

from llm_jax.scaling import objective as obj
from llm_jax.scaling.lbfgs import minimize_batch

DELTA = 1e-3  # Huber threshold on log loss (the paper's)
SCALE = 1e6  # multiplies the summed objective so the optimiser's tolerances bite
GRAD_REL_TOL = 1e-6  # converged: max |∂ mean objective| / delta below this
AGREE_TOL = 1e-3  # converged: the best starts agree on alpha and beta to this
HOFFMANN = {"E": 1.69, "A": 406.4, "B": 410.7, "alpha": 0.34, "beta": 0.28}


@dataclass
class Approach3Fit:
    """Fitted law, closed-form allocation, convergence diagnostics and (optional) bootstrap."""

    E: float
    A: float
    B: float
    alpha: float
    beta: float
    converged: bool
    diagnostics: dict = field(default_factory=dict)
    ci: dict = field(default_factory=dict)  # name → [low, high] when bootstrapped
    bootstrap: dict = field(default_factory=dict)  # n, level, se, warnings
    outliers: list = field(default_factory=list)  # points off the surface (outliers.py)
    samples: dict | None = field(default=None, repr=False)  # bootstrap draws; not serialised

    @property
    def a(self) -> float:
        """Exponent of N_opt ∝ C^a."""
        return self.beta / (self.alpha + self.beta)

    @property
    def b(self) -> float:
        """Exponent of D_opt ∝ C^b."""
        return self.alpha / (self.alpha + self.beta)

    @property
    def G(self) -> float:
        """Prefactor of N_opt(C) = G·(C/6)^a."""
        return (self.alpha * self.A / (self.beta * self.B)) ** (1.0 / (self.alpha + self.beta))

    def predict(self, n_params, n_tokens):
        """Predicted loss at (N, D)."""
        return law_loss(self.params(), np.asarray(n_params), np.asarray(n_tokens))

    def optimal_allocation(self, flops):
        """(N_opt, D_opt) minimising the law under C = 6·N·D."""
        return optimal_allocation(self.params(), flops)

    def tokens_per_param(self, flops):
        """D_opt / N_opt at compute C."""
        n_opt, d_opt = self.optimal_allocation(flops)
        return d_opt / n_opt

    def params(self) -> dict:
        """The five law parameters."""
        return {k: getattr(self, k) for k in ("E", "A", "B", "alpha", "beta")}

    def to_dict(self) -> dict:
        """JSON-ready: parameters, derived exponents, diagnostics, intervals."""
        out = asdict(self)
        out.pop("samples")
        out.update(a=self.a, b=self.b, G=self.G)
        return out


def law_loss(params: dict, n_params, n_tokens):
    """E + A/N^alpha + B/D^beta; parameters may be arrays (bootstrap draws)."""
    alpha, beta = params["alpha"], params["beta"]
    return params["E"] + params["A"] / n_params**alpha + params["B"] / n_tokens**beta


def optimal_allocation(params: dict, flops):
    """Closed form: N_opt = G·(C/6)^a, D_opt = (C/6)/N_opt."""
    alpha, beta = params["alpha"], params["beta"]
    g = (alpha * params["A"] / (beta * params["B"])) ** (1.0 / (alpha + beta))
    c6 = np.asarray(flops, dtype=np.float64) / 6.0
    n_opt = g * c6 ** (beta / (alpha + beta))
    return n_opt, c6 / n_opt


def exponent_a(params: dict) -> float:
    """a = beta / (alpha + beta) for a parameter dict."""
    return params["beta"] / (params["alpha"] + params["beta"])


def _starts(init) -> np.ndarray:
    if init is None:
        return obj.paper_grid()
    if isinstance(init, dict):
        return obj.from_params(**init)[None]
    return np.atleast_2d(np.asarray(init, dtype=np.float64))  # rows of (a, b, e, alpha, beta)


def _polish(x0, data, scale, tight: bool):
    """scipy L-BFGS-B from x0; tight tolerances for the summed objective, defaults otherwise."""
    fun = lambda x: obj.value_and_grad(x, *data, DELTA, scale)
    options = {"gtol": 1e-9, "ftol": 1e-15, "maxiter": 20000, "maxfun": 40000} if tight else {}
    return minimize(fun, x0, jac=True, method="L-BFGS-B", options=options)


def start_agreement(xs, fs, f_best, columns=(3, 4)) -> tuple[int, float]:
    """How many starts reached the best objective, and their spread in the exponent columns
    (alpha and beta of x = (a, b, e, alpha, beta) by default)."""
    near = fs <= f_best + 1e-9 * max(abs(f_best), 1.0)
    spread = float(np.ptp(xs[near][:, list(columns)], axis=0).max()) if near.sum() > 1 else 0.0
    return int(near.sum()), spread


def fit_approach3(n_params, n_tokens, loss, init=None, objective: str = "sum") -> Approach3Fit:
    """Fit the law. init: None (paper grid), a parameter dict, or rows of (a, b, e, alpha, beta).

    objective="sum" is the recommended summed×1e6 objective with tight tolerances; "mean" is the
    paper's mean objective at scipy's default tolerances, kept to show (and flag) early stopping.
    """
    n_params, n_tokens, loss = (np.asarray(v, dtype=np.float64) for v in (n_params, n_tokens, loss))
    data = (np.log(n_params), np.log(n_tokens), np.log(loss))
    starts = _starts(init)
    if objective == "mean":
        results = [_polish(x0, data, 1.0 / len(loss), tight=False) for x0 in starts]
        xs = np.array([r.x for r in results])
        fs = np.array([obj.value_and_grad(x, *data, DELTA, SCALE)[0] for x in xs])
        best, batch_iter = results[int(np.argmin(fs))], 0
    elif objective == "sum":
        batch = minimize_batch(
            lambda x, rows: obj.value_and_grad(x, *data, DELTA, SCALE), starts, gtol=1e-4
        )
        xs, fs = batch.x, batch.f
        i_best = int(np.argmin(fs))
        best, batch_iter = _polish(xs[i_best], data, SCALE, tight=True), int(batch.n_iter[i_best])
        xs, fs = np.vstack([xs, best.x]), np.append(fs, best.fun)
    else:
        raise ValueError(f"objective must be 'sum' or 'mean', got {objective!r}")
    return _result(best, xs, fs, data, len(starts), batch_iter, objective)


def _result(best, xs, fs, data, n_starts, batch_iter, objective) -> Approach3Fit:
    f_best, grad = obj.value_and_grad(best.x, *data, DELTA, SCALE)
    grad_rel = float(np.abs(grad).max() / (len(data[0]) * DELTA * SCALE))
    n_at_best, spread = start_agreement(xs, fs, min(f_best, fs.min()))
    params = obj.to_params(best.x)
    problems = [f"{k} = {v} is not finite" for k, v in params.items() if not np.isfinite(v)]
    if grad_rel > GRAD_REL_TOL:
        problems.append(f"gradient not small: max|grad|/delta = {grad_rel:.2e} > {GRAD_REL_TOL}")
    if n_starts > 1 and n_at_best < 2:
        problems.append("only one start reached the best objective")
    if spread > AGREE_TOL:
        problems.append(f"best starts disagree on alpha/beta by {spread:.2e}")
    diagnostics = {
        "objective": objective,
        "n_points": len(data[0]),
        "n_starts": n_starts,
        "huber_delta": DELTA,
        "objective_value": float(f_best / SCALE),  # summed Huber loss, unscaled
        "grad_max": float(np.abs(grad).max()),
        "grad_rel": grad_rel,
        "iterations": int(best.nit) + batch_iter,
        "starts_at_best": n_at_best,
        "best_starts_spread": spread,
        "scipy_success": bool(best.success),  # recorded, not trusted: see the module docstring
        "scipy_message": str(best.message),
        "problems": problems,
        "x": [float(v) for v in best.x],  # (log A, log B, log E, alpha, beta): finite when A is not
    }
    return Approach3Fit(**params, converged=not problems, diagnostics=diagnostics)
