"""kaplan_vs_chinchilla: the `make demo` ladder analysed Kaplan's way and Chinchilla's way.

Chinchilla's way is the demo itself (runs/demo: one cosine run per IsoFLOP point, matched to its
length). Kaplan's way is this sweep: one fixed-length cosine run per size of the same ladder,
read at log-spaced intermediate steps. Then compare.py fits both ways and the steps between:

  make demo                                                     # or: python tools/demo.py
  python tools/sweep.py --config=experiments/kaplan_vs_chinchilla/config.py \
      --workdir=runs/kaplan_vs_chinchilla --workers=2 --threads_per_run=1 --no_fit
  python experiments/kaplan_vs_chinchilla/compare.py --kaplan=runs/kaplan_vs_chinchilla \
      --chinchilla=runs/demo --out=experiments/kaplan_vs_chinchilla/results

Cost of this sweep: 7 runs, ~3.7e12 FLOPs (6N+attention), ~5 min on 2 quiet CPU cores (measure:
add --dry_run). Arg "warmup": the same runs with a warmup of 25% instead of 5% (Porian et al.
2024: a warmup long for the small models is one cause of Kaplan's larger exponent); not run yet.
"""

import importlib.util
import pathlib

from llm_jax.sweep import Run, Sweep, config_getter, ladder
from llm_jax.sweep.study import fmt_params, point_config

STUDY = "kaplan_vs_chinchilla"
# Every size trains the same 4096 steps of 4 × 128 tokens (Kaplan trained every model for the
# same 2.5e5 steps): 2.1M tokens, so the curves reach C = 6ND = 5e10 (4K) … 1.5e12 (117K), past
# the demo's largest budget (3e11) from 35K parameters up.
STEPS = 4096
WARMUP = {"default": 0.05, "warmup": 0.25}  # fraction of the run
# Curves: 24 evals of a 16-batch subset (64 windows, including the demo's 16): 3.1% of each
# run's FLOPs. Four times the demo's subset, since every point of Kaplan's fits is a curve point.
CURVE_POINTS = 24
SUBSET_TOKENS = 8192


def _cpu_study():
    """chinchilla_cpu's config module: the demo's base config, ladder and LR rule."""
    path = pathlib.Path(__file__).parents[1] / "chinchilla_cpu" / "config.py"
    spec = importlib.util.spec_from_file_location("chinchilla_cpu_config", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def demo_sizes():
    """(shape, params, FLOPs/token) of every size the demo's IsoFLOP points use."""
    cpu = _cpu_study()
    base, sizes, points = cpu.design((3e10, 1e11, 3e11), n_points=5)
    used = {p.n_params for p in points}
    return cpu, base, [s for s in sizes if s[1] in used]


def get_sweep(arg=None):
    cpu, base, sizes = demo_sizes()
    base.eval.update(log_points=CURVE_POINTS, subset_tokens=SUBSET_TOKENS)
    warmup = WARMUP[arg or "default"]
    runs = []
    for shape, n_params, fpt in sizes:
        p = ladder.Point(
            float(STEPS * cpu.BATCH * cpu.SEQ_LEN * fpt),  # the run's own FLOPs: its "budget"
            shape,
            n_params,
            fpt,
            cpu.BATCH,
            cpu.SEQ_LEN,
            STEPS,
            warmup_steps=int(warmup * STEPS),
            lr=ladder.LrRule()(shape["d_model"]),
        )
        name = f"{STUDY}{'' if arg is None else '_' + arg}-fixed-N{fmt_params(n_params)}"
        info = {"study": STUDY, "budget": p.budget, "params": n_params, "warmup_fraction": warmup}
        runs.append(Run(name, point_config(base, p), info=info))
    return Sweep(STUDY, runs, bootstrap=200, ladder_params=[n for _, n, _ in sizes])


get_config = config_getter(get_sweep)
