"""Points far off a fitted Approach-3 surface: which rows, and by how much.

The main rule: residual r = log(loss) - log(predicted loss), the quantity Approach 3 fits; a
point is off the surface when |r - median(r)| > THRESHOLD x a robust scale, the MAD (x 1.4826,
so that it estimates the standard deviation of Gaussian noise), floored at MIN_SCALE.

Why this rule: log loss, because the noise of a run's loss is multiplicative and the fit already
works there (a loss of 1e9 is a residual of ~19, not 1e9). The MAD, because it ignores up to half
the points however wild they are; a standard deviation is inflated by the very point it should
catch: among n points one outlier is never more than (n - 1)/sqrt(n) SDs from the mean (2.5 for
n = 8), so an SD rule cannot flag it. THRESHOLD = 12 robust SDs, not the 3-5 of Gaussian noise,
because real residuals have heavier tails: fitted to the 240 points of Chinchilla's Figure 4 that
Besiroglu et al. (2024) kept, the largest is 10.3 robust SDs, while 4 of the 5 points they dropped
sit at 13-45 in the fit that keeps them; a diverged run (loss x2) is ~190 at 0.5% noise. The floor
keeps noise-free tables (synthetic, residuals ~1e-7) from flagging rounding: below 12 x 0.2% =
2.4% of the loss no point is called off the surface.

A residual cannot show a point the fit has absorbed: a loss of 1e9 at the grid's corner (the
smallest model of the smallest budget) is matched exactly by a runaway term (alpha -> 55, A
overflowing) while a falls from 0.51 to 0.01 and the other residuals stay small. So a second,
model-free rule flags any loss more than GROSS_FACTOR = 10 times (or below a tenth of) the
table's median: no sweep of language models spans that much (a unit slip, a diverged run).
A fit with a flagged point is not called converged.
"""

import numpy as np

from llm_jax.scaling import objective as obj

THRESHOLD = 12.0  # robust SDs
MAD_TO_SD = 1.4826  # the MAD of Gaussian noise times this is its standard deviation
MIN_SCALE = 0.002  # floor on the robust scale, in log loss
GROSS_FACTOR = 10.0  # a final loss this far (either way) from the table's median is no sane run


def residuals(fit, points: dict) -> np.ndarray:
    """log(loss) - log(predicted) per point, computed in log space (finite even when a runaway
    fit's A overflows)."""
    x = fit.diagnostics.get("x", obj.from_params(**fit.params()))
    log_n, log_d = np.log(points["params"]), np.log(points["tokens"])
    return np.log(points["loss"]) - obj.predict_log_loss(x, log_n, log_d)


def off_surface(fit, points: dict) -> tuple[list[dict], float]:
    """The points off the fit's surface or GROSS_FACTOR from the median loss (each: index,
    line/run when known, N, D, loss, predicted, residual, robust z, reason), and the robust scale
    they were judged against."""
    r = residuals(fit, points)
    centre = float(np.median(r))
    scale = max(MAD_TO_SD * float(np.median(np.abs(r - centre))), MIN_SCALE)
    z = (r - centre) / scale
    log_loss = np.log(points["loss"])
    gross = np.abs(log_loss - np.median(log_loss)) > np.log(GROSS_FACTOR)
    off = ~(np.abs(z) <= THRESHOLD)  # a NaN residual is off the surface too
    flagged = []
    for i in np.flatnonzero(off | gross):
        entry = {"index": int(i)}
        if "line" in points:
            entry["line"] = int(points["line"][i])
        if "run" in points:
            entry["run"] = str(points["run"][i])
        n, d, loss = (float(points[k][i]) for k in ("params", "tokens", "loss"))
        entry |= {"params": n, "tokens": d, "loss": loss, "predicted": loss / float(np.exp(r[i]))}
        entry |= {"residual": float(r[i]), "robust_z": float(z[i])}
        entry["reason"] = "off the surface" if off[i] else f"{GROSS_FACTOR:g}x from the median loss"
        flagged.append(entry)
    return flagged, scale


def describe(flagged: list[dict]) -> str:
    """'line 7 (loss 1e+09, residual +19.1)', ... for a warning."""
    parts = []
    for o in flagged:
        where = f"line {o['line']}" if "line" in o else f"point {o['index']}"
        if "run" in o:
            where += f" (run {o['run']})"
        parts.append(f"{where}: loss {o['loss']:.4g}, log residual {o['residual']:+.3g}")
    return "; ".join(parts)
