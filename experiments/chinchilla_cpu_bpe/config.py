"""chinchilla_cpu_bpe: chinchilla_cpu with BPE tokens, more budgets and sizes, ≥ 800 steps a run.

  python tools/sweep.py --config=experiments/chinchilla_cpu_bpe/config.py \
      --workdir=runs/chinchilla_cpu_bpe --workers=2 --threads_per_run=1

44 runs (35 IsoFLOP points, a second seed of each of the 9 sizes at its shortest point), 3.9e13
FLOPs (6N+attention): 27.6 min on 2 quiet CPU cores (measured; --dry_run estimates a plan from a
short measured run).
"""

from llm_jax.config import get_default_config
from llm_jax.sweep import Sweep, config_getter, ladder
from llm_jax.sweep.study import isoflop_runs

STUDY = "chinchilla_cpu_bpe"
VOCAB = 1024  # bpe:1024 on the stdlib: 2.43 bytes per held-out token, 13.2M training tokens
SEQ_LEN = 128  # BPE tokens: ~310 bytes of context, 2.4× chinchilla_cpu's
BATCH = 4  # 512 tokens per step, halved where a run would have < MIN_STEPS steps
# chinchilla_cpu's noisiest seed pair (4.65%) was its shortest run (479 steps): here every run
# has ≥ 800 (7 of the 35 points, far above their budget's optimum, on 2 or 1 sequences a step).
MIN_STEPS = 800
# Five budgets ×2 apart (a 16× range) with seven sizes each: simulate.py puts the 95% interval
# of a at ±0.02–0.04 with 0.5% noise per point, ±0.03–0.06 with 0.75% (chinchilla_cpu: four
# budgets of five sizes, ±0.14, which the same simulation matches at 1.5% noise). The smallest
# budget is 1.5× chinchilla_cpu's; at the largest every run stays under one epoch (≤ 10.4M tokens).
BUDGETS = (1.5e11, 3e11, 6e11, 1.2e12, 2.4e12)
N_POINTS = 7
# Centre of each budget's sizes: simulate.py's optima sit at 7–10 tokens/param (chinchilla_cpu's
# 34–51 bytes/param at 2.43 bytes/token, with the 1024-row embedding counted in N).
TOKENS_PER_PARAM = 10.0
D_MODELS = (8, 16, 24, 32, 48, 64, 80, 96, 112, 128, 160)  # the ladder (shape rule: ladder.shape)


def base_config():
    """BPE tokens, tied embeddings, 128 context, a 64K-token eval set, curves on 4 of its
    batches."""
    c = get_default_config()
    c.model.update(vocab_size=VOCAB, max_seq_len=SEQ_LEN, tie_embeddings=True)
    c.data.update(
        corpus="stdlib",
        tokenizer=f"bpe:{VOCAB}",
        seq_len=SEQ_LEN,
        batch_size=BATCH,
        eval_tokens=65_536,  # 128 batches: 2/3 of the 98K held-out tokens
    )
    c.eval.subset_tokens = 2048  # 4 batches: ≥ 1000-step runs afford all 12 curve points
    c.train.update(schedule="cosine", min_lr_ratio=0.1)
    c.mesh.data = 1  # one device per run; parallelism is across runs
    return c


def design(budgets=BUDGETS, n_points=N_POINTS, tokens_per_param=TOKENS_PER_PARAM):
    base = base_config()
    sizes = ladder.sizes(D_MODELS, base.model, SEQ_LEN)
    points = ladder.isoflop_design(
        budgets,
        sizes,
        batch_size=BATCH,
        seq_len=SEQ_LEN,
        n_points=n_points,
        tokens_per_param=tokens_per_param,
        min_steps=MIN_STEPS,
        warmup_fraction=0.05,
    )
    return base, sizes, points


def seed_points(points):
    """Each size's point at the smallest budget it appears in."""
    first = {}
    for p in sorted(points, key=lambda p: p.budget):
        first.setdefault(p.n_params, p)
    return list(first.values())


def get_sweep(arg=None):
    base, sizes, points = design()
    runs = isoflop_runs(STUDY, base, points)
    for p in seed_points(points):  # a second seed of every size, at its shortest point
        pair = isoflop_runs(STUDY, base, [p], seeds=(1,), seed_budget=p.budget)
        runs += [r for r in pair if r.role == "seed"]
    return Sweep(STUDY, runs, bootstrap=200, ladder_params=[n for _, n, _ in sizes])


get_config = config_getter(get_sweep)
