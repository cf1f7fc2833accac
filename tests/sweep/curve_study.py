"""Two 40-step cosine runs whose learning curves use a one-batch eval subset (test_curves.py).

python tools/sweep.py --config=tests/sweep/curve_study.py --workdir=DIR --set=data.cache_dir=C
"""

from llm_jax.sweep import Run, Sweep, config_getter
from llm_jax.sweep.study import point_config
from tests.sweep.tiny_study import base_config, point


def get_sweep(arg=None):
    base = base_config()
    base.eval.subset_tokens = 256  # one 8 × 32 batch: a 40-step run affords 6 curve points at 5%
    runs = [
        Run(f"curve-d{d}", point_config(base, point(d, 40, 1.0)), info={"budget": 1.0})
        for d in (16, 24)
    ]
    return Sweep("curve", runs)


get_config = config_getter(get_sweep)
