"""A tiny sweep for the runner tests: two cosine runs and one WSD trunk with two branches.

  python tools/sweep.py --config=tests/sweep/tiny_study.py[:fail] --workdir=DIR
      --set=data.cache_dir=CACHE

Arg "fail": only the two cosine runs, with a run between them whose config is invalid
(n_heads does not divide d_model). Arg "repeat": twelve 10-step runs of one shape, seeds 0-11 (one
worker's memory, run after run). Arg "slurm": a 600-step run saved every 60 steps (long enough
to requeue mid-run) and the 40-step d16 run.
"""

import copy

from llm_jax.config import get_default_config
from llm_jax.sweep import Run, Sweep, config_getter
from llm_jax.sweep.ladder import Point, sizes
from llm_jax.sweep.study import branch_runs, point_config

SEQ = 32


def base_config():
    c = get_default_config()
    c.model.update(vocab_size=259, max_seq_len=SEQ)
    c.data.update(seq_len=SEQ, batch_size=8, eval_tokens=512, max_bytes=200_000)
    c.mesh.data = 1
    return c


def point(d_model: int, steps: int, budget: float) -> Point:
    ((shape, n_params, fpt),) = sizes([d_model], base_config().model, SEQ)
    return Point(budget, shape, n_params, fpt, 8, SEQ, steps, warmup_steps=2, lr=3e-3)


def cosine(base, d_model: int):
    """A 40-step run saved every 8 steps (a real study's tiny runs save at their end only), so a
    killed sweep has something to resume."""
    c = point_config(base, point(d_model, 40, 1.0))
    c.checkpoint.every_steps = 8
    return c


def get_sweep(arg=None):
    base = base_config()
    runs = [Run(f"tiny-d{d}", cosine(base, d), info={"budget": 1.0}) for d in (16, 24)]
    runs += branch_runs("tiny-wsd", base, [point(16, 20, 2.0), point(16, 40, 3.0)])
    if arg == "slurm":
        long = point_config(base, point(16, 600, 1.0))
        long.checkpoint.every_steps, long.log.every_steps = 60, 20
        return Sweep("tiny", [Run("tiny-long", long, info={"budget": 1.0}), runs[0]])
    if arg == "repeat":
        p = point(16, 10, 1.0)
        runs = [
            Run(f"tiny-s{s}", point_config(base, p, s), info={"budget": 1.0}) for s in range(12)
        ]
        return Sweep("tiny", runs)
    if arg == "fail":  # a failing run between two good ones
        bad = copy.deepcopy(runs[0].config)
        bad.model.n_heads = 5
        runs = [runs[0], Run("tiny-fail", bad, info={"budget": 1.0}), runs[1]]
    return Sweep("tiny", runs)


get_config = config_getter(get_sweep)
