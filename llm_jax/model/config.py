"""The model's hyperparameters, frozen: built once from config.model by `model_config`.

Frozen and hashable, so Flax modules hold it as a field and jit / lru_cache take it as a static
key. The defaults and the meaning of each field are declared once, in llm_jax/config/defaults.py.
"""

from __future__ import annotations

import dataclasses

from llm_jax.config import ConfigError


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    vocab_size: int  # V
    d_model: int  # D
    n_layers: int
    n_heads: int  # H
    n_kv_heads: int  # G
    d_ff: int  # F
    max_seq_len: int
    pos_encoding: str  # rope | sinusoidal | learned | none
    rope_theta: float
    norm: str  # rmsnorm | layernorm
    norm_eps: float
    mlp: str  # swiglu | gelu
    tie_embeddings: bool
    init_std: float
    dtype: str  # activation / matmul compute dtype
    param_dtype: str
    remat: str  # none | full | dots_saveable
    scan_layers: bool
    attention: str  # xla | cudnn | auto
    # Fields with a default may be absent from an older run's config.json.
    scan_unroll: int = 0  # layers per scan iteration; 0: by backend (transformer.scan_unroll)
    attention_block: int = 0  # query rows per causal block (attention.query_block); 0: by backend

    @property
    def head_dim(self) -> int:
        """K."""
        return self.d_model // self.n_heads

    @property
    def residual_init_std(self) -> float:
        """Init std of the kernels that write into the residual stream (attention out, MLP wo).

        Shrunk by √(2·n_layers) (GPT-2), so the stream's variance at init does not grow with depth.
        """
        return self.init_std / (2 * self.n_layers) ** 0.5


_FIELDS = tuple(f.name for f in dataclasses.fields(ModelConfig))
_REQUIRED = tuple(
    f.name for f in dataclasses.fields(ModelConfig) if f.default is dataclasses.MISSING
)


def model_config(model) -> ModelConfig:
    """ModelConfig from config.model (a ConfigDict or any mapping); a ModelConfig passes through.

    Keys the model does not read (e.g. ones an older config.json still has) are ignored.
    """
    if isinstance(model, ModelConfig):
        return model
    missing = [key for key in _REQUIRED if key not in model]
    if missing:
        raise ConfigError(
            f"config.model lacks {', '.join(missing)}; add them "
            "(defaults: llm_jax/config/defaults.py)"
        )
    return ModelConfig(**{key: model[key] for key in _FIELDS if key in model})
