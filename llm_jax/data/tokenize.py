"""Tokenize a corpus once into flat token arrays on disk, keyed by corpus and tokenizer hash."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import pathlib
import platform
import sys

import numpy as np
from tqdm import tqdm

from llm_jax.data.cache_check import load_token_entry, remove_stale_tmp
from llm_jax.data.sources import Corpus, DataError, load_corpus, utf8
from llm_jax.data.tokenizer import Tokenizer, build_tokenizer, cache_root, publish

_FORMAT = "llm_jax.tokens.v1"  # bump when the on-disk layout changes: it is part of the key
_CHUNK = 256  # documents per encode call: big enough for the batch encoder, small for the bar


@dataclasses.dataclass
class TokenData:
    """Tokenized train/val splits (memory-mapped) and a JSON description of how they were made."""

    tokenizer: Tokenizer
    train: np.ndarray  # 1-D tokens, documents separated (and ended) by EOS
    val: np.ndarray  # held-out documents, same layout
    info: dict


def prepare_data(data_cfg, corpus: Corpus | None = None) -> TokenData:
    """Tokens for data_cfg: from the cache when present, else tokenized once and cached."""
    corpus = corpus or load_corpus(data_cfg.corpus, data_cfg.max_bytes)
    # Every document costs ≤ 1 token per byte (byte fallback) + EOS: a cheap bound that catches
    # a corpus too short for training before a tokenizer is trained or anything is encoded.
    _check_length("corpus", corpus.n_bytes + len(corpus.documents), data_cfg, splits=2)
    is_val = split_documents(len(corpus.documents), data_cfg.val_fraction)
    tokenizer = build_tokenizer(data_cfg)
    key = f"{_FORMAT}\0{corpus.hash}\0{tokenizer.fingerprint}\0{data_cfg.val_fraction!r}"
    directory = cache_root(data_cfg) / "tokens" / hashlib.sha256(key.encode()).hexdigest()[:24]
    remove_stale_tmp(directory.parent)
    entry = load_token_entry(directory)  # None: missing, or broken and removed
    if entry is None:
        _tokenize_into(directory, corpus, is_val, tokenizer, data_cfg)
        entry = load_token_entry(directory)
    if entry is None:
        raise DataError(f"the token cache entry {directory} is broken right after writing it; "
                        "check the disk under data.cache_dir")  # fmt: skip
    info, train, val = entry
    info["cache"] = str(directory)
    _check_length("training split", len(train), data_cfg)
    _check_length("validation split", len(val), data_cfg)
    return TokenData(tokenizer, train, val, info)


def split_documents(n_documents: int, val_fraction: float) -> np.ndarray:
    """Boolean mask of held-out documents: round(n·fraction) of them (≥ 1), evenly spaced."""
    if n_documents < 2:
        check_val_fraction(val_fraction)
        raise DataError(
            f"the corpus has {n_documents} document(s); at least 2 are needed to hold one out "
            "for validation (text files are split at blank lines; JSONL has one per line)"
        )
    mask = np.zeros(n_documents, dtype=bool)
    mask[held_out(n_documents, val_fraction)] = True
    return mask


def held_out(n_documents: int, val_fraction: float) -> np.ndarray:
    """Sorted indices of the held-out documents among n ≥ 2 (none when n < 2)."""
    check_val_fraction(val_fraction)
    if n_documents < 2:
        return np.zeros(0, dtype=np.int64)
    n_val = min(n_documents - 1, max(1, round(n_documents * val_fraction)))
    # Evenly spaced rather than a block: sorted corpora (the stdlib) vary along the order.
    return ((np.arange(n_val) + 0.5) * n_documents / n_val).astype(np.int64)


def check_val_fraction(val_fraction: float) -> None:
    if not 0 < val_fraction < 1:
        raise DataError(f"data.val_fraction={val_fraction} must be in (0, 1), e.g. 0.01")


def token_dtype(vocab_size: int) -> type:
    """The narrowest unsigned dtype that holds every id."""
    return np.uint16 if vocab_size <= 65535 else np.uint32


def _check_length(what: str, n_tokens: int, data_cfg, splits: int = 1) -> None:
    """One sequence (seq_len + 1 tokens: inputs and shifted targets) must fit in each split."""
    need = data_cfg.seq_len + 1
    if n_tokens < splits * need:
        cap = f" (data.max_bytes={data_cfg.max_bytes} caps it)" if data_cfg.max_bytes else ""
        per = " for training and one for validation" if splits == 2 else ""
        raise DataError(
            f"the {what} has {'at most ' if splits == 2 else ''}{n_tokens} tokens, fewer than one "
            f"sequence of data.seq_len+1={need}{per}; "
            f"use a larger data.corpus{cap}, a larger data.val_fraction "
            f"(now {data_cfg.val_fraction}) or a shorter data.seq_len"
        )


def _tokenize_into(directory: pathlib.Path, corpus: Corpus, is_val, tokenizer, data_cfg) -> None:
    """Encode both splits and write them, with info.json, as one atomically published entry."""
    dtype = token_dtype(tokenizer.vocab_size)
    splits = {}
    for name, take in (("train", ~is_val), ("val", is_val)):
        docs = [d for d, t in zip(corpus.documents, take, strict=True) if t]
        splits[name] = (docs, _encode_documents(tokenizer, docs, dtype, name))
    tmp = directory.with_name(f"{directory.name}.tmp{os.getpid()}")
    tmp.mkdir(parents=True, exist_ok=True)
    for name, (_, tokens) in splits.items():
        np.save(tmp / f"{name}.npy", tokens)
    tokenizer.save(tmp / "tokenizer")
    info = _info(corpus, tokenizer, data_cfg, splits, dtype)
    (tmp / "info.json").write_text(json.dumps(info, indent=1) + "\n")
    publish(tmp, directory)


def _encode_documents(tokenizer, documents: list[str], dtype, name: str) -> np.ndarray:
    """All documents' ids, each followed by EOS, as one array; a bar when on a terminal."""
    eos = np.array([tokenizer.eos_id], dtype=dtype)
    pieces = []
    with tqdm(
        total=len(documents),
        desc=f"tokenizing {name}",
        unit="doc",
        file=sys.stderr,
        disable=not sys.stderr.isatty(),
    ) as bar:
        for start in range(0, len(documents), _CHUNK):
            chunk = documents[start : start + _CHUNK]
            for ids in _encode_many(tokenizer, chunk):
                pieces += [np.asarray(ids, dtype=dtype), eos]
            bar.update(len(chunk))
    return np.concatenate(pieces) if pieces else np.zeros(0, dtype=dtype)


def _encode_many(tokenizer, texts: list[str]):
    """The fast batch encoder when the tokenizer has one, else encode() per text."""
    if hasattr(tokenizer, "encode_batch"):
        return tokenizer.encode_batch(texts)
    return [tokenizer.encode(t) for t in texts]


def _info(corpus: Corpus, tokenizer, data_cfg, splits: dict, dtype) -> dict:
    """The JSON description stored next to the tokens (and copied into runs)."""
    val_docs, val_tokens = splits["val"]
    val_bytes = sum(len(utf8(d)) for d in val_docs)
    info = {
        "corpus": corpus.spec,
        "corpus_hash": corpus.hash,
        "n_files": corpus.n_files,
        "n_documents": len(corpus.documents),
        "n_val_documents": len(val_docs),
        "n_bytes": corpus.n_bytes,
        "max_bytes": data_cfg.max_bytes,
        "val_fraction": data_cfg.val_fraction,
        "n_train_tokens": int(len(splits["train"][1])),
        "n_val_tokens": int(len(val_tokens)),
        "tokenizer": data_cfg.tokenizer,
        "tokenizer_fingerprint": tokenizer.fingerprint,
        "vocab_size": tokenizer.vocab_size,
        "dtype": np.dtype(dtype).name,
        # UTF-8 bytes per val token, EOS separators counted as tokens: loss in nats/token times
        # tokens/byte / ln 2 is bits per byte, comparable across tokenizers.
        "val_bytes_per_token": val_bytes / max(1, len(val_tokens)),
    }
    if corpus.spec == "stdlib":
        info["python_version"] = platform.python_version()
    return info
