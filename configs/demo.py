"""A ~1M-parameter byte-level model on the built-in corpus; ~3 minutes on a 2-core CPU.

  python tools/train.py --config=configs/demo.py --workdir=runs/model

Watch it: tensorboard --logdir=runs  (then open http://localhost:6006).
"""

from llm_jax.config import get_default_config


def get_config(arg=None):
    del arg
    c = get_default_config()
    c.model.update(d_model=128, n_layers=4, n_heads=4, n_kv_heads=4, d_ff=384, max_seq_len=128)
    c.data.update(tokenizer="byte", seq_len=128, batch_size=16, eval_tokens=65_536)
    c.train.update(steps=600, warmup_steps=30, lr=3e-3)
    c.eval.every_steps = 100
    c.checkpoint.every_steps = 200
    c.log.every_steps = 25
    return c
