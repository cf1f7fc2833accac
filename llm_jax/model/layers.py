"""The projection, norm and MLP layers; every parameter carries logical axis names for sharding."""

import flax.linen as nn
import jax
import jax.numpy as jnp

from llm_jax.model.config import ModelConfig


def dense_init(std: float, axes: tuple):
    return nn.with_logical_partitioning(nn.initializers.normal(std), axes)


class Einsum(nn.Module):
    """A bias-free projection: einsum of the input with a kernel of named logical axes."""

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
        return jnp.einsum(self.equation, x.astype(dtype), kernel.astype(dtype))


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
