"""The Approach-3 objective of Hoffmann et al. (2022): Huber loss on log loss of a log-sum-exp law.

Parameters are x = (a, b, e, alpha, beta) with A = exp(a), B = exp(b), E = exp(e), so that
log L(N, D) = LSE(a - alpha·log N, b - beta·log D, e). Everything here is vectorised numpy: one
call evaluates many parameter vectors (starts or bootstrap refits) on their own data at once.
"""

import numpy as np

PARAM_NAMES = ("a", "b", "e", "alpha", "beta")


def huber(r, delta: float):
    """Huber loss, quadratic within ±delta and linear outside."""
    abs_r = np.abs(r)
    return np.where(abs_r <= delta, 0.5 * r * r, delta * (abs_r - 0.5 * delta))


def predict_log_loss(x, log_n, log_d):
    """log L for parameter rows x[..., 5] against data log_n, log_d (broadcasting)."""
    x = np.asarray(x, dtype=np.float64)
    t1 = x[..., 0:1] - x[..., 3:4] * log_n
    t2 = x[..., 1:2] - x[..., 4:5] * log_d
    t3 = np.broadcast_to(x[..., 2:3], t1.shape)
    return np.logaddexp(np.logaddexp(t1, t2), t3)


def value_and_grad(x, log_n, log_d, log_loss, delta: float, scale: float, weights=None):
    """Summed, scaled Huber objective and its gradient for each parameter row of x.

    x has shape (..., 5); the data arrays have shape (P,) or (..., P). `weights` (same shape as
    the data, e.g. bootstrap multiplicities) scale each point's term. Returns f (...), g (..., 5).
    """
    x = np.asarray(x, dtype=np.float64)
    t1 = x[..., 0:1] - x[..., 3:4] * log_n
    t2 = x[..., 1:2] - x[..., 4:5] * log_d
    t3 = np.broadcast_to(x[..., 2:3], t1.shape)
    top = np.maximum(np.maximum(t1, t2), t3)
    w1, w2, w3 = np.exp(t1 - top), np.exp(t2 - top), np.exp(t3 - top)
    total = w1 + w2 + w3
    r = top + np.log(total) - log_loss
    # Derivative of the Huber loss: the residual clipped to ±delta.
    dr = np.clip(r, -delta, delta) * scale / total
    loss = huber(r, delta) * scale
    if weights is not None:
        dr, loss = dr * weights, loss * weights
    g1, g2, g3 = dr * w1, dr * w2, dr * w3
    grad = np.stack(
        [
            g1.sum(-1),
            g2.sum(-1),
            g3.sum(-1),
            -(g1 * log_n).sum(-1),
            -(g2 * log_d).sum(-1),
        ],
        axis=-1,
    )
    return loss.sum(-1), grad


def huber_objective(residual, jacobian, delta: float, scale: float, weights=None):
    """Summed, scaled Huber loss of residuals (..., P) and its gradient from their Jacobian
    (..., P, k) with respect to the parameters: f (...), g (..., k). Any law can use it."""
    dr = np.clip(residual, -delta, delta) * scale
    loss = huber(residual, delta) * scale
    if weights is not None:
        dr, loss = dr * weights, loss * weights
    return loss.sum(-1), np.einsum("...p,...pk->...k", dr, jacobian)


def paper_grid() -> np.ndarray:
    """Hoffmann et al.'s initialisation grid: 4500 starts (alpha, beta, e, a, b)."""
    alphas = np.arange(0.0, 2.01, 0.5)
    es = np.arange(-1.0, 1.01, 0.5)
    abs_ = np.arange(0.0, 25.1, 5.0)
    a, b, e, al, be = np.meshgrid(abs_, abs_, es, alphas, alphas, indexing="ij")
    return np.stack([a, b, e, al, be], axis=-1).reshape(-1, 5)


def to_params(x) -> dict:
    """(a, b, e, alpha, beta) → {'E', 'A', 'B', 'alpha', 'beta'}."""
    a, b, e, alpha, beta = (float(v) for v in x)
    with np.errstate(over="ignore"):  # a runaway fit's A = inf is reported, not raised
        A, B, E = (float(np.exp(v)) for v in (a, b, e))
    return {"E": E, "A": A, "B": B, "alpha": alpha, "beta": beta}


def from_params(E: float, A: float, B: float, alpha: float, beta: float) -> np.ndarray:
    """{'E', 'A', 'B', 'alpha', 'beta'} → (a, b, e, alpha, beta)."""
    return np.array([np.log(A), np.log(B), np.log(E), alpha, beta], dtype=np.float64)
