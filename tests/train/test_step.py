"""Train-step invariants: grad-accum ≡ big batch, overfitting one batch, decay mask."""

import jax
import numpy as np

from llm_jax.config import get_default_config
from llm_jax.train.optimizer import decay_mask
from llm_jax.train.setup import build
from llm_jax.train.state import init_state
from llm_jax.train.step import make_gradient_fn


def _config(**train):
    c = get_default_config()
    c.model.update(
        vocab_size=64, d_model=32, n_layers=2, n_heads=2, n_kv_heads=2, d_ff=64, max_seq_len=16
    )
    c.data.update(seq_len=16, batch_size=8)
    c.train.update(steps=50, warmup_steps=0, lr=1e-2, **train)
    return c


def _run(config, batch, steps):
    parts = build(config, devices=jax.devices()[:1])
    state = init_state(parts.model, parts.tx, config.data.seq_len, 0, parts.state_shardings)
    losses = []
    for _ in range(steps):
        state, metrics = parts.train_step(state, batch)
        losses.append(float(metrics["loss"]))
    return state, losses


def _batch(seed=0):
    return np.random.default_rng(seed).integers(0, 64, size=(8, 17), dtype=np.int32)


def test_grad_accum_equals_big_batch():
    """Gradients of 4 micro-batches of 2 ≡ gradients of the batch of 8; so are 3 steps' losses."""
    config = _config()
    parts = build(config, devices=jax.devices()[:1])
    state = init_state(parts.model, parts.tx, config.data.seq_len, 0, parts.state_shardings)
    batch = _batch()
    grads = {}
    for k in (1, 4):
        grad_fn = jax.jit(make_gradient_fn(parts.model, _config(grad_accum=k).train))
        grads[k], metrics = grad_fn(state.params, batch)
    for a, b in zip(jax.tree.leaves(grads[1]), jax.tree.leaves(grads[4]), strict=True):
        scale = float(np.abs(a).max())
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6 * scale)
    _, losses_1 = _run(_config(grad_accum=1), batch, 3)
    _, losses_4 = _run(_config(grad_accum=4), batch, 3)
    np.testing.assert_allclose(losses_1, losses_4, rtol=1e-5)


def test_overfits_one_batch():
    _, losses = _run(_config(), _batch(), 40)
    assert losses[-1] < 0.3 * losses[0]


def test_weight_decay_only_on_kernels():
    params = {
        "embed": {"embedding": 1},
        "blocks": {"attn": {"query": {"kernel": 1}}, "attn_norm": {"scale": 1}},
        "final_norm": {"scale": 1, "bias": 1},
    }
    mask = decay_mask(params, decay_embeddings=False)
    assert mask["blocks"]["attn"]["query"]["kernel"] is True
    assert not mask["embed"]["embedding"]
    assert not mask["blocks"]["attn_norm"]["scale"] and not mask["final_norm"]["bias"]
    assert decay_mask(params, decay_embeddings=True)["embed"]["embedding"] is True
