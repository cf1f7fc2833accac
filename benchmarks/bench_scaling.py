"""Time the Approach-3 fit (paper grid, 4500 starts) on the 240 Chinchilla points and a
1000-resample bootstrap; also scipy one start at a time (the batch's gtol/ftol) on sampled starts.
Then Kaplan's joint L(N, D) on the same points (its 144-start grid) and its 1000-resample
bootstrap, and all four Kaplan fits of a synthetic curve table (15 runs × 30 rows).

.venv/bin/python benchmarks/bench_scaling.py [kaplan]   (about a minute on 2 CPU cores;
"kaplan" runs only the Kaplan part)
"""

import csv
import pathlib
import sys
import time

import numpy as np
from scipy.optimize import minimize

from llm_jax.scaling import objective as obj
from llm_jax.scaling.approach3 import DELTA, SCALE, fit_approach3
from llm_jax.scaling.bootstrap import bootstrap_approach3, resample_weights
from llm_jax.scaling.kaplan import bootstrap_rows, fit_joint
from llm_jax.scaling.kaplan_fit import fit_kaplan
from llm_jax.scaling.synthetic import kaplan_curves

DATA = pathlib.Path(__file__).resolve().parents[2] / "shared/data/chinchilla_fig4_points.csv"


def chinchilla_points():
    with open(DATA) as f:
        rows = list(csv.DictReader(f))
    n, c, loss = (
        np.array([float(r[k]) for r in rows]) for k in ("Model Size", "Training FLOP", "loss")
    )
    keep = np.argsort(loss)[:-5]
    return n[keep], c[keep] / (6 * n[keep]), loss[keep]


def timed(fn, *args, **kwargs):
    t0 = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - t0


def kaplan(points):
    """Kaplan's joint law on the Chinchilla points, its bootstrap, and a full curve-table fit."""
    (fit, law, data), t_fit = timed(fit_joint, *points)
    p = fit.params
    print(
        f"kaplan joint L(N, D) ({fit.diagnostics['n_starts']} starts, {len(points[0])} points): "
        f"{t_fit:.1f} s; alpha_N={p['alpha_N']:.4f} alpha_D={p['alpha_D']:.4f} "
        f"N_c={p['N_c']:.3g} D_c={p['D_c']:.3g} converged={fit.converged}"
    )
    weights = resample_weights(len(points[0]), 1000)
    _, t_boot = timed(bootstrap_rows, fit, law, data, points[2], weights, np.ones(1000, bool))
    se = fit.bootstrap["se"]
    print(
        f"kaplan joint bootstrap 1000 resamples: {t_boot:.1f} s; SE alpha_N={se['alpha_N']:.4f} "
        f"alpha_D={se['alpha_D']:.4f}"
    )
    table = kaplan_curves(noise=0.005, run_noise=0.005)
    for n_boot in (0, 1000):
        result, t = timed(fit_kaplan, table, n_bootstrap=n_boot)
        print(
            f"kaplan all four fits, curve table ({len(table['loss'])} rows), {n_boot} resamples: "
            f"{t:.1f} s; alpha_C={result.l_c.params['alpha_C']:.4f} a={result.allocation['a']:.3f}"
        )


def main():
    points = chinchilla_points()
    if sys.argv[1:] == ["kaplan"]:
        return kaplan(points)
    t0 = time.perf_counter()
    fit = fit_approach3(*points)
    t_fit = time.perf_counter() - t0
    print(
        f"approach3 full grid ({fit.diagnostics['n_starts']} starts, {len(points[0])} points): "
        f"{t_fit:.1f} s; alpha={fit.alpha:.4f} beta={fit.beta:.4f} converged={fit.converged}"
    )
    t0 = time.perf_counter()
    boot = bootstrap_approach3(fit, *points, n_resamples=1000)
    t_boot = time.perf_counter() - t0
    print(
        f"bootstrap 1000 resamples: {t_boot:.1f} s; SE alpha={boot['se']['alpha']:.4f} "
        f"beta={boot['se']['beta']:.4f}"
    )
    data = tuple(np.log(v) for v in points)
    starts = obj.paper_grid()[::100]
    t0 = time.perf_counter()
    for x0 in starts:
        minimize(
            lambda x: obj.value_and_grad(x, *data, DELTA, SCALE),
            x0,
            jac=True,
            method="L-BFGS-B",
            options={"gtol": 1e-4, "ftol": 1e-14, "maxiter": 1000},
        )
    per_start = (time.perf_counter() - t0) / len(starts)
    print(
        f"scipy one start at a time: {1e3 * per_start:.1f} ms/start -> "
        f"{4500 * per_start:.0f} s for the full grid"
    )
    kaplan(points)


if __name__ == "__main__":
    main()
