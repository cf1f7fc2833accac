"""Smoke test: a tiny byte-level model on 1 MB of the built-in corpus; ~10 s on a 2-core CPU.

python tools/train.py --config=configs/smoke.py --workdir=runs/smoke
"""

from llm_jax.config import get_default_config


def get_config(arg=None):
    del arg
    c = get_default_config()
    c.model.update(d_model=64, n_layers=2, n_heads=4, n_kv_heads=2, d_ff=192, max_seq_len=64)
    c.data.update(tokenizer="byte", seq_len=64, batch_size=8, eval_tokens=4096, max_bytes=1 << 20)
    c.train.update(steps=20, warmup_steps=2, lr=3e-3)
    c.eval.every_steps = 10
    c.checkpoint.every_steps = 10
    c.log.every_steps = 5
    return c
