"""Norms and MLPs; every parameter carries logical axis names (DESIGN §3.3)."""

import flax.linen as nn
import jax
import jax.numpy as jnp


def dense_init(std: float, axes: tuple):
    return nn.with_logical_partitioning(nn.initializers.normal(std), axes)


class Norm(nn.Module):
    """RMSNorm (scale only) or LayerNorm (scale and bias), computed in float32."""

    kind: str
    eps: float
    param_dtype: jnp.dtype

    @nn.compact
    def __call__(self, x_BLD: jnp.ndarray) -> jnp.ndarray:
        d = x_BLD.shape[-1]
        ones = nn.with_logical_partitioning(nn.initializers.ones, ("embed",))
        scale = self.param("scale", ones, (d,), self.param_dtype)
        x = x_BLD.astype(jnp.float32)
        if self.kind == "layernorm":
            x = x - x.mean(-1, keepdims=True)
        y = x * jax.lax.rsqrt((x * x).mean(-1, keepdims=True) + self.eps) * scale
        if self.kind == "layernorm":
            zeros = nn.with_logical_partitioning(nn.initializers.zeros, ("embed",))
            y = y + self.param("bias", zeros, (d,), self.param_dtype)
        return y.astype(x_BLD.dtype)


class Mlp(nn.Module):
    """SwiGLU (Shazeer 2020) or GELU MLP, no biases."""

    kind: str
    d_ff: int
    init_std: float
    out_std: float
    dtype: jnp.dtype
    param_dtype: jnp.dtype

    @nn.compact
    def __call__(self, x_BLD: jnp.ndarray) -> jnp.ndarray:
        d = x_BLD.shape[-1]

        def dense(name, features, std, axes):
            return nn.Dense(
                features, use_bias=False, kernel_init=dense_init(std, axes),
                dtype=self.dtype, param_dtype=self.param_dtype, name=name,
            )

        if self.kind == "swiglu":
            gate_BLF = dense("wi_gate", self.d_ff, self.init_std, ("embed", "mlp"))(x_BLD)
            up_BLF = dense("wi_up", self.d_ff, self.init_std, ("embed", "mlp"))(x_BLD)
            h_BLF = nn.silu(gate_BLF) * up_BLF
        else:
            h_BLF = nn.gelu(dense("wi", self.d_ff, self.init_std, ("embed", "mlp"))(x_BLD))
        return dense("wo", d, self.out_std, ("mlp", "embed"))(h_BLF)
