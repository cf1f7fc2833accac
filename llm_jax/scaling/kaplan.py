"""Kaplan et al. (2020) scaling laws, fitted from training curves beside Chinchilla's approaches.

- L(N) = (N_c/N)^alpha_N on each model size's most-trained row (its longest run's last point);
- L(D) = (D_c/D)^alpha_D on the lower envelope of loss vs tokens over all curves (the best loss
  any model reached with D tokens, i.e. the least parameter-limited);
- L(N, D) = [(N_c/N)^(alpha_N/alpha_D) + D_c/D]^alpha_D on every row of every curve;
- the compute-efficient frontier: the lower envelope of loss vs compute (Approach 1's envelope),
  L(C) = (C_c/C)^alpha_C fitted to it, and N_opt = n_coef·C^a, D_opt = d_coef·C^b by least squares
  on the envelope's winners, as Approach 1 does.

Loss laws use Approach 3's objective (lawfit.py) in log space: log L = k − alpha·(log v − ref),
ref the data's mean log v (for conditioning), so V_c = exp(ref + k/alpha); the joint law is then
log L = alpha_D·LSE(log L_N/alpha_D, log L_D/alpha_D), a smooth maximum of the two single laws.
"""

import numpy as np

from llm_jax.scaling.approach12 import power_law
from llm_jax.scaling.lawfit import Law, LawFit, asymptotic_se, bootstrap_law, fit_law

EXPONENT_STARTS = (0.03, 0.1, 0.3, 1.0)
OFFSET_STARTS = (-1.0, -0.3, 0.0)  # k below the smallest log loss: the single laws bound L below


def single_law(ref: float, exponent: str, scale: str) -> Law:
    """L = (V_c/v)^alpha as log L = k − alpha·(log v − ref); x = (k, alpha)."""

    def log_loss_and_jac(x, log_v):
        centred = log_v - ref
        y = x[:, :1] - x[:, 1:2] * centred
        jac = np.stack([np.ones_like(y), -np.broadcast_to(centred, y.shape)], axis=-1)
        return y, jac

    def named(x):
        x = np.asarray(x)
        return {exponent: x[..., 1], scale: np.exp(ref + x[..., 0] / x[..., 1])}

    return Law(log_loss_and_jac, named, {exponent: 1})


def joint_law(ref_n: float, ref_d: float) -> Law:
    """Kaplan's L(N, D); x = (k_N, alpha_N, k_D, alpha_D), k the single laws' log L at the refs."""

    def log_loss_and_jac(x, log_n, log_d):
        k_n, a_n, k_d, a_d = (x[:, i : i + 1] for i in range(4))
        ln, ld = log_n - ref_n, log_d - ref_d
        u_n, u_d = k_n - a_n * ln, k_d - a_d * ld
        s = np.logaddexp(u_n / a_d, u_d / a_d)
        p_n, p_d = np.exp(u_n / a_d - s), np.exp(u_d / a_d - s)  # softmax weights of the two laws
        dy_da_d = s - (p_n * u_n + p_d * k_d) / a_d
        jac = np.stack([p_n, -p_n * ln, p_d, dy_da_d], axis=-1)
        return a_d * s, jac

    def named(x):
        x = np.asarray(x)
        return {
            "alpha_N": x[..., 1],
            "N_c": np.exp(ref_n + x[..., 0] / x[..., 1]),
            "alpha_D": x[..., 3],
            "D_c": np.exp(ref_d + x[..., 2] / x[..., 3]),
        }

    return Law(log_loss_and_jac, named, {"alpha_N": 1, "alpha_D": 3})


def power_starts(log_loss) -> np.ndarray:
    """A few (k, alpha) starts; the Huber objective of a power law in log space is convex."""
    return np.array([[np.median(log_loss), a] for a in EXPONENT_STARTS[1:]])


def joint_starts(log_loss) -> np.ndarray:
    """Grid of (k_N, alpha_N, k_D, alpha_D): 144 starts."""
    ks = np.min(log_loss) + np.array(OFFSET_STARTS)
    grid = np.meshgrid(ks, EXPONENT_STARTS, ks, EXPONENT_STARTS, indexing="ij")
    return np.stack(grid, axis=-1).reshape(-1, 4)


def joint_loss(p: dict, n_params, n_tokens):
    """[(N_c/N)^(alpha_N/alpha_D) + D_c/D]^alpha_D."""
    ratio = p["alpha_N"] / p["alpha_D"]
    return ((p["N_c"] / n_params) ** ratio + p["D_c"] / n_tokens) ** p["alpha_D"]


def implied_frontier(p: dict) -> dict:
    """The joint law's own compute frontier under C = 6ND, in closed form: with r = alpha_N /
    alpha_D, N_opt = (r·N_c^r·C / (6·D_c))^(1/(1+r)) and L(N_opt) = (C_c/C)^alpha_C."""
    a_n, a_d, n_c, d_c = p["alpha_N"], p["alpha_D"], p["N_c"], p["D_c"]
    r = a_n / a_d
    log_c_c = np.log(6 * n_c * d_c) + np.log(r) / r + (1 + r) / r * np.log1p(1 / r)
    log_n_coef = (np.log(r) + r * np.log(n_c) - np.log(6 * d_c)) / (1 + r)
    return {
        "alpha_C": a_n * a_d / (a_n + a_d),
        "C_c": float(np.exp(log_c_c)),
        "a": a_d / (a_n + a_d),
        "n_coef": float(np.exp(log_n_coef)),
    }


def fit_power(v, loss, exponent: str, scale: str) -> tuple[LawFit, Law, tuple]:
    """L = (V_c/v)^alpha on points (v, loss); returns the fit, its law and its log data."""
    log_v, log_loss = np.log(v), np.log(loss)
    law = single_law(float(np.mean(log_v)), exponent, scale)
    return fit_law(law, (log_v,), log_loss, power_starts(log_loss)), law, (log_v,)


def fit_joint(n_params, n_tokens, loss, starts=None) -> tuple[LawFit, Law, tuple]:
    """Kaplan's L(N, D) on points (N, D, loss) (every curve row); starts default to the grid."""
    log_n, log_d, log_loss = np.log(n_params), np.log(n_tokens), np.log(loss)
    law = joint_law(float(np.mean(log_n)), float(np.mean(log_d)))
    starts = joint_starts(log_loss) if starts is None else starts
    return fit_law(law, (log_n, log_d), log_loss, starts), law, (log_n, log_d)


def bootstrap_rows(fit: LawFit, law: Law, data: tuple, loss, weights, valid, level=0.95):
    """Intervals of a fit on raw rows from run-resampling weights (R, rows); resamples not
    `valid` (too few model sizes drawn to identify the law) are left out."""
    log_loss = np.log(loss)
    se_asym = asymptotic_se(law, fit.x, data, log_loss)
    return bootstrap_law(fit, law, data, log_loss, weights, valid, level, se_asym)


def fit_envelope(env: dict, exponent: str, scale: str, level=0.95) -> tuple[LawFit, Law]:
    """L = (V_c/v)^alpha on a lower envelope: row 0 of `env` is the full data, the other rows
    (if any) resamples of runs, whose refits give the intervals."""
    ok = np.isfinite(env["loss"])
    fit, law, _ = fit_power(env["flops"][0][ok[0]], env["loss"][0][ok[0]], exponent, scale)
    if len(ok) > 1:
        log_v = np.log(env["flops"][1:])
        log_loss = np.where(ok[1:], np.log(np.where(ok[1:], env["loss"][1:], 1.0)), 0.0)
        valid = ok[1:].sum(axis=1) >= 3
        bootstrap_law(fit, law, (log_v,), log_loss, ok[1:].astype(float), valid, level)
    return fit, law


def allocation(env: dict) -> dict:
    """N_opt = n_coef·C^a, D_opt = d_coef·C^b by least squares in log space on each envelope row;
    (R,) arrays, NaN where a row has fewer than two envelope points."""
    out = {k: np.full(len(env["loss"]), np.nan) for k in ("a", "b", "n_coef", "d_coef")}
    for i, ok in enumerate(np.isfinite(env["loss"])):
        if ok.sum() >= 2:
            c = env["flops"][i][ok]
            out["n_coef"][i], out["a"][i] = power_law(c, env["n_opt"][i][ok])
            out["d_coef"][i], out["b"][i] = power_law(c, env["d_opt"][i][ok])
    return out
