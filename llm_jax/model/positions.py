"""Positional encodings: RoPE (rotates q and k), sinusoidal and learned (added to embeddings)."""

import functools

import flax.linen as nn
import jax.numpy as jnp
import numpy as np

from llm_jax.model.config import ModelConfig


def rope_angles(positions_BL: jnp.ndarray, head_dim: int, theta: float) -> jnp.ndarray:
    """Angle pos · θ^(-2i/K) for each of the K/2 rotated pairs: shape (B, L, K/2), float32."""
    inv_freq = theta ** (-jnp.arange(0, head_dim, 2, dtype=jnp.float32) / head_dim)
    return positions_BL.astype(jnp.float32)[:, :, None] * inv_freq[None, None, :]


def rope_sin_cos(positions_BL: jnp.ndarray, head_dim: int, theta: float) -> tuple:
    """sin and cos of the angles, each (B, L, 1, K/2)."""
    angles = rope_angles(positions_BL, head_dim, theta)[:, :, None, :]
    return jnp.sin(angles), jnp.cos(angles)


@functools.lru_cache(maxsize=16)
def _rope_table(n_positions: int, head_dim: int, theta: float) -> tuple:
    """rope_sin_cos of positions 0..n-1, in numpy (n, K/2): float32 angles, as rope_angles."""
    inv_freq = np.float32(theta) ** (-np.arange(0, head_dim, 2, dtype=np.float32) / head_dim)
    angles = np.arange(n_positions, dtype=np.float32)[:, None] * inv_freq.astype(np.float32)
    return np.sin(angles), np.cos(angles)


def rope_lookup(positions_BL: jnp.ndarray, n_positions: int, head_dim: int, theta: float) -> tuple:
    """rope_sin_cos as rows of a table of positions 0..n-1 (a negative position, padding, reads
    row 0), for the model to share across layers.

    The table is a constant of the program. Computed inside it instead, XLA CPU fuses a copy of
    sin and cos into every rotation, forward and backward, and evaluates them per head: 16 of
    each for 4 layers, ~5% of the d256 step's time (benchmarks/RESULTS.md, "CPU profile").
    """
    sin, cos = _rope_table(n_positions, head_dim, theta)
    index_BL = jnp.clip(positions_BL, 0, n_positions - 1)
    return tuple(jnp.asarray(table)[index_BL][:, :, None, :] for table in (sin, cos))


def rotate(x_BLHK: jnp.ndarray, sin_cos: tuple) -> jnp.ndarray:
    """Rotate pairs (x[i], x[i + K/2]) by their angle (the "rotate half" layout), in float32."""
    sin, cos = sin_cos
    x1, x2 = jnp.split(x_BLHK.astype(jnp.float32), 2, axis=-1)
    rotated = jnp.concatenate([x1 * cos - x2 * sin, x2 * cos + x1 * sin], axis=-1)
    return rotated.astype(x_BLHK.dtype)


def apply_rope(x_BLHK: jnp.ndarray, positions_BL: jnp.ndarray, theta: float) -> jnp.ndarray:
    """RoPE at these positions: `rotate` by `rope_sin_cos`."""
    return rotate(x_BLHK, rope_sin_cos(positions_BL, x_BLHK.shape[-1], theta))


def sinusoidal(positions_BL: jnp.ndarray, d_model: int) -> jnp.ndarray:
    """Vaswani et al.: PE[p, 2i] = sin(p / 10000^(2i/D)), PE[p, 2i+1] = cos(same)."""
    inv_freq = 10_000.0 ** (-jnp.arange(0, d_model, 2, dtype=jnp.float32) / d_model)
    angles = positions_BL.astype(jnp.float32)[:, :, None] * inv_freq[None, None, :]
    pe = jnp.stack([jnp.sin(angles), jnp.cos(angles)], axis=-1)  # interleave sin/cos
    return pe.reshape(*positions_BL.shape, -1)[..., :d_model]


class AbsolutePositions(nn.Module):
    """The position vectors added to the token embeddings: sinusoidal, or a learned table."""

    cfg: ModelConfig

    @nn.compact
    def __call__(self, positions_BL: jnp.ndarray) -> jnp.ndarray:
        cfg = self.cfg
        if cfg.pos_encoding == "sinusoidal":
            return sinusoidal(positions_BL, cfg.d_model).astype(jnp.dtype(cfg.dtype))
        init = nn.with_logical_partitioning(nn.initializers.normal(cfg.init_std), (None, "embed"))
        shape = (cfg.max_seq_len, cfg.d_model)
        table = self.param("table", init, shape, jnp.dtype(cfg.param_dtype))
        positions_BL = jnp.clip(positions_BL, 0, cfg.max_seq_len - 1)
        return jnp.take(table, positions_BL, axis=0).astype(jnp.dtype(cfg.dtype))
