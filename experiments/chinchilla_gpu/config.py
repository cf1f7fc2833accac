"""chinchilla_gpu: chinchilla_cpu scaled to 1e15–1e17 FLOPs, BPE on the site-packages corpus.

  python tools/sweep.py --config=experiments/chinchilla_gpu/config.py \
      --workdir=runs/chinchilla_gpu [--shard=i/N]

Needs an H100-class GPU (or N of them / TPU VMs with --shard=i/N on a shared workdir). Cost: the
design is 6e17 FLOPs (6N+attention): ~45 min on one H100 at an assumed 4e14 FLOP/s. Plan:
  python tools/sweep.py --config=experiments/chinchilla_gpu/config.py --workdir=runs/gpu \
      --dry_run --assume_flops_per_s=4e14
"""

from llm_jax.config import get_default_config
from llm_jax.sweep import Sweep, config_getter, ladder
from llm_jax.sweep.study import isoflop_runs

STUDY = "chinchilla_gpu"
SEQ_LEN = 512
BATCH = 64  # 32K tokens per step
BUDGETS = (1e15, 1e16, 1e17)
D_MODELS = (128, 192, 256, 320, 384, 448, 512, 640, 768, 896, 1024, 1280)
ASPECT = 64  # d_model / n_layers: d=768 → 12 layers (GPT-2 small's shape)
TOKENS_PER_PARAM = 20.0  # centre on Chinchilla's optimum; the bracketing check says what to add


def base_config():
    """BPE (8K vocab: small models stay mostly non-embedding), bf16 compute, site-packages."""
    c = get_default_config()
    c.model.update(max_seq_len=SEQ_LEN, tie_embeddings=True, dtype="bfloat16", attention="auto")
    c.data.update(
        corpus="site-packages",
        tokenizer="bpe:8192",
        seq_len=SEQ_LEN,
        batch_size=BATCH,
        eval_tokens=1_048_576,
    )
    c.train.update(schedule="cosine", min_lr_ratio=0.1)
    return c


def get_sweep(arg=None):
    base = base_config()
    base.model.vocab_size = 8192  # the BPE vocab, so sizes are exact before the tokenizer exists
    sizes = ladder.sizes(D_MODELS, base.model, SEQ_LEN, aspect=ASPECT)
    points = ladder.isoflop_design(
        BUDGETS,
        sizes,
        batch_size=BATCH,
        seq_len=SEQ_LEN,
        n_points=5,
        tokens_per_param=TOKENS_PER_PARAM,
        lr_rule=ladder.LrRule(3e-3, 128, 0.5),
    )
    runs = isoflop_runs(STUDY, base, points, seeds=(1,), seed_budget=min(BUDGETS))
    return Sweep(STUDY, runs, bootstrap=200, ladder_params=[n for _, n, _ in sizes])


get_config = config_getter(get_sweep)
