"""Continue training a Hugging Face Llama model: the model keys and tokenizer come from DIR.

python tools/train.py --config=configs/finetune_hf.py --workdir=runs/ft \
    --config.train.init_from=hf:DIR --config.data.corpus=my_text.jsonl

No model.* key is set here: train.init_from=hf:DIR refuses a config that contradicts DIR.
"""

from llm_jax.config import get_default_config


def get_config(arg=None):
    del arg
    c = get_default_config()
    c.data.update(seq_len=256, batch_size=16)
    c.train.update(steps=200, warmup_steps=20, lr=3e-4, schedule="cosine")
    c.eval.every_steps = 50
    c.checkpoint.every_steps = 100
    return c
