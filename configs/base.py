"""Base: a ~5M-parameter byte-level model on the built-in corpus; ~10 minutes on a 2-core CPU.

  python tools/train.py --config=configs/base.py --workdir=runs/base

Override anything: --config.model.n_layers=8 --config.train.lr=1e-3 --config.data.corpus=FILE.
"""

from llm_jax.config import get_default_config


def get_config(arg=None):
    del arg
    c = get_default_config()
    c.model.update(d_model=256, n_layers=4, n_heads=4, n_kv_heads=4, d_ff=768, max_seq_len=256)
    c.data.update(tokenizer="byte", seq_len=256, batch_size=16, eval_tokens=131_072)
    c.train.update(steps=500, warmup_steps=25, lr=2e-3)
    c.eval.every_steps = 100
    c.checkpoint.every_steps = 100
    c.log.every_steps = 10
    return c
