"""Exact parameter counts and training FLOPs per token, from the model config alone.

Tested equal to the real parameter tree (tests/model/test_size.py), so they are never typed by hand.
"Embedding" parameters are the vocabulary and position tables: the input embedding, a learned
position table and an untied output head (Kaplan et al. 2020 leave all of these out of N).
"""


def _norm_params(cfg) -> int:
    return cfg.d_model * (2 if cfg.norm == "layernorm" else 1)


def block_params(cfg) -> int:
    """One transformer block: attention, MLP and its two norms."""
    head_dim = cfg.d_model // cfg.n_heads
    attn = cfg.d_model * head_dim * (2 * cfg.n_heads + 2 * cfg.n_kv_heads)  # q, out; k, v
    mlp = cfg.d_model * cfg.d_ff * (3 if cfg.mlp == "swiglu" else 2)
    return attn + mlp + 2 * _norm_params(cfg)


def param_counts(cfg) -> dict:
    """{'total', 'embedding', 'non_embedding'} parameter counts."""
    embedding = cfg.vocab_size * cfg.d_model
    if not cfg.tie_embeddings:
        embedding += cfg.vocab_size * cfg.d_model
    if cfg.pos_encoding == "learned":
        embedding += cfg.max_seq_len * cfg.d_model
    non_embedding = cfg.n_layers * block_params(cfg) + _norm_params(cfg)
    return {
        "total": embedding + non_embedding,
        "embedding": embedding,
        "non_embedding": non_embedding,
    }


def attention_flops_per_token(cfg, seq_len: int) -> int:
    """Training FLOPs of the attention scores and value mix: 6·n_layers·seq_len·d_model (Kaplan)."""
    return 6 * cfg.n_layers * seq_len * cfg.d_model


def train_flops_per_token(cfg, seq_len: int, with_attention: bool = True) -> int:
    """6N (total params) plus, by default, the attention term; used for MFU and run FLOPs."""
    flops = 6 * param_counts(cfg)["total"]
    return flops + (attention_flops_per_token(cfg, seq_len) if with_attention else 0)
