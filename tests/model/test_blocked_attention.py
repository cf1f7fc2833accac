"""The causal block-skipping attention equals the full reference: outputs and gradients."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from llm_jax.model import Transformer
from llm_jax.model.attention import blocked_attention, causal_mask, query_block, xla_attention
from tests.model.helpers import init_params, random_tokens, tiny_config

B, L, H, K = 2, 24, 4, 8


def packed_rows():
    """Positions and segment ids of two packed rows; the second ends in padding (position -1)."""
    positions = np.array(
        [list(range(10)) + list(range(14)), list(range(7)) + list(range(12)) + [-1] * 5]
    )
    segments = np.array([[1] * 10 + [2] * 14, [1] * 7 + [2] * 12 + [0] * 5])
    return jnp.asarray(positions), jnp.asarray(segments)


def qkv(g, seed=0):
    keys = jax.random.split(jax.random.PRNGKey(seed), 4)
    q = jax.random.normal(keys[0], (B, L, H, K))
    k, v = (jax.random.normal(key, (B, L, g, K)) for key in keys[1:3])
    return q, k, v, jax.random.normal(keys[3], (B, L, H, K))


# g: MHA 4, GQA 2, MQA 1; block: dividing L, not dividing it, one block.
@pytest.mark.parametrize(
    "g, block, packed", [(4, 8, False), (2, 10, False), (2, 8, True), (1, 10, True), (2, 24, True)]
)
def test_blocked_equals_full_outputs_and_gradients(g, block, packed):
    q, k, v, cotangent = qkv(g)
    if packed:
        positions, segments = packed_rows()
    else:
        positions, segments = jnp.broadcast_to(jnp.arange(L), (B, L)), None
    mask = causal_mask(positions, positions, segments, segments)
    valid = (positions >= 0)[:, :, None, None]  # a query that sees no key has no defined output
    cotangent = jnp.where(valid, cotangent, 0.0)

    def loss(attend, q, k, v):
        out = attend(q, k, v)
        return jnp.sum(out * cotangent), out

    def full(q, k, v):
        return xla_attention(q, k, v, mask)[0]

    def blocked(q, k, v):
        return blocked_attention(q, k, v, mask, block)

    grad = jax.jit(jax.grad(loss, argnums=(1, 2, 3), has_aux=True), static_argnums=0)
    (grads_full, out_full), (grads_blocked, out_blocked) = (
        grad(full, q, k, v),
        grad(blocked, q, k, v),
    )
    np.testing.assert_allclose(
        jnp.where(valid, out_blocked, 0), jnp.where(valid, out_full, 0), rtol=1e-5, atol=1e-5
    )
    for a, b in zip(grads_blocked, grads_full, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_transformer_blocked_equals_one_block_with_segments():
    """The model through the blocked path (blocks of 8) against one block: logits and grads."""
    positions, segments = packed_rows()
    blocked_cfg, full_cfg = tiny_config(attention_block=8), tiny_config(attention_block=L)
    _, params = init_params(full_cfg)
    tokens = random_tokens(full_cfg, batch=B, length=L)
    weight = (positions >= 0).astype(jnp.float32)[:, :, None]

    def loss(cfg, params):
        logits = Transformer(cfg).apply({"params": params}, tokens, positions, segments)
        return jnp.sum(jax.nn.log_softmax(logits)[..., 0:3] * weight), logits

    (_, logits_b), grads_b = jax.value_and_grad(lambda p: loss(blocked_cfg, p), has_aux=True)(
        params
    )
    (_, logits_f), grads_f = jax.value_and_grad(lambda p: loss(full_cfg, p), has_aux=True)(params)
    np.testing.assert_allclose(logits_b * weight, logits_f * weight, rtol=1e-5, atol=1e-5)
    for a, b in zip(jax.tree.leaves(grads_b), jax.tree.leaves(grads_f), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


def test_query_block_by_backend_and_override():
    assert query_block(tiny_config(), 256) == (64 if jax.default_backend() == "cpu" else 256)
    assert query_block(tiny_config(), 16) == 16  # never more than the sequence
    assert query_block(tiny_config(attention_block=32), 256) == 32


def test_sown_weights_still_come_from_the_full_path():
    cfg = tiny_config(attention_block=4)
    model, params = init_params(cfg)
    tokens = random_tokens(cfg)
    _, state = model.apply({"params": params}, tokens, mutable=["intermediates"])
    weights = jax.tree.leaves(state["intermediates"])[0]
    assert weights.shape[-2:] == (16, 16)
    np.testing.assert_allclose(jnp.sum(weights, -1), 1.0, rtol=1e-5)
