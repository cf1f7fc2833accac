"""Decoder-only transformer.

Shape suffixes (written once here, used everywhere): B batch, L query length, M key/cache length,
D d_model, F MLP hidden, H query heads, G key/value heads, K head dim, V vocab.
"""

from llm_jax.model.transformer import Transformer

__all__ = ["Transformer"]
