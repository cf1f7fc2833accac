"""Data: tokenizers, corpora, token stores (prepared once, read per host), and batches."""

from llm_jax.data.dataset import TrainingData, open_training_data
from llm_jax.data.loader import BatchIterator, batch_at, eval_batches
from llm_jax.data.prepare import merge, prepare_store
from llm_jax.data.sources import DataError, load_corpus
from llm_jax.data.store import Store
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
    "Store",
    "TokenData",
    "Tokenizer",
    "TrainingData",
    "batch_at",
    "build_tokenizer",
    "eval_batches",
    "load_corpus",
    "load_tokenizer_from_dir",
    "merge",
    "open_training_data",
    "prepare_data",
    "prepare_store",
    "train_sentencepiece",
]
