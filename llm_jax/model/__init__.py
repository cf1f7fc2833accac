"""Decoder-only transformer.

Shape suffixes (written once here, used everywhere in llm_jax): an array named x_BLD has axes
(B, L, D). The letters:
  B batch                         L query / sequence length      M key (cache) length
  D d_model                       F MLP hidden                   V vocab
  H query heads                   G key/value heads              K head dim
  R query heads per key/value head (H = G·R)
  P longest (padded) prompt length, when decoding
  N a number of items: generated tokens when decoding; ids or points being compared in inspection
  L1 L + 1: a training sequence with its one-token-shifted target (tokens_BL1 → inputs, targets)
Any other digit is that size: B1 is (B, 1), N2 is (N, 2), 1LV is (1, L, V).
"""

from llm_jax.model.config import ModelConfig, model_config
from llm_jax.model.transformer import Transformer

__all__ = ["ModelConfig", "Transformer", "model_config"]
