"""A smoke-like config whose sharded dimensions all divide by 8, and a few-step runner."""

import jax
import numpy as np

from llm_jax.config import get_default_config
from llm_jax.train.setup import build
from llm_jax.train.state import init_state

VOCAB, SEQ, BATCH = 64, 16, 8
AXES = ("data", "fsdp", "tensor")


def config(data=1, fsdp=1, tensor=1, **model):
    """d_model, heads, kv_heads, d_ff and vocab are all multiples of 8: any 8-device mesh fits."""
    c = get_default_config()
    c.model.update(
        vocab_size=VOCAB,
        d_model=64,
        n_layers=2,
        n_heads=8,
        n_kv_heads=8,
        d_ff=128,
        max_seq_len=SEQ,
    )
    c.model.update(**model)
    c.data.update(seq_len=SEQ, batch_size=BATCH)
    # Adam divides each gradient by its own RMS, so an element whose gradient is ~1e-10 (query and
    # key kernels at init) moves by a reduction-order-sized fraction of lr. eps=1e-6 keeps those
    # elements from amplifying float32 summation noise; the gradients themselves agree to <1e-6.
    c.train.update(steps=20, warmup_steps=2, lr=3e-3, eps=1e-6)
    c.mesh.update(data=data, fsdp=fsdp, tensor=tensor)
    return c


def mesh_id(mesh) -> str:
    return "x".join(map(str, mesh))


def batches(n, seed=0):
    """n fixed random (BATCH, SEQ + 1) token batches."""
    rng = np.random.default_rng(seed)
    return [rng.integers(0, VOCAB, size=(BATCH, SEQ + 1), dtype=np.int32) for _ in range(n)]


def build_on(c, n_devices):
    """Parts for the first n_devices devices, with the state initialised directly sharded."""
    parts = build(c, devices=jax.devices()[:n_devices])
    state = init_state(parts.model, parts.tx, c.data.seq_len, c.train.seed, parts.state_shardings)
    return parts, state


def train(parts, state, token_batches):
    """(final state, losses) after one step per batch."""
    losses = []
    for tokens in token_batches:
        batch = jax.device_put(tokens, parts.batch_sharding)
        state, metrics = parts.train_step(state, batch)
        losses.append(float(metrics["loss"]))
    return state, losses
