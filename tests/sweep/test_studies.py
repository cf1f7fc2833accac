"""Every committed study builds, and every run of it passes validation (the log eval schedule's
FLOPs bound included) with a learning curve of several points on the study's one subset."""

import pathlib

import pytest

from llm_jax.config import validate
from llm_jax.sweep.ladder import Point
from llm_jax.sweep.spec import load_study
from llm_jax.sweep.study import SAVE_EVERY_FLOPS, save_every_steps
from llm_jax.train import eval_schedule

ROOT = pathlib.Path(__file__).resolve().parents[2]
STUDIES = [
    (f"{p.parent.name}{':' + arg if arg else ''}", p, arg)
    for p in sorted((ROOT / "experiments").glob("*/config.py"))
    for arg in ([None, "demo"] if p.parent.name == "chinchilla_cpu" else [None])
]


@pytest.mark.parametrize(("name", "path", "arg"), STUDIES, ids=[s[0] for s in STUDIES])
def test_every_run_validates_and_has_a_curve(name, path, arg):
    sweep = load_study(str(path), arg)
    assert sweep.runs, name
    subsets = set()
    for run in sweep.runs:
        validate(run.config)
        steps = eval_schedule.steps(run.config)
        start = run.info.get("start_step", 0)
        assert run.config.eval.schedule == "log" and max(steps) == run.config.train.steps
        if run.role != "trunk" and not start:  # branches and trunk segments: a curve's tail
            assert len(steps) >= 5, (run.name, sorted(steps))
        subsets.add(run.config.eval.subset_tokens)
    assert len(subsets) == 1, f"{name}: runs differ in eval.subset_tokens {subsets}"


def _point(steps: int, flops: float) -> Point:
    return Point(flops, {}, 1, flops_per_token=flops / steps, batch_size=1, seq_len=1, steps=steps)


def test_runs_save_once_per_save_every_flops_and_at_most_five_times():
    small, mid, big = (_point(1000, k * SAVE_EVERY_FLOPS) for k in (0.9, 2.5, 100))
    assert save_every_steps(small) >= 1000  # at its end only
    assert save_every_steps(mid) == 400  # 400 steps = SAVE_EVERY_FLOPS: saves at 400, 800, 1000
    assert save_every_steps(big) == 200  # five times
    demo = load_study(str(ROOT / "experiments/chinchilla_cpu/config.py"), "demo")
    every = {r.name: r.config.checkpoint.every_steps / r.config.train.steps for r in demo.runs}
    assert all(v >= 1 for k, v in every.items() if "-C3e10-" in k), every  # seconds-long runs
