"""chinchilla_cpu: IsoFLOP ladders of 4K–360K-parameter byte-level models on the stdlib corpus.

  python tools/sweep.py --config=experiments/chinchilla_cpu/config.py \
      --workdir=runs/chinchilla_cpu --workers=2 --threads_per_run=1

Cost: ~2.4e13 FLOPs (6N+attention), ~35 min on 2 quiet CPU cores (measure: add --dry_run).
Arg "demo": the compact version `make demo` runs (3e10, 1e11, 3e11 FLOPs, 5 sizes each, no LR
sweep or seeds; ~6 min).
"""

from llm_jax.config import get_default_config
from llm_jax.sweep import Sweep, config_getter, ladder
from llm_jax.sweep.study import isoflop_runs

STUDY = "chinchilla_cpu"
SEQ_LEN = 128
# 4 × 128 = 512 tokens per step. A pilot at 3e11 FLOPs (68K params) with 16 × 128 gave eval loss
# 1.946 in 359 steps; with 4 × 128 (1436 steps) 1.718 (1.751 in the study, one step longer: seed-
# level noise): at these budgets 2K-token batches leave the larger models too few optimizer steps,
# which pushed every IsoFLOP minimum to the smallest sizes.
BATCH = 4
# The target budgets 3e11, 1e12, 3e12 plus 1e11 (a 30× range). 1e11 came first: while the shared
# CPU gave ~4e9 FLOP/s per run, 3e12 looked out of reach; it ran once the machine got quieter.
BUDGETS = (1e11, 3e11, 1e12, 3e12)
# Centre of each budget's 5 sizes. The same pilot put the 3e11 optimum below Chinchilla's 20
# tokens/param; 40 keeps ×½ … ×4 of a 20-tokens/param optimum inside the grid as well.
TOKENS_PER_PARAM = 40.0
D_MODELS = (
    8,
    16,
    24,
    32,
    48,
    64,
    80,
    96,
    112,
    128,
    160,
)  # the size ladder (shape rule: ladder.shape)


def base_config():
    """What every run shares: byte tokens, tied embeddings, 128 context, ≥ 200K eval tokens."""
    c = get_default_config()
    c.model.update(vocab_size=259, max_seq_len=SEQ_LEN, tie_embeddings=True)  # 259: no padding
    c.data.update(
        corpus="stdlib", tokenizer="byte", seq_len=SEQ_LEN, batch_size=BATCH, eval_tokens=204_800
    )  # 400 batches of 4 × 128 held-out tokens
    # Learning curves (the sweep's log schedule) on 4 of those batches, the same for every run:
    # within 5% of its FLOPs the shortest run (144 steps) affords 5 points, runs of ≥ 320 all 12.
    c.eval.subset_tokens = 2048
    c.train.update(schedule="cosine", min_lr_ratio=0.1)
    c.mesh.data = 1  # one device per run; parallelism is across runs
    return c


def design(budgets, n_points=5, lr_sweep=(), tokens_per_param=TOKENS_PER_PARAM):
    base = base_config()
    sizes = ladder.sizes(D_MODELS, base.model, SEQ_LEN)
    points = ladder.isoflop_design(
        budgets,
        sizes,
        batch_size=BATCH,
        seq_len=SEQ_LEN,
        n_points=n_points,
        tokens_per_param=tokens_per_param,
        lr_sweep=lr_sweep,
    )
    return base, sizes, points


def get_sweep(arg=None):
    if arg == "demo":
        base, sizes, points = design((3e10, 1e11, 3e11), n_points=5)
        runs = isoflop_runs(f"{STUDY}_demo", base, points)
        return Sweep(f"{STUDY}_demo", runs, bootstrap=100, ladder_params=[n for _, n, _ in sizes])
    base, sizes, points = design(BUDGETS, n_points=5, lr_sweep=(0.5, 2.0))
    runs = isoflop_runs(STUDY, base, points, seeds=(1,), seed_budget=min(BUDGETS))
    # The fit points first, then the seed reruns, then the LR check (stable sort keeps budgets).
    order = {"main": 0, "seed": 1, "lr": 2}
    runs.sort(key=lambda r: order[r.role])
    return Sweep(STUDY, runs, bootstrap=200, ladder_params=[n for _, n, _ in sizes])


get_config = config_getter(get_sweep)
