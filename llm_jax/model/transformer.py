"""embed → blocks → norm → unembed. A block is x = x + attn(norm(x)); x = x + mlp(norm(x))."""

import flax.linen as nn
import jax
import jax.numpy as jnp

from llm_jax.model.attention import Attention
from llm_jax.model.config import ModelConfig, model_config
from llm_jax.model.layers import Einsum, Mlp, Norm, dense_init
from llm_jax.model.positions import AbsolutePositions, rope_lookup

REMAT_POLICIES = {
    "full": None,  # save nothing: recompute the whole block in the backward pass
    "dots_saveable": jax.checkpoint_policies.dots_with_no_batch_dims_saveable,
}


def constrain(x_BLD):
    """Activation sharding at block boundaries (the only place besides the logits)."""
    return nn.with_logical_constraint(x_BLD, ("batch", "length", "act_embed"))


class Block(nn.Module):
    """Pre-norm residual block (GPT-2)."""

    cfg: ModelConfig
    decode: bool = False

    def setup(self):
        self.attn_norm, self.mlp_norm = Norm(self.cfg), Norm(self.cfg)
        self.attn, self.mlp = Attention(self.cfg, self.decode), Mlp(self.cfg)

    def __call__(self, x_BLD, positions_BL, segments_BL=None, rope=None):
        x_BLD = x_BLD + self.attn(self.attn_norm(x_BLD), positions_BL, segments_BL, rope)
        x_BLD = x_BLD + self.mlp(self.mlp_norm(x_BLD))
        return constrain(x_BLD)


class ScannedBlock(Block):
    """Block with the (carry, broadcast) → (carry, output) signature nn.scan needs."""

    def __call__(self, x_BLD, positions_BL, segments_BL=None, rope=None):
        return super().__call__(x_BLD, positions_BL, segments_BL, rope), None


def scan_unroll(cfg: ModelConfig) -> int:
    """Layers per iteration of the scanned stack; model.scan_unroll=0 picks by backend.

    The parameters stay stacked either way. On CPU the whole stack is unrolled: XLA CPU runs a
    loop body's dynamic slices of the stacked weights and its stacked residual updates as
    copies, and the loop serialises work two cores could overlap. On GPU/TPU one layer per
    iteration keeps compile time flat in depth.
    """
    if cfg.scan_unroll:
        return min(cfg.scan_unroll, cfg.n_layers)
    return cfg.n_layers if jax.default_backend() == "cpu" else 1


def _block_class(cfg: ModelConfig, scanned: bool):
    cls = ScannedBlock if scanned else Block
    if cfg.remat == "none":
        return cls
    # prevent_cse only matters outside scan; inside, it costs speed for nothing.
    return nn.remat(cls, policy=REMAT_POLICIES[cfg.remat], prevent_cse=not scanned)


HEADS = ("lm", "reward")


class Transformer(nn.Module):
    """Decoder-only LM. __call__(tokens_BL, positions_BL=None, segments_BL=None) → logits_BLV
    (float32); with head="reward", a scalar per position instead: rewards_BL (float32).

    segments_BL (packed rows): attention stays within equal ids; positions then restart at 0 in
    each segment, and padding has position -1.
    """

    cfg: ModelConfig  # config.model (a ConfigDict) is also accepted: frozen by model_config
    decode: bool = False  # use and update the KV cache ("cache" collection)
    head: str = "lm"  # lm: logits over the vocab | reward: one scalar (reward_head, no unembed)

    def __post_init__(self):
        object.__setattr__(self, "cfg", model_config(self.cfg))
        super().__post_init__()

    @nn.compact
    def __call__(self, tokens_BL, positions_BL=None, segments_BL=None):
        cfg = self.cfg
        if self.head not in HEADS:
            raise ValueError(f"Transformer head={self.head!r} is not one of {HEADS}")
        dtype, param_dtype = jnp.dtype(cfg.dtype), jnp.dtype(cfg.param_dtype)
        if positions_BL is None:
            positions_BL = jnp.broadcast_to(jnp.arange(tokens_BL.shape[1]), tokens_BL.shape)
        embed = nn.Embed(
            cfg.vocab_size,
            cfg.d_model,
            dtype=dtype,
            param_dtype=param_dtype,
            embedding_init=dense_init(cfg.init_std, ("vocab", "embed")),
            name="embed",
        )
        x_BLD = embed(tokens_BL)
        if cfg.pos_encoding in ("sinusoidal", "learned"):
            x_BLD = x_BLD + AbsolutePositions(cfg, name="pos")(positions_BL)
        x_BLD = self.perturb("embedded", x_BLD)  # no-op hook: lets tests take d/d(inputs)
        x_BLD = self._blocks(constrain(x_BLD), positions_BL, segments_BL)
        x_BLD = Norm(cfg, name="final_norm")(x_BLD)
        if self.head == "reward":  # no bias: Bradley–Terry sees only reward differences
            shape, axes = (cfg.d_model,), ("embed",)
            score = Einsum(cfg, "BLD,D->BL", shape, axes, cfg.init_std, name="reward_head")
            return score(x_BLD).astype(jnp.float32)
        # Tokens flattened into one matmul dimension, like every projection (layers.Einsum).
        x_ND = x_BLD.reshape(-1, cfg.d_model)
        if cfg.tie_embeddings:
            logits_NV = embed.attend(x_ND)
        else:
            logits_NV = nn.Dense(
                cfg.vocab_size,
                use_bias=False,
                dtype=dtype,
                param_dtype=param_dtype,
                kernel_init=dense_init(cfg.init_std, ("embed", "vocab")),
                name="unembed",
            )(x_ND)
        logits_BLV = logits_NV.reshape(*x_BLD.shape[:2], cfg.vocab_size)
        logits_BLV = nn.with_logical_constraint(logits_BLV, ("batch", "length", "vocab"))
        return logits_BLV.astype(jnp.float32)

    def _blocks(self, x_BLD, positions_BL, segments_BL):
        cfg = self.cfg
        rope = None
        if cfg.pos_encoding == "rope":  # once per step, not per layer
            n_positions = max(cfg.max_seq_len, positions_BL.shape[1])
            rope = rope_lookup(positions_BL, n_positions, cfg.head_dim, cfg.rope_theta)
        args = (positions_BL, segments_BL, rope)
        if not cfg.scan_layers:
            block = _block_class(cfg, scanned=False)
            for i in range(cfg.n_layers):
                x_BLD = block(cfg, self.decode, name=f"block_{i}")(x_BLD, *args)
            return x_BLD
        blocks = nn.scan(
            _block_class(cfg, scanned=True),
            variable_axes={"params": 0, "cache": 0, "intermediates": 0},
            split_rngs={"params": True},
            in_axes=nn.broadcast,
            length=cfg.n_layers,
            unroll=scan_unroll(cfg),
            metadata_params={nn.PARTITION_NAME: "layers"},
        )
        x_BLD, _ = blocks(cfg, self.decode, name="blocks")(x_BLD, *args)
        return x_BLD
