"""wsd_vs_cosine: the chinchilla_cpu ladder from WSD cooldown branches instead of cosine runs.

  python tools/sweep.py --config=experiments/wsd_vs_cosine/config.py \
      --workdir=runs/wsd_vs_cosine --workers=2 --threads_per_run=1

One warmup–stable trunk per size; each design point is a 10% 1−sqrt cooldown branched from the
trunk (train.init_from). Five budgets 1e11 … 1e12 (chinchilla_cpu's three plus two between), so a
size is shared by up to five points. Cost: ~60% of the same points as independent cosine runs;
~20 min on 2 CPU cores (add --dry_run for the measured estimate).
"""

import importlib.util
import pathlib

from llm_jax.sweep import Sweep, config_getter
from llm_jax.sweep.cooldown import flops_accounting, plan_branches
from llm_jax.sweep.study import branch_runs

STUDY = "wsd_vs_cosine"
BUDGETS = (1e11, 1.7e11, 3e11, 5.5e11, 1e12)  # chinchilla_cpu's three and two between
COOLDOWN_FRACTION = 0.1  # of each branch: the cheapest of the 10–20% range: ~58% of cosine


def _cpu_study():
    """The chinchilla_cpu config module: same base config, size ladder and design rules."""
    path = pathlib.Path(__file__).parents[1] / "chinchilla_cpu" / "config.py"
    spec = importlib.util.spec_from_file_location("chinchilla_cpu_config", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def design():
    """(base config, ladder sizes, points): chinchilla_cpu's rules at BUDGETS."""
    return _cpu_study().design(BUDGETS, n_points=5)


def planned_flops() -> dict:
    """FLOPs of the branch sweep vs the same points as independent runs (design convention)."""
    _, _, points = design()
    return flops_accounting(plan_branches(points, COOLDOWN_FRACTION))


def get_sweep(arg=None):
    base, sizes, points = design()
    runs = branch_runs(STUDY, base, points, COOLDOWN_FRACTION, shape="sqrt")
    return Sweep(STUDY, runs, bootstrap=200, ladder_params=[n for _, n, _ in sizes])


get_config = config_getter(get_sweep)
