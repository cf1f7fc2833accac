"""Every parameter and optimizer-state leaf is sharded as the rules say; bad meshes fail clearly."""

import math

import jax
import numpy as np
import pytest
from jax.sharding import NamedSharding

from llm_jax import sharding
from llm_jax.config import ConfigError, validate
from llm_jax.train.setup import build
from tests.sharding.helpers import config, mesh_id

# Written out by hand (not read from the code under test): parameter → logical axes, and the
# default rules table logical axis → mesh axes. Blocks are scanned, so they gain a "layers" axis.
LOGICAL = {
    ("embed", "embedding"): ("vocab", "embed"),
    ("attn", "query", "kernel"): ("embed", "heads", "head_dim"),
    ("attn", "key", "kernel"): ("embed", "kv_heads", "head_dim"),
    ("attn", "value", "kernel"): ("embed", "kv_heads", "head_dim"),
    ("attn", "out", "kernel"): ("heads", "head_dim", "embed"),
    ("attn_norm", "scale"): ("embed",),
    ("mlp_norm", "scale"): ("embed",),
    ("mlp", "wi_gate", "kernel"): ("embed", "mlp"),
    ("mlp", "wi_up", "kernel"): ("embed", "mlp"),
    ("mlp", "wo", "kernel"): ("mlp", "embed"),
    ("final_norm", "scale"): ("embed",),
}
RULES = {
    "embed": ("fsdp",),
    "mlp": ("tensor",),
    "heads": ("tensor",),
    "kv_heads": ("tensor",),
    "vocab": ("tensor",),
}
MESHES = [(8, 1, 1), (1, 8, 1), (2, 4, 1), (2, 2, 2), (1, 1, 8)]


def expected_axes(path) -> tuple:
    """Mesh axes per dimension of a parameter (or its Adam moment) at `path`; () if a scalar."""
    names = tuple(k.key for k in path if isinstance(k, jax.tree_util.DictKey))
    if not names:
        return ()  # step, rng, Adam's count: replicated
    logical = ("layers", *LOGICAL[names[1:]]) if names[0] == "blocks" else LOGICAL[names]
    return tuple(RULES.get(name, ()) for name in logical)


def normalised(spec, ndim) -> tuple:
    """PartitionSpec entries as tuples of axis names, padded to ndim."""
    entries = [() if e is None else (e,) if isinstance(e, str) else tuple(e) for e in spec]
    return tuple(entries + [()] * (ndim - len(entries)))


@pytest.mark.parametrize("mesh", MESHES, ids=mesh_id)
def test_every_leaf_is_sharded_as_the_rules_say(runs, mesh):
    run = runs[mesh]
    sizes = dict(run.parts.mesh.shape)
    leaves = jax.tree_util.tree_leaves_with_path(run.state)  # the state after training steps
    assert len(leaves) > 30
    for path, leaf in leaves:
        where = jax.tree_util.keystr(path)
        axes = expected_axes(path) if leaf.ndim else ()
        assert isinstance(leaf.sharding, NamedSharding), where
        assert normalised(leaf.sharding.spec, leaf.ndim) == (axes or ((),) * leaf.ndim), where
        parts = [math.prod(sizes[a] for a in dim_axes) for dim_axes in axes] or [1] * leaf.ndim
        shard_shape = tuple(n // k for n, k in zip(leaf.shape, parts, strict=True))
        assert len(leaf.addressable_shards) == 8, where
        for shard in leaf.addressable_shards:
            assert shard.data.shape == shard_shape, where
        distinct = {str(s.index) for s in leaf.addressable_shards}
        assert len(distinct) == math.prod(parts), where  # each device holds its own slice


def test_fsdp_shards_are_an_eighth(runs):
    """On (1, 8, 1) every parameter and both Adam moments keep 1/8 of each tensor per device."""
    state = runs[1, 8, 1].state
    tensors = jax.tree.leaves((state.params, state.opt_state))
    big = [x for x in tensors if x.ndim]
    assert len(big) == 3 * len(jax.tree.leaves(state.params))  # params, mu, nu
    for leaf in big:
        assert {s.data.size for s in leaf.addressable_shards} == {leaf.size // 8}


def test_batch_is_split_over_data_and_fsdp(runs):
    parts = runs[2, 2, 2].parts
    assert normalised(parts.batch_sharding.spec, 2) == (("data", "fsdp"), ())
    batch = jax.device_put(np.zeros((8, 17), np.int32), parts.batch_sharding)
    assert {s.data.shape for s in batch.addressable_shards} == {(2, 17)}


@pytest.mark.parametrize(
    "mesh, message",
    [
        ((3, 1, 1), "3 devices but 8 are available"),
        ((-1, -1, 1), "at most one -1"),
        ((0, 8, 1), "must be positive"),
        ((-1, 3, 1), "do not divide the 8 devices"),
    ],
)
def test_bad_mesh_is_a_clear_error(mesh, message):
    with pytest.raises(ValueError, match=message):
        build(config(*mesh), devices=jax.devices())
    with pytest.raises(ConfigError, match=message):
        validate(config(*mesh), n_devices=8)


@pytest.mark.parametrize(
    "mesh, model, names",
    [
        ((1, 1, 8), dict(n_kv_heads=2), r"\['key'\]\['kernel'\] dim 2 of size 2 .*'tensor'"),
        ((1, 8, 1), dict(d_model=36, n_heads=6, n_kv_heads=6), r"dim 1 of size 36 .*'fsdp'"),
    ],
)
def test_indivisible_dimension_is_a_clear_error(mesh, model, names):
    with pytest.raises(ValueError, match="indivisible sharding") as error:
        build(config(*mesh, **model), devices=jax.devices())
    assert error.match(names)
    assert "mesh.rules" in str(error.value)  # says how to fix it


def test_indivisible_batch_is_a_clear_error():
    c = config(8, 1, 1)
    c.data.batch_size = 12
    with pytest.raises(ConfigError, match="data.batch_size=12 is not divisible"):
        validate(c, n_devices=8)


def test_unknown_mesh_axis_in_rules_is_a_clear_error():
    c = config()
    c.mesh.rules.embed = "fsdp,model"
    with pytest.raises(ValueError, match=r"mesh.rules.embed.*'model'"):
        sharding.logical_rules(c.mesh)
