"""size.py counts equal the real parameter tree; every named size evaluates abstractly."""

import importlib.util
import pathlib

import jax
import jax.numpy as jnp
import pytest

from llm_jax.model import Transformer
from llm_jax.model.size import param_counts
from tests.model.helpers import tiny_config

ROOT = pathlib.Path(__file__).resolve().parents[2]


def _tree_counts(cfg):
    tokens = jnp.zeros((1, 8), jnp.int32)
    shapes = jax.eval_shape(lambda: Transformer(cfg).init(jax.random.PRNGKey(0), tokens))
    flat = jax.tree_util.tree_leaves_with_path(shapes["params"])
    total = sum(leaf.size for _, leaf in flat)
    embedding = sum(
        leaf.size
        for path, leaf in flat
        if any(str(getattr(k, "key", "")) in ("embed", "unembed", "pos") for k in path)
    )
    return {"total": total, "embedding": embedding, "non_embedding": total - embedding}


@pytest.mark.parametrize(
    "overrides",
    [
        dict(),
        dict(mlp="gelu", norm="layernorm", tie_embeddings=False),
        dict(pos_encoding="learned", n_kv_heads=1, scan_layers=False),
        dict(n_layers=5, d_model=48, n_heads=6, n_kv_heads=3, d_ff=100),
    ],
)
def test_param_counts_equal_tree(overrides):
    cfg = tiny_config(**overrides)
    assert param_counts(cfg) == _tree_counts(cfg)


def _sizes_module():
    spec = importlib.util.spec_from_file_location("sizes", ROOT / "configs" / "sizes.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name", list(_sizes_module().SIZES))
def test_named_sizes_eval_shape(name):
    cfg = _sizes_module().get_config(name).model
    cfg.vocab_size = cfg.vocab_size or 320
    assert param_counts(cfg) == _tree_counts(cfg)
