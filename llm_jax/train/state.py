"""Train state, initialised directly sharded: eval_shape → shardings → jitted init
(docs/design.md §3.4)."""

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
from flax import struct

from llm_jax.sharding import check_divisible, strip_boxes, tree_shardings
from llm_jax.train.compile_options import ONCE, compile_options


@struct.dataclass
class TrainState:
    step: jnp.ndarray  # optimizer steps taken; also the data position (batches are f(seed, step))
    params: dict
    opt_state: object
    rng: jnp.ndarray  # raw uint32 key, for stochastic layers; checkpointed with the rest


def _init_boxed(model, tx, seq_len, rng):
    """State whose parameters (and so optimizer moments) still carry logical axis names."""
    params = model.init(rng, jnp.zeros((1, seq_len), jnp.int32))["params"]
    return TrainState(jnp.zeros((), jnp.int32), params, tx.init(params), rng)


def state_layout(model, tx, seq_len, mesh, rules):
    """(abstract state, shardings) without allocating anything."""
    boxed = jax.eval_shape(
        functools.partial(_init_boxed, model, tx, seq_len), jax.random.PRNGKey(0)
    )
    shardings = tree_shardings(nn.get_partition_spec(boxed), mesh, rules)
    abstract = strip_boxes(boxed)
    check_divisible(abstract, shardings)
    return abstract, shardings


def init_program(model, tx, seq_len, shardings):
    """The jitted rng → TrainState: every leaf is created on its own shards; nothing is
    materialised on one device first."""
    device = next(iter(jax.tree.leaves(shardings)[0].device_set))
    return jax.jit(
        lambda rng: nn.unbox(_init_boxed(model, tx, seq_len, rng)),
        out_shardings=shardings,
        compiler_options=compile_options(ONCE, device),
    )


def init_state(model, tx, seq_len, seed, shardings):
    return init_program(model, tx, seq_len, shardings)(jax.random.PRNGKey(seed))


def with_shardings(abstract, shardings):
    """ShapeDtypeStructs carrying their target shardings (restore targets)."""
    return jax.tree.map(
        lambda x, s: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=s), abstract, shardings
    )
