"""The five 3e10-FLOP runs of `make demo` (chinchilla_cpu:demo), for bench_sweep_overhead.py."""

import pathlib

from llm_jax.sweep import config_getter
from llm_jax.sweep.spec import load_study

DEMO = pathlib.Path(__file__).resolve().parents[1] / "experiments" / "chinchilla_cpu" / "config.py"


def get_sweep(arg=None):
    sweep = load_study(str(DEMO), "demo")
    sweep.runs = [r for r in sweep.runs if r.info["budget"] == 3e10]
    return sweep


get_config = config_getter(get_sweep)
