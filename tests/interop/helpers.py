"""Tiny models with every parameter random (norm gains too), so a wrong mapping shows."""

import pathlib
import runpy

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from llm_jax.config import get_default_config
from llm_jax.inspection.run import jitted_apply
from llm_jax.model import Transformer
from llm_jax.train.state import strip_boxes

ROOT = pathlib.Path(__file__).resolve().parents[2]
NEEDS_HF = "needs the [hf] extra: pip install -e '.[dev,hf]'"


def require(module: str):
    return pytest.importorskip(module, reason=NEEDS_HF)


def tiny_model(**overrides):
    m = get_default_config().model
    m.update(vocab_size=320, d_model=32, n_layers=2, n_heads=4, n_kv_heads=2, d_ff=48)
    m.update(max_seq_len=32)
    m.update(**overrides)
    return m


def random_params(model_cfg, seed=0):
    """Every leaf random: kernels ~ N(0, 0.3²), norm gains ~ 1 + N(0, 0.2²)."""
    init = Transformer(model_cfg).init
    abstract = strip_boxes(jax.eval_shape(init, jax.random.key(0), jnp.zeros((1, 1), jnp.int32)))
    leaves, tree = jax.tree.flatten(abstract["params"])
    rng = np.random.default_rng(seed)
    values = []
    for path, leaf in zip(
        jax.tree_util.tree_leaves_with_path(abstract["params"]), leaves, strict=True
    ):
        noise = rng.normal(size=leaf.shape).astype(np.float32)
        is_gain = path[0][-1].key == "scale"
        values.append(jnp.asarray(1 + 0.2 * noise if is_gain else 0.3 * noise))
    return jax.tree.unflatten(tree, values)


def logits(model_cfg, params, tokens):
    """Logits of a batch, through the inspection tools' cached jitted forward."""
    apply = jitted_apply(ml_collections.FrozenConfigDict(model_cfg))
    return np.asarray(apply({"params": params}, jnp.asarray(tokens, jnp.int32)))


def tokens_for(model_cfg, batch=2, length=13, high=259, seed=3):
    rng = np.random.default_rng(seed)
    return jnp.asarray(rng.integers(0, high, (batch, length)), jnp.int32)


def train_smoke_run(workdir, **overrides):
    """configs/smoke.py shrunk to seconds; returns the workdir."""
    from llm_jax.train.trainer import train

    config = runpy.run_path(str(ROOT / "configs" / "smoke.py"))["get_config"]()
    config.train.update(steps=2, warmup_steps=1)
    config.eval.every_steps = config.checkpoint.every_steps = 2
    config.data.update(max_bytes=200_000, eval_tokens=1024, cache_dir=str(workdir / "cache"))
    for key, value in overrides.items():
        section, name = key.split(".")
        config[section][name] = value
    train(config, workdir / "run")
    return workdir / "run"
