"""The extrapolation check: does Approach 3, fitted without the largest budget, predict that
budget's compute-optimal size and loss?"""

from __future__ import annotations

import numpy as np

from llm_jax.scaling.approach3 import fit_approach3
from llm_jax.scaling.approach12 import isoflop_minimum
from llm_jax.scaling.bootstrap import bootstrap_approach3


def extrapolation_check(points: dict, budgets, n_bootstrap: int = 0, seed: int = 0) -> dict:
    """Fit Approach 3 without the largest budget; compare its N* and L* there with the held-out
    budget's own IsoFLOP minimum (or its best run) and with the bootstrap interval."""
    c_max = float(np.max(budgets))
    held, rest = budgets == c_max, budgets != c_max
    sub = {k: v[rest] for k, v in points.items()}
    fit = fit_approach3(sub["params"], sub["tokens"], sub["loss"])
    n_pred, d_pred = fit.optimal_allocation(c_max)
    observed = _observed_optimum(points, held)
    out = {
        "held_out_flops": c_max,
        "n_opt_predicted": float(n_pred),
        "loss_opt_predicted": float(fit.predict(n_pred, d_pred)),
        **observed,
        "fit_converged": fit.converged,
    }
    out["n_opt_rel_error"] = out["n_opt_predicted"] / observed["n_opt_observed"] - 1
    out["loss_opt_rel_error"] = out["loss_opt_predicted"] / observed["loss_opt_observed"] - 1
    if n_bootstrap:
        boot = bootstrap_approach3(
            fit,
            sub["params"],
            sub["tokens"],
            sub["loss"],
            n_bootstrap,
            sub.get("run"),
            seed,
            at_flops=(c_max,),
        )
        for name, key in (("n_opt", "N_opt"), ("loss_opt", "L_opt")):
            low, high = boot["ci"][f"{key}@C={c_max:.3g}"]
            out[f"{name}_ci"] = [low, high]
            out[f"{name}_in_ci"] = bool(low <= observed[f"{name}_observed"] <= high)
    return out


def _observed_optimum(points: dict, held) -> dict:
    """The held-out budget's IsoFLOP parabola minimum, else its lowest-loss run."""
    n, loss = points["params"][held], points["loss"][held]
    if held.sum() >= 3:
        parabola = isoflop_minimum(np.log(n), loss)
        if parabola["problem"] is None:
            return {"n_opt_observed": parabola["x_opt"], "loss_opt_observed": parabola["loss_opt"]}
    best = int(np.argmin(loss))
    return {"n_opt_observed": float(n[best]), "loss_opt_observed": float(loss[best])}
