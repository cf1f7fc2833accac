"""Named model sizes from ~1M to ~7B parameters (total, counted by llm_jax/model/size.py).

  python tools/train.py --config=configs/sizes.py:20m --workdir=runs/20m

Sizes up to 20m use the byte tokenizer (the CPU scale); from 60m up, a 32k BPE trained on the
corpus and 2048-token context (LLaMA-style shapes: SwiGLU with d_ff ≈ 8/3·d_model, RoPE, RMSNorm).
Cost: 1m trains ~20k tokens/s on a 2-core CPU; 7b needs a TPU/GPU pod (see tools/compile_check.py).
"""

from llm_jax.config import get_default_config

# name: (d_model, n_layers, n_heads, n_kv_heads)
SIZES = {
    "1m": (128, 4, 4, 4),
    "5m": (256, 6, 4, 4),
    "20m": (384, 10, 6, 6),
    "60m": (512, 8, 8, 8),
    "125m": (768, 12, 12, 12),
    "350m": (1024, 24, 16, 16),
    "760m": (1536, 24, 16, 16),
    "1.3b": (2048, 24, 16, 16),
    "2.7b": (2560, 32, 32, 32),
    "7b": (4096, 32, 32, 32),
}
BYTE_LEVEL = ("1m", "5m", "20m")


def swiglu_width(d_model: int) -> int:
    """8/3 · d_model rounded up to a multiple of 256 (keeps SwiGLU ≈ a 4·d GELU MLP in params)."""
    return -(-(8 * d_model // 3) // 256) * 256


def get_config(arg: str = "1m"):
    if arg not in SIZES:
        raise ValueError(f"unknown size {arg!r}; choose one of {list(SIZES)}")
    d_model, n_layers, n_heads, n_kv_heads = SIZES[arg]
    c = get_default_config()
    byte = arg in BYTE_LEVEL
    c.model.update(
        d_model=d_model,
        n_layers=n_layers,
        n_heads=n_heads,
        n_kv_heads=n_kv_heads,
        d_ff=swiglu_width(d_model),
        max_seq_len=256 if byte else 2048,
        vocab_size=0 if byte else 32_000,
        tie_embeddings=byte,
    )
    c.data.update(
        tokenizer="byte" if byte else "bpe:32000",
        seq_len=c.model.max_seq_len,
        batch_size=32 if byte else 256,
    )
    c.train.update(steps=2000, warmup_steps=100, lr=3e-3 if byte else 6e-4 * (768 / d_model) ** 0.5)
    return c
