"""Causal self-attention with grouped key/value heads (MHA, GQA, MQA) and an optional KV cache.

Masking is by position, not by index: a query at position p sees the keys at positions 0..p, and
a key at position -1 (padding, or an empty cache slot) is never seen. The same rule serves
training, prefill of left-padded prompts and one-token decoding. Packed sequences (several
examples in one row, positions restarting at 0 in each) add segment ids: a query sees only keys
of its own segment.

Every caller's positions increase along a row (within each segment, when packed), so a key after
a query in the row is never visible to it. The block-skipping path (`blocked_attention`) relies
on this to leave the upper-triangular blocks uncomputed.
"""

import flax.linen as nn
import jax
import jax.numpy as jnp

from llm_jax.model.config import ModelConfig
from llm_jax.model.layers import Einsum
from llm_jax.model.positions import rope_sin_cos, rotate

# Finite, so a row that sees no key (a padding query) gives uniform weights instead of NaN.
_MASKED = -1e30


def causal_mask(q_positions_BL, k_positions_BM, q_segments_BL=None, k_segments_BM=None):
    """True where the query may attend to the key: (B, 1, L, M); with segment ids, also only
    where both are in the same segment."""
    q = q_positions_BL[:, None, :, None]
    k = k_positions_BM[:, None, None, :]
    mask_B1LM = (k >= 0) & (k <= q)
    if q_segments_BL is None:
        return mask_B1LM
    return mask_B1LM & (q_segments_BL[:, None, :, None] == k_segments_BM[:, None, None, :])


def xla_attention(q_BLHK, k_BMGK, v_BMGK, mask_B1LM):
    """Reference einsum path; softmax in float32. Returns (out_BLHK, weights_BHLM)."""
    b, length, h, k = q_BLHK.shape
    g = k_BMGK.shape[2]
    q_BLGRK = q_BLHK.reshape(b, length, g, h // g, k)
    scores_BGRLM = jnp.einsum("blgrk,bmgk->bgrlm", q_BLGRK, k_BMGK).astype(jnp.float32)
    scores_BHLM = scores_BGRLM.reshape(b, h, length, -1) / jnp.sqrt(k).astype(jnp.float32)
    weights_BHLM = jax.nn.softmax(jnp.where(mask_B1LM, scores_BHLM, _MASKED), axis=-1)
    weights_BGRLM = weights_BHLM.reshape(b, g, h // g, length, -1).astype(v_BMGK.dtype)
    out_BLGRK = jnp.einsum("bgrlm,bmgk->blgrk", weights_BGRLM, v_BMGK)
    return out_BLGRK.reshape(b, length, h, k), weights_BHLM


def query_block(cfg: ModelConfig, length: int) -> int:
    """Query rows per block of `blocked_attention`; model.attention_block=0 picks by backend.

    On CPU, 64: XLA CPU computes and softmaxes every masked score, and blocks of 64 leave
    (n - 1) / 2n of them uncomputed at n blocks (benchmarks/RESULTS.md, "CPU profile"). On
    GPU/TPU, one block (no skipping): unmeasured there, and fused kernels exist (cudnn, auto).
    """
    if cfg.attention_block:
        return min(cfg.attention_block, length)
    return min(64, length) if jax.default_backend() == "cpu" else length


def blocked_attention(q_BLHK, k_BLGK, v_BLGK, mask_B1LL, block: int):
    """xla_attention without the blocks above the diagonal: the queries in blocks of `block`, each
    attending only to the keys up to its end. Equal to xla_attention wherever a query sees at
    least one key (a query that sees none gets uniform weights over fewer keys)."""
    length = q_BLHK.shape[1]
    outs = []
    for start in range(0, length, block):
        end = min(start + block, length)
        out_BLHK, _ = xla_attention(
            q_BLHK[:, start:end], k_BLGK[:, :end], v_BLGK[:, :end], mask_B1LL[:, :, start:end, :end]
        )
        outs.append(out_BLHK)
    return jnp.concatenate(outs, axis=1) if len(outs) > 1 else outs[0]


class Attention(nn.Module):
    """softmax(q·kᵀ/√K + causal mask)·v over H query heads sharing G key/value heads, then out."""

    cfg: ModelConfig
    decode: bool = False  # use and update the KV cache ("cache" collection)

    @nn.compact
    def __call__(self, x_BLD, positions_BL, segments_BL=None, rope=None):
        """rope: (sin, cos) at positions_BL, shared across layers (positions.rope_lookup);
        computed here when None."""
        cfg = self.cfg
        if self.decode and segments_BL is not None:
            raise ValueError("segment ids are for packed rows; the KV cache decodes one per row")
        h, g, k = cfg.n_heads, cfg.n_kv_heads, cfg.head_dim

        def project(name, heads, heads_axis):
            shape, axes = (cfg.d_model, heads, k), ("embed", heads_axis, "head_dim")
            return Einsum(cfg, "BLD,DHK->BLHK", shape, axes, cfg.init_std, name=name)(x_BLD)

        q_BLHK = project("query", h, "heads")
        k_BLGK = project("key", g, "kv_heads")
        v_BLGK = project("value", g, "kv_heads")
        if cfg.pos_encoding == "rope":
            if rope is None:
                rope = rope_sin_cos(positions_BL, k, cfg.rope_theta)
            q_BLHK, k_BLGK = rotate(q_BLHK, rope), rotate(k_BLGK, rope)
        k_BMGK, v_BMGK, k_positions_BM = k_BLGK, v_BLGK, positions_BL  # without a cache, M = L
        if self.decode:
            k_BMGK, v_BMGK, k_positions_BM = self._update_cache(k_BLGK, v_BLGK, positions_BL)
        mask_B1LM = causal_mask(positions_BL, k_positions_BM, segments_BL, segments_BL)
        out_BLHK = self._attend(q_BLHK, k_BMGK, v_BMGK, mask_B1LM)
        shape, axes = (h, k, cfg.d_model), ("heads", "head_dim", "embed")
        out = Einsum(cfg, "BLHK,HKD->BLD", shape, axes, cfg.residual_init_std, name="out")
        return out(out_BLHK)

    def _attend(self, q_BLHK, k_BMGK, v_BMGK, mask_B1LM):
        if self.cfg.attention == "xla":
            length = q_BLHK.shape[1]
            # The sown weights (inspection) and the cache's M slots need the full score matrix.
            if not self.decode and not self.is_mutable_collection("intermediates"):
                block = query_block(self.cfg, length)
                return blocked_attention(q_BLHK, k_BMGK, v_BMGK, mask_B1LM, block)
            out_BLHK, weights_BHLM = xla_attention(q_BLHK, k_BMGK, v_BMGK, mask_B1LM)
            self.sow("intermediates", "attention_weights", weights_BHLM)
            return out_BLHK
        implementation = "cudnn" if self.cfg.attention == "cudnn" else None
        return jax.nn.dot_product_attention(
            q_BLHK, k_BMGK, v_BMGK, mask=mask_B1LM, implementation=implementation
        )

    def _update_cache(self, k_BLGK, v_BLGK, positions_BL):
        """Write this call's keys/values at the cache index; return the whole cache (M slots)."""
        b, length, g, k = k_BLGK.shape
        m = self.cfg.max_seq_len
        dtype = k_BLGK.dtype
        # Not "key"/"value": those names belong to the projection submodules in this scope.
        cached_k = self.variable("cache", "cached_key", jnp.zeros, (b, m, g, k), dtype)
        cached_v = self.variable("cache", "cached_value", jnp.zeros, (b, m, g, k), dtype)
        cached_pos = self.variable("cache", "positions", lambda: jnp.full((b, m), -1, jnp.int32))
        index = self.variable("cache", "index", lambda: jnp.zeros((), jnp.int32))
        if self.is_initializing():  # init only creates the empty cache
            return k_BLGK, v_BLGK, positions_BL
        i = index.value
        cached_k.value = jax.lax.dynamic_update_slice(cached_k.value, k_BLGK, (0, i, 0, 0))
        cached_v.value = jax.lax.dynamic_update_slice(cached_v.value, v_BLGK, (0, i, 0, 0))
        pos = positions_BL.astype(jnp.int32)
        cached_pos.value = jax.lax.dynamic_update_slice(cached_pos.value, pos, (0, i))
        index.value = i + length
        return cached_k.value, cached_v.value, cached_pos.value
