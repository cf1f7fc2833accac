"""Small model configs and jitted init for model tests."""

import jax
import jax.numpy as jnp

from llm_jax.config import get_default_config
from llm_jax.model import Transformer, model_config
from llm_jax.sharding import strip_boxes


def tiny_config(**overrides):
    """A small ModelConfig; overrides are config.model keys."""
    m = get_default_config().model
    m.update(
        vocab_size=97, d_model=32, n_layers=2, n_heads=4, n_kv_heads=2, d_ff=64, max_seq_len=32
    )
    m.update(**overrides)
    return model_config(m)


def init_params(cfg, seq_len=16, seed=0):
    model = Transformer(cfg)
    tokens = jnp.zeros((1, seq_len), jnp.int32)
    params = jax.jit(lambda r: model.init(r, tokens))(jax.random.PRNGKey(seed))["params"]
    return model, strip_boxes(params)


def random_tokens(cfg, batch=2, length=16, seed=1):
    return jax.random.randint(jax.random.PRNGKey(seed), (batch, length), 0, cfg.vocab_size)
