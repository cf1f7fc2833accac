"""Time the Approach-3 fit (paper grid, 4500 starts) on the 240 Chinchilla points and a
1000-resample bootstrap; also scipy one start at a time (the batch's gtol/ftol) on sampled starts.

.venv/bin/python benchmarks/bench_scaling.py   (about a minute on 2 CPU cores)
"""

import csv
import pathlib
import time

import numpy as np
from scipy.optimize import minimize

from llm_jax.scaling import objective as obj
from llm_jax.scaling.approach3 import DELTA, SCALE, fit_approach3
from llm_jax.scaling.bootstrap import bootstrap_approach3

DATA = pathlib.Path(__file__).resolve().parents[2] / "shared/data/chinchilla_fig4_points.csv"


def chinchilla_points():
    with open(DATA) as f:
        rows = list(csv.DictReader(f))
    n, c, loss = (
        np.array([float(r[k]) for r in rows]) for k in ("Model Size", "Training FLOP", "loss")
    )
    keep = np.argsort(loss)[:-5]
    return n[keep], c[keep] / (6 * n[keep]), loss[keep]


def main():
    points = chinchilla_points()
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


if __name__ == "__main__":
    main()
