"""Norms and MLPs; every parameter carries logical axis names (docs/design.md §3.3)."""

import flax.linen as nn
import jax
import jax.numpy as jnp


def dense_init(std: float, axes: tuple):
    return nn.with_logical_partitioning(nn.initializers.normal(std), axes)


class Einsum(nn.Module):
    """A bias-free projection: einsum of the input with a kernel of named logical axes."""

    equation: str  # e.g. "BLD,DHK->BLHK"
    shape: tuple  # kernel shape
    axes: tuple  # kernel logical axis names
    init_std: float
    dtype: jnp.dtype
    param_dtype: jnp.dtype

    @nn.compact
    def __call__(self, x):
        init = dense_init(self.init_std, self.axes)
        kernel = self.param("kernel", init, self.shape, self.param_dtype)
        return jnp.einsum(self.equation, x.astype(self.dtype), kernel.astype(self.dtype))


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
        d, f = x_BLD.shape[-1], self.d_ff
        types = dict(dtype=self.dtype, param_dtype=self.param_dtype)

        def up(name):
            return Einsum(
                "BLD,DF->BLF", (d, f), ("embed", "mlp"), self.init_std, **types, name=name
            )(x_BLD)

        h_BLF = nn.silu(up("wi_gate")) * up("wi_up") if self.kind == "swiglu" else nn.gelu(up("wi"))
        return Einsum("BLF,FD->BLD", (f, d), ("mlp", "embed"), self.out_std, **types, name="wo")(
            h_BLF
        )
