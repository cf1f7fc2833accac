"""Ladder design points → sweep runs: names, per-run configs, seeds, WSD trunks and branches."""

from __future__ import annotations

import copy
import math

from llm_jax.config import subset_batches
from llm_jax.sweep.cooldown import plan_branches
from llm_jax.sweep.ladder import Point
from llm_jax.sweep.spec import Run


def fmt_budget(flops: float) -> str:
    """3e+11 → '3e11'."""
    exponent = math.floor(math.log10(flops))
    mantissa = flops / 10**exponent
    return f"{mantissa:.2g}e{exponent}".replace(".", "p")


def fmt_params(n: float) -> str:
    """68213 → '68K', 1234567 → '1.2M'."""
    for unit, size in (("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if n >= size:
            value = n / size
            return f"{value:.0f}{unit}" if value >= 10 else f"{value:.1f}{unit}"
    return str(int(n))


# A save costs a fixed ~0.2 s of CPU whatever the model's size (Orbax's work per leaf; see
# benchmarks/RESULTS.md), as much as hundreds of a tiny model's steps. So a run saves once per
# SAVE_EVERY_FLOPS of training (about a minute of one CPU core, seconds on an accelerator) and
# at most 5 times, besides its end: a killed sweep loses a fifth of a run or that much compute,
# whichever is more.
SAVE_EVERY_FLOPS = 3e11


def save_every_steps(p: Point) -> int:
    return max(1, p.steps // 5, math.ceil(p.steps * SAVE_EVERY_FLOPS / p.flops))


def point_config(base, p: Point, seed: int = 0):
    """The full config of one design point: cosine to p.steps, a learning curve on the eval
    subset, the full eval set at the end."""
    c = copy.deepcopy(base)
    c.model.update(p.shape)
    c.data.update(batch_size=p.batch_size, seq_len=p.seq_len)
    c.train.update(steps=p.steps, warmup_steps=p.warmup_steps, lr=p.lr, seed=seed)
    c.eval.every_steps = p.steps  # the fixed eval set is big: evaluate it once, at the end
    log_eval(c)
    c.log.every_steps = max(1, p.steps // 50)
    c.checkpoint.every_steps = save_every_steps(p)
    return c


def log_eval(c) -> None:
    """The log eval schedule with as many points (≤ eval.log_points) as eval.max_cost_fraction
    of c's training FLOPs affords (none: the full set at the end only); the subset itself
    (eval.subset_tokens) is the study's, so every run's curve is on the same tokens. Call again
    after changing train.steps."""
    affordable = int(3 * c.eval.max_cost_fraction * c.train.steps / subset_batches(c))
    if affordable >= 1:
        c.eval.update(schedule="log", log_points=min(c.eval.log_points, affordable))


def _info(p: Point, study: str) -> dict:
    return {"study": study, "budget": p.budget, "params": p.n_params, "lr_mult": p.lr_mult}


def isoflop_runs(study: str, base, points: list[Point], seeds=(), seed_budget=None) -> list[Run]:
    """One cosine run per point; extra `seeds` reruns of the points at `seed_budget`."""
    runs = []
    for p in points:
        name = f"{study}-C{fmt_budget(p.budget)}-N{fmt_params(p.n_params)}"
        role = "main" if p.lr_mult == 1 else "lr"
        name += "" if role == "main" else f"-lr{p.lr_mult:g}x"
        runs.append(Run(name, point_config(base, p), role, info=_info(p, study)))
        if role == "main" and p.budget == seed_budget:
            for seed in seeds:
                config = point_config(base, p, seed)
                runs.append(Run(f"{name}-s{seed}", config, "seed", info=_info(p, study)))
    return runs


def branch_runs(study: str, base, points: list[Point], cooldown_fraction=0.2, shape="sqrt"):
    """One group per trunk: its segments (to each branch start) interleaved with its branches."""
    runs = []
    for trunk in plan_branches(points, cooldown_fraction):
        first = trunk.branches[0].point
        trunk_dir = f"{study}-trunk-N{fmt_params(trunk.n_params)}-B{first.batch_size}"
        previous = 0
        for stop in trunk.stops:
            c = point_config(base, first)
            c.train.update(steps=stop, schedule="constant")
            log_eval(c)
            c.eval.every_steps = stop  # the trunk is not a data point: evaluate only at stops
            c.checkpoint.update(
                every_steps=max(1, trunk.stops[-1] // 10), keep=len(trunk.stops) + 12
            )  # never evicts a branch start
            info = _info(first, study) | {"trunk": trunk_dir, "start_step": previous}
            runs.append(Run(f"{trunk_dir}-to{stop}", c, "trunk", trunk_dir, trunk_dir, info))
            previous = stop
            for b in (b for b in trunk.branches if b.start == stop):
                c = point_config(base, b.point)
                c.train.update(schedule="wsd", decay_fraction=b.decay_fraction, decay_shape=shape)
                name = f"{study}-C{fmt_budget(b.point.budget)}-N{fmt_params(b.point.n_params)}"
                info = _info(b.point, study) | {
                    "trunk": trunk_dir,
                    "start_step": stop,
                    "cooldown_steps": b.cooldown,
                }
                runs.append(
                    Run(name, c, "main", group=trunk_dir, info=info, branch_of=(trunk_dir, stop))
                )
    return runs
