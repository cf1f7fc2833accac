"""Model invariants: shapes, causality, scan ≡ loop, remat ≡ none, GQA ≡ repeated-KV MHA, dtypes."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from llm_jax.model import Transformer
from tests.model.helpers import init_params, random_tokens, tiny_config

VARIANTS = [
    dict(),
    dict(pos_encoding="sinusoidal", mlp="gelu", norm="layernorm"),
    dict(pos_encoding="learned", tie_embeddings=False),
    dict(pos_encoding="none", n_kv_heads=1),
]


@pytest.mark.parametrize("overrides", VARIANTS)
def test_shapes_dtypes_finite(overrides):
    cfg = tiny_config(**overrides)
    model, params = init_params(cfg)
    logits = model.apply({"params": params}, random_tokens(cfg))
    assert logits.shape == (2, 16, cfg.vocab_size)
    assert logits.dtype == jnp.float32
    assert np.isfinite(np.asarray(logits)).all()


# Additive encodings cannot leak the future; rope (inside attention) and none/MQA are the risks.
@pytest.mark.parametrize("overrides", [VARIANTS[0], VARIANTS[3]])
def test_causality_gradient(overrides):
    """d logits[:, i] / d embedded[:, j] is exactly zero for every j > i, and not for j ≤ i."""
    cfg = tiny_config(**overrides)
    model, params = init_params(cfg)
    tokens = random_tokens(cfg, batch=1)
    variables = model.init(jax.random.PRNGKey(0), tokens)
    perturbation = jax.tree.map(jnp.zeros_like, variables["perturbations"])
    i = 7

    def out(p):
        logits = model.apply({"params": params, "perturbations": p}, tokens)
        return logits[:, i].sum()

    grad_BLD = jax.grad(out)(perturbation)["embedded"]
    per_position = np.abs(np.asarray(grad_BLD)).sum(axis=(0, 2))
    assert (per_position[i + 1 :] == 0).all()
    assert (per_position[: i + 1] > 0).all()


def _unstack(params, n_layers):
    """Scanned params (blocks stacked on axis 0) → per-layer block_i params."""
    out = {k: v for k, v in params.items() if k != "blocks"}
    for i in range(n_layers):
        out[f"block_{i}"] = jax.tree.map(lambda x, i=i: x[i], params["blocks"])
    return out


@pytest.mark.parametrize("remat", ["none", "full", "dots_saveable"])
def test_scan_equals_loop_and_remat_equals_none(remat):
    scanned = tiny_config(n_layers=3, scan_layers=True, remat=remat)
    looped = tiny_config(n_layers=3, scan_layers=False, remat="none")
    model_s, params_s = init_params(scanned)
    params_l = _unstack(params_s, 3)
    tokens = random_tokens(scanned)

    def loss(model, params):
        return model.apply({"params": params}, tokens).std()

    value_s, grads_s = jax.value_and_grad(lambda p: loss(model_s, p))(params_s)
    value_l, grads_l = jax.value_and_grad(lambda p: loss(Transformer(looped), p))(params_l)
    np.testing.assert_allclose(value_s, value_l, rtol=1e-5)
    for a, b in zip(jax.tree.leaves(_unstack(grads_s, 3)), jax.tree.leaves(grads_l), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)


def test_gqa_equals_mha_with_repeated_kv_heads():
    """GQA with G kv heads ≡ MHA whose kv heads are each GQA head repeated H/G times."""
    gqa = tiny_config(n_heads=4, n_kv_heads=2)
    mha = tiny_config(n_heads=4, n_kv_heads=4)
    model_g, params_g = init_params(gqa)
    params_m = jax.tree.map(lambda x: x, params_g)
    for name in ("key", "value"):
        kernel = params_g["blocks"]["attn"][name]["kernel"]  # (layers, D, G, K)
        params_m["blocks"]["attn"][name]["kernel"] = jnp.repeat(kernel, 2, axis=2)
    tokens = random_tokens(gqa)
    np.testing.assert_allclose(
        model_g.apply({"params": params_g}, tokens),
        Transformer(mha).apply({"params": params_m}, tokens),
        rtol=1e-5,
        atol=1e-6,
    )


def test_each_positional_encoding_changes_the_output():
    tokens = random_tokens(tiny_config())
    outputs = {}
    for pe in ("rope", "sinusoidal", "learned", "none"):
        model, params = init_params(tiny_config(pos_encoding=pe))
        outputs[pe] = np.asarray(model.apply({"params": params}, tokens))
    names = list(outputs)
    for a in range(len(names)):
        for b in range(a + 1, len(names)):
            assert np.abs(outputs[names[a]] - outputs[names[b]]).max() > 1e-4, names[
                a : b + 1
            ]  # far above float noise


def test_bf16_compute_with_fp32_params():
    cfg = tiny_config(dtype="bfloat16", param_dtype="float32")
    model, params = init_params(cfg)
    assert all(x.dtype == jnp.float32 for x in jax.tree.leaves(params))
    logits = model.apply({"params": params}, random_tokens(cfg))
    reference = Transformer(tiny_config()).apply({"params": params}, random_tokens(cfg))
    assert logits.dtype == jnp.float32 and np.isfinite(np.asarray(logits)).all()
    np.testing.assert_allclose(logits, reference, atol=0.1)  # bf16 rounding only


def test_dot_product_attention_path_matches_reference():
    model_x, params = init_params(tiny_config(attention="xla"))
    tokens = random_tokens(tiny_config())
    auto = Transformer(tiny_config(attention="auto")).apply({"params": params}, tokens)
    np.testing.assert_allclose(
        auto, model_x.apply({"params": params}, tokens), rtol=1e-5, atol=1e-5
    )
