"""FLOP-accounting conventions, selectable by name, as pure functions of the model config.

Parameter counts come from llm_jax.model.size (tested against the real tree); this module only adds
conventions on top. A scaling fit is only meaningful within one convention, so every run stores
all of them (all_conventions) and the fit names the one it used.

- "6N":          6 · total params (Hoffmann et al.'s 6ND with N the total count)
- "6N_nonembed": 6 · non-embedding params (Kaplan et al. 2020)
- "6N_attn":     6N plus the attention term 6·n_layers·seq_len·d_model (Kaplan's C_forward ×3)
- "chinchilla":  Hoffmann et al. Appendix F, term by term, ×3 for forward + backward; switches
                 include_embedding / include_logits drop the vocabulary matmuls.

Chinchilla Table A4's ratios (1.03 … 0.99 vs 6ND) are reproduced only with both vocabulary terms
left out and N their total count, which includes one vocabulary table and Transformer-XL relative
position projections (tests/scaling/test_flops.py).
"""

from llm_jax.model.size import attention_flops_per_token, param_counts


def chinchilla_forward_terms(cfg, seq_len: int) -> dict:
    """Forward FLOPs per token of each Appendix F term (per layer terms × n_layers)."""
    d, heads, kv_heads = cfg.d_model, cfg.n_heads, cfg.n_kv_heads
    head_dim = d // heads
    mlp_mats = 3 if cfg.mlp == "swiglu" else 2  # SwiGLU has a gate matrix besides in/out
    layer = {
        "qkv": 2 * d * head_dim * (heads + 2 * kv_heads),
        "attention_logits": 2 * seq_len * head_dim * heads,
        "softmax": 3 * heads * seq_len,
        "value_reduction": 2 * seq_len * head_dim * heads,
        "output_projection": 2 * head_dim * heads * d,
        "dense": 2 * mlp_mats * d * cfg.d_ff,
    }
    terms = {k: cfg.n_layers * v for k, v in layer.items()}
    terms["embedding"] = 2 * cfg.vocab_size * d  # the paper counts the lookup as a one-hot matmul
    terms["final_logits"] = 2 * d * cfg.vocab_size
    return terms


def chinchilla_flops_per_token(
    cfg, seq_len: int, include_embedding: bool = True, include_logits: bool = True
) -> int:
    """Training FLOPs per token by Hoffmann et al. Appendix F (backward = 2 × forward)."""
    terms = chinchilla_forward_terms(cfg, seq_len)
    if not include_embedding:
        terms.pop("embedding")
    if not include_logits:
        terms.pop("final_logits")
    return 3 * sum(terms.values())


def _six_n(cfg, seq_len: int) -> int:
    return 6 * param_counts(cfg)["total"]


def _six_n_nonembed(cfg, seq_len: int) -> int:
    return 6 * param_counts(cfg)["non_embedding"]


def _six_n_attn(cfg, seq_len: int) -> int:
    return _six_n(cfg, seq_len) + attention_flops_per_token(cfg, seq_len)


CONVENTIONS = {
    "6N": _six_n,
    "6N_nonembed": _six_n_nonembed,
    "6N_attn": _six_n_attn,
    "chinchilla": chinchilla_flops_per_token,
}


def flops_per_token(cfg, seq_len: int, convention: str = "6N", **switches) -> int:
    """Training FLOPs per token under a named convention (switches only for "chinchilla")."""
    if convention not in CONVENTIONS:
        raise ValueError(
            f"unknown FLOPs convention {convention!r}; choose from {list(CONVENTIONS)}"
        )
    if switches and convention != "chinchilla":
        raise ValueError(f"convention {convention!r} takes no switches, got {sorted(switches)}")
    return CONVENTIONS[convention](cfg, seq_len, **switches)


def all_conventions(cfg, seq_len: int) -> dict:
    """Every parameter count and FLOPs/token convention for a config: what a run stores."""
    out = {f"params_{k}": v for k, v in param_counts(cfg).items()}
    for name in CONVENTIONS:
        out[f"flops_per_token_{name}"] = flops_per_token(cfg, seq_len, name)
    out["flops_per_token_chinchilla_no_vocab"] = chinchilla_flops_per_token(
        cfg, seq_len, include_embedding=False, include_logits=False
    )
    out["seq_len"] = seq_len
    return out


def xla_forward_flops(cfg, seq_len: int, batch: int = 1) -> float:
    """FLOPs XLA's cost analysis reports for the compiled forward pass (nothing big allocated)."""
    import dataclasses

    import jax
    import jax.numpy as jnp

    from llm_jax.model import Transformer, model_config

    # Cost analysis counts a while loop's body once, so nn.scan over layers would hide
    # n_layers - 1 of them: unroll for the count (same FLOPs when run). One attention block:
    # the analytic count is of the full score matrix, which CPU's block skipping computes ~60% of.
    full = dict(scan_layers=False, attention_block=seq_len)
    model = Transformer(dataclasses.replace(model_config(cfg), **full))
    tokens = jax.ShapeDtypeStruct((batch, seq_len), jnp.int32)
    params = jax.eval_shape(model.init, jax.random.key(0), tokens)
    compiled = jax.jit(model.apply).lower(params, tokens).compile()
    cost = compiled.cost_analysis()
    cost = cost[0] if isinstance(cost, list | tuple) else cost
    return float(cost["flops"])


def xla_cross_check(cfg, seq_len: int, batch: int = 1) -> dict:
    """Analytic forward FLOPs (no embedding matmul: XLA does a gather) vs XLA's count."""
    analytic = batch * seq_len * chinchilla_flops_per_token(cfg, seq_len, include_embedding=False)
    analytic /= 3
    xla = xla_forward_flops(cfg, seq_len, batch)
    return {"analytic": analytic, "xla": xla, "rel_diff": (xla - analytic) / analytic}
