"""ModelConfig: built from config.model, frozen and hashable; the parameter tree it defines."""

import dataclasses

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from llm_jax.config import ConfigError, get_default_config
from llm_jax.model import Transformer, model_config
from tests.model.helpers import init_params, tiny_config


def test_one_field_per_model_key_frozen_and_hashable():
    model = get_default_config().model
    cfg = model_config(model)
    assert dataclasses.asdict(cfg) == model.to_dict()  # every key, none more, same values
    assert hash(cfg) == hash(model_config(get_default_config().model))
    assert model_config(cfg) is cfg
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.d_model = 64


def test_a_missing_key_is_a_config_error_naming_it():
    model = get_default_config().model.to_dict()
    del model["rope_theta"]
    with pytest.raises(ConfigError, match="config.model lacks rope_theta"):
        model_config(model)


def test_transformer_freezes_a_config_dict_itself():
    model = get_default_config().model
    assert Transformer(model).cfg == model_config(model)


# Checkpoints store params by these paths: renaming a module or a parameter breaks every one.
SCANNED_PATHS = {
    "blocks/attn/key/kernel": (2, 32, 2, 8),
    "blocks/attn/out/kernel": (2, 4, 8, 32),
    "blocks/attn/query/kernel": (2, 32, 4, 8),
    "blocks/attn/value/kernel": (2, 32, 2, 8),
    "blocks/attn_norm/scale": (2, 32),
    "blocks/mlp/wi_gate/kernel": (2, 32, 64),
    "blocks/mlp/wi_up/kernel": (2, 32, 64),
    "blocks/mlp/wo/kernel": (2, 64, 32),
    "blocks/mlp_norm/scale": (2, 32),
    "embed/embedding": (97, 32),
    "final_norm/scale": (32,),
}
LOOPED_PATHS = {
    "block_0/attn/key/kernel": (32, 2, 8),
    "block_0/attn/out/kernel": (4, 8, 32),
    "block_0/attn/query/kernel": (32, 4, 8),
    "block_0/attn/value/kernel": (32, 2, 8),
    "block_0/attn_norm/bias": (32,),
    "block_0/attn_norm/scale": (32,),
    "block_0/mlp/wi/kernel": (32, 64),
    "block_0/mlp/wo/kernel": (64, 32),
    "block_0/mlp_norm/bias": (32,),
    "block_0/mlp_norm/scale": (32,),
    "embed/embedding": (97, 32),
    "final_norm/bias": (32,),
    "final_norm/scale": (32,),
    "pos/table": (32, 32),
    "unembed/kernel": (32, 97),
}
LOOPED = dict(n_layers=1, scan_layers=False, pos_encoding="learned", tie_embeddings=False)


@pytest.mark.parametrize(
    "overrides, expected",
    [(dict(), SCANNED_PATHS), (dict(LOOPED, norm="layernorm", mlp="gelu"), LOOPED_PATHS)],
)
def test_parameter_paths_and_shapes(overrides, expected):
    cfg = tiny_config(**overrides)
    shapes = jax.eval_shape(Transformer(cfg).init, jax.random.key(0), jnp.zeros((1, 4), jnp.int32))
    leaves = jax.tree_util.tree_leaves_with_path(nn.meta.unbox(shapes["params"]))
    assert {"/".join(k.key for k in path): x.shape for path, x in leaves} == expected


def test_residual_writes_start_smaller_by_sqrt_two_n_layers():
    """Attention out and MLP wo kernels have std init_std/√(2·n_layers); the others init_std."""
    cfg = tiny_config(d_model=64, d_ff=256, n_kv_heads=4, init_std=0.05)
    _, params = init_params(cfg)
    blocks = params["blocks"]
    shrunk = cfg.init_std / 2.0  # √(2·2 layers)
    np.testing.assert_allclose(np.std(blocks["attn"]["out"]["kernel"]), shrunk, rtol=0.03)
    np.testing.assert_allclose(np.std(blocks["mlp"]["wo"]["kernel"]), shrunk, rtol=0.03)
    np.testing.assert_allclose(np.std(blocks["attn"]["query"]["kernel"]), 0.05, rtol=0.03)
    np.testing.assert_allclose(np.std(blocks["mlp"]["wi_up"]["kernel"]), 0.05, rtol=0.03)
