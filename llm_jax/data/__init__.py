"""Data: tokenizers, corpora, the on-disk token cache, and deterministic batches."""

from llm_jax.data.loader import BatchIterator, batch_at, eval_batches
from llm_jax.data.sources import DataError, load_corpus
from llm_jax.data.tokenize import TokenData, prepare_data
from llm_jax.data.tokenizer import (
    ByteTokenizer,
    SentencePieceTokenizer,
    Tokenizer,
    build_tokenizer,
    load_tokenizer_from_dir,
    train_sentencepiece,
)

__all__ = [
    "BatchIterator",
    "ByteTokenizer",
    "DataError",
    "SentencePieceTokenizer",
    "TokenData",
    "Tokenizer",
    "batch_at",
    "build_tokenizer",
    "eval_batches",
    "load_corpus",
    "load_tokenizer_from_dir",
    "prepare_data",
    "train_sentencepiece",
]
