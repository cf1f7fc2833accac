"""llm_jax's transformer written again in PyTorch for bench_peer.py (torch is never a dependency).

Same shapes and the same training work per step as llm_jax's train step: tied embeddings, RoPE
("rotate half"), RMSNorm in float32, causal attention through scaled_dot_product_attention with one
fused QKV projection, SwiGLU MLP, float32 cross-entropy, global-norm clipping, AdamW with decay on
the matrices only. The initialisation follows llm_jax's (normal init_std; the two kernels that write
into the residual stream scaled by 1/√(2·n_layers)).
"""

import math

import torch
import torch.nn.functional as F
from torch import nn


def rope_tables(seq_len: int, head_dim: int, theta: float):
    """cos, sin of pos · θ^(-2i/K), each (L, K/2)."""
    inv_freq = theta ** (-torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim)
    angles = torch.arange(seq_len, dtype=torch.float32)[:, None] * inv_freq[None, :]
    return angles.cos(), angles.sin()


def apply_rope(x_BHLK, cos_LK2, sin_LK2):
    x1, x2 = x_BHLK.chunk(2, dim=-1)
    return torch.cat([x1 * cos_LK2 - x2 * sin_LK2, x2 * cos_LK2 + x1 * sin_LK2], dim=-1)


class RMSNorm(nn.Module):
    def __init__(self, d: int, eps: float):
        super().__init__()
        self.scale, self.eps = nn.Parameter(torch.ones(d)), eps

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.scale


class Block(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        d, f = cfg.d_model, cfg.d_ff
        self.h, self.k = cfg.n_heads, cfg.head_dim
        self.attn_norm, self.mlp_norm = RMSNorm(d, cfg.norm_eps), RMSNorm(d, cfg.norm_eps)
        self.qkv = nn.Linear(d, 3 * d, bias=False)
        self.out = nn.Linear(d, d, bias=False)
        self.wi_gate, self.wi_up = nn.Linear(d, f, bias=False), nn.Linear(d, f, bias=False)
        self.wo = nn.Linear(f, d, bias=False)

    def forward(self, x_BLD, cos, sin):
        b, length, _ = x_BLD.shape
        qkv = self.qkv(self.attn_norm(x_BLD)).view(b, length, 3, self.h, self.k)
        q_BHLK, k_BHLK, v_BHLK = qkv.permute(2, 0, 3, 1, 4).unbind(0)
        q_BHLK, k_BHLK = apply_rope(q_BHLK, cos, sin), apply_rope(k_BHLK, cos, sin)
        a_BHLK = F.scaled_dot_product_attention(q_BHLK, k_BHLK, v_BHLK, is_causal=True)
        x_BLD = x_BLD + self.out(a_BHLK.transpose(1, 2).reshape(b, length, -1))
        h = self.mlp_norm(x_BLD)
        return x_BLD + self.wo(F.silu(self.wi_gate(h)) * self.wi_up(h))


class Transformer(nn.Module):
    """cfg: an llm_jax ModelConfig (rope, rmsnorm, swiglu, tied embeddings, MHA)."""

    def __init__(self, cfg, seq_len: int):
        super().__init__()
        unsupported = {
            "pos_encoding": "rope",
            "norm": "rmsnorm",
            "mlp": "swiglu",
            "tie_embeddings": True,
            "n_kv_heads": cfg.n_heads,
        }
        for key, value in unsupported.items():
            if getattr(cfg, key) != value:
                raise ValueError(f"peer_torch implements model.{key}={value!r} only")
        self.embed = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layers))
        self.final_norm = RMSNorm(cfg.d_model, cfg.norm_eps)
        cos, sin = rope_tables(seq_len, cfg.head_dim, cfg.rope_theta)
        self.register_buffer("cos", cos, persistent=False)
        self.register_buffer("sin", sin, persistent=False)
        self._init(cfg)

    def _init(self, cfg):
        residual_std = cfg.init_std / math.sqrt(2 * cfg.n_layers)
        for name, p in self.named_parameters():
            if p.ndim == 2:
                std = residual_std if name.endswith(("out.weight", "wo.weight")) else cfg.init_std
                nn.init.normal_(p, std=std)

    def forward(self, tokens_BL):
        x_BLD = self.embed(tokens_BL)
        for block in self.blocks:
            x_BLD = block(x_BLD, self.cos, self.sin)
        return self.final_norm(x_BLD) @ self.embed.weight.T


def make_optimizer(model, t):
    """AdamW (t: llm_jax's config.train) with weight decay on the matrices but not the embedding."""
    decay = [p for n, p in model.named_parameters() if p.ndim == 2 and not n.startswith("embed")]
    rest = [p for n, p in model.named_parameters() if p.ndim != 2 or n.startswith("embed")]
    groups = [
        {"params": decay, "weight_decay": t.weight_decay},
        {"params": rest, "weight_decay": 0},
    ]
    return torch.optim.AdamW(groups, lr=t.lr, betas=(t.beta1, t.beta2), eps=t.eps)


def make_train_step(model, optimizer, grad_clip: float):
    """(tokens (B, L+1) int64 tensor) → loss tensor; one optimizer step."""

    def step(tokens_BL1):
        logits_BLV = model(tokens_BL1[:, :-1])
        loss = F.cross_entropy(logits_BLV.flatten(0, 1), tokens_BL1[:, 1:].flatten())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
        optimizer.step()
        return loss.detach()

    return step
