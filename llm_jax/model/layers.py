"""The projection, norm and MLP layers; every parameter carries logical axis names for sharding."""

import math

import flax.linen as nn
import jax
import jax.numpy as jnp

from llm_jax.model.config import ModelConfig


def dense_init(std: float, axes: tuple):
    return nn.with_logical_partitioning(nn.initializers.normal(std), axes)


def contracted_dims(equation: str) -> int:
    """How many leading kernel dims an equation contracts: "BLHK,HKD->BLD" → 2.

    The form is fixed: input = (batch dims, contracted), kernel = (contracted, out),
    output = (batch dims, out).
    """
    inputs, output = equation.split("->")
    x, kernel = inputs.split(",")
    n = sum(1 for c in kernel if c in x)
    batch = x[: len(x) - n]
    if kernel[:n] != x[len(x) - n :] or output != batch + kernel[n:]:
        raise ValueError(
            f"{equation!r}: expected (batch, contracted),(contracted, out)->(batch, out)"
        )
    return n


class Einsum(nn.Module):
    """A bias-free projection: the input's trailing dims contracted with a kernel's leading dims.

    Computed as one 2-D matmul, (tokens, contracted) @ (contracted, out): the weight gradient is
    then a plain transposed-operand matmul. Written as an einsum contracting two batch dims, XLA
    canonicalises the weight gradient by physically transposing the output gradient first, and
    on CPU that transpose cost a third of the train step (benchmarks/RESULTS.md, "CPU profile").
    """

    cfg: ModelConfig  # gives the compute and parameter dtypes
    equation: str  # e.g. "BLD,DHK->BLHK"
    shape: tuple  # kernel shape
    axes: tuple  # kernel logical axis names
    init_std: float

    @nn.compact
    def __call__(self, x):
        dtype = jnp.dtype(self.cfg.dtype)
        init = dense_init(self.init_std, self.axes)
        kernel = self.param("kernel", init, self.shape, jnp.dtype(self.cfg.param_dtype))
        n = contracted_dims(self.equation)
        k = math.prod(self.shape[:n])
        y = x.astype(dtype).reshape(-1, k) @ kernel.astype(dtype).reshape(k, -1)
        return y.reshape(*x.shape[: x.ndim - n], *self.shape[n:])


class Norm(nn.Module):
    """RMSNorm (scale only) or LayerNorm (scale and bias) over D, computed in float32."""

    cfg: ModelConfig

    @nn.compact
    def __call__(self, x_BLD: jnp.ndarray) -> jnp.ndarray:
        cfg = self.cfg
        shape, param_dtype = (cfg.d_model,), jnp.dtype(cfg.param_dtype)
        ones = nn.with_logical_partitioning(nn.initializers.ones, ("embed",))
        scale_D = self.param("scale", ones, shape, param_dtype)
        dtype, x_BLD = x_BLD.dtype, x_BLD.astype(jnp.float32)
        if cfg.norm == "layernorm":
            x_BLD = x_BLD - x_BLD.mean(-1, keepdims=True)
        rms_inverse = jax.lax.rsqrt((x_BLD * x_BLD).mean(-1, keepdims=True) + cfg.norm_eps)
        y_BLD = x_BLD * rms_inverse * scale_D[None, None, :]
        if cfg.norm == "layernorm":
            zeros = nn.with_logical_partitioning(nn.initializers.zeros, ("embed",))
            y_BLD = y_BLD + self.param("bias", zeros, shape, param_dtype)[None, None, :]
        return y_BLD.astype(dtype)


class Mlp(nn.Module):
    """SwiGLU (Shazeer 2020) or GELU MLP, no biases: wo(act(wi(x)))."""

    cfg: ModelConfig

    @nn.compact
    def __call__(self, x_BLD: jnp.ndarray) -> jnp.ndarray:
        cfg = self.cfg
        d, f = cfg.d_model, cfg.d_ff

        def wi(name):
            return Einsum(cfg, "BLD,DF->BLF", (d, f), ("embed", "mlp"), cfg.init_std, name=name)

        if cfg.mlp == "swiglu":
            h_BLF = nn.silu(wi("wi_gate")(x_BLD)) * wi("wi_up")(x_BLD)
        else:
            h_BLF = nn.gelu(wi("wi")(x_BLD))
        axes = ("mlp", "embed")
        wo = Einsum(cfg, "BLF,FD->BLD", (f, d), axes, cfg.residual_init_std, name="wo")
        return wo(h_BLF)
