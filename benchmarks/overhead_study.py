"""Runs of `make demo` (chinchilla_cpu:demo) for bench_sweep_overhead.py: arg = the budgets,
comma-separated (default 3e10: its five runs, five model sizes, every one compiled afresh;
"3e10,1e11": ten runs of six sizes, four of them a size an earlier run compiled)."""

import pathlib

from llm_jax.sweep import config_getter
from llm_jax.sweep.spec import load_study

DEMO = pathlib.Path(__file__).resolve().parents[1] / "experiments" / "chinchilla_cpu" / "config.py"


def get_sweep(arg=None):
    budgets = [float(b) for b in (arg or "3e10").split(",")]
    sweep = load_study(str(DEMO), "demo")
    sweep.runs = [r for r in sweep.runs if r.info["budget"] in budgets]
    return sweep


get_config = config_getter(get_sweep)
