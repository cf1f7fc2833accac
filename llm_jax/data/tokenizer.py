"""Tokenizers: byte-level and SentencePiece BPE behind one small protocol.

Text is UTF-8 encoded before tokenizing; a str that UTF-8 cannot encode (lone surrogates) has them
replaced by U+FFFD, so encode never fails and decode(encode(t)) == t for every encodable t.
decode drops the special ids (BOS/EOS/PAD) and replaces invalid byte sequences (a model can sample
those) by U+FFFD.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import pathlib
import random
import shutil
from collections.abc import Iterable
from typing import Protocol

import numpy as np
import sentencepiece as spm

from llm_jax.data.sources import Corpus, DataError, load_corpus, utf8

_CONFIG_FILE = "tokenizer.json"
_MODEL_FILE = "tokenizer.model"
# bpe:N trains on at most this much text (a seeded sample of documents): ~3 s on the stdlib.
_TRAIN_BYTES = 16_000_000
_SENTENCE_CHARS = 65_536  # long documents are fed to the trainer in pieces of this size


class Tokenizer(Protocol):
    """What the trainer and the sampler rely on."""

    vocab_size: int
    bos_id: int
    eos_id: int
    pad_id: int
    fingerprint: str

    def encode(self, text: str) -> list[int]: ...
    def decode(self, ids) -> str: ...
    def save(self, directory) -> None: ...


class ByteTokenizer:
    """UTF-8 bytes as ids 0..255, then BOS, EOS, PAD: vocab 259, nothing to train."""

    vocab_size = 259
    bos_id, eos_id, pad_id = 256, 257, 258
    fingerprint = hashlib.sha256(b"llm_jax.byte.v1").hexdigest()[:16]
    spec = "byte"

    def encode(self, text: str) -> list[int]:
        return list(utf8(text))

    def encode_batch(self, texts: list[str]) -> list[np.ndarray]:
        """Many documents at numpy speed (the corpus path; encode is the convenient one)."""
        return [np.frombuffer(utf8(t), dtype=np.uint8) for t in texts]

    def decode(self, ids) -> str:
        ids = np.asarray(ids, dtype=np.int64).ravel()
        return ids[ids < 256].astype(np.uint8).tobytes().decode("utf-8", "replace")

    def save(self, directory) -> None:
        _write_config(directory, {"type": "byte"})


class SentencePieceTokenizer:
    """A SentencePiece model, from a .model path or serialized proto bytes."""

    def __init__(self, model, spec: str | None = None):
        if isinstance(model, bytes):
            self._proto = model
        else:
            path = pathlib.Path(model)
            if not path.is_file():
                raise DataError(f"tokenizer model {path} does not exist; check data.tokenizer")
            self._proto = path.read_bytes()
        try:
            self._sp = spm.SentencePieceProcessor(model_proto=self._proto)
        except RuntimeError as e:
            raise DataError(f"{model!s:.200} is not a SentencePiece model: {e}") from e
        self.spec = spec or str(model)
        self.vocab_size = self._sp.vocab_size()
        self.bos_id, self.eos_id = self._sp.bos_id(), self._sp.eos_id()
        self.unk_id = self._sp.unk_id()  # what characters outside the vocab become (-1: none)
        if self.eos_id < 0:
            raise DataError(f"{self.spec}: the model has no EOS piece, needed between documents")
        # Models trained elsewhere often lack PAD: padding is masked anyway, so EOS serves.
        self.pad_id = self._sp.pad_id() if self._sp.pad_id() >= 0 else self.eos_id
        self.fingerprint = hashlib.sha256(self._proto).hexdigest()[:16]

    def encode(self, text: str) -> list[int]:
        return self._sp.encode(_encodable(text))

    def encode_batch(self, texts: list[str]) -> list[np.ndarray]:
        """Many documents through SentencePiece's multi-threaded batch encoder."""
        out = self._sp.encode([_encodable(t) for t in texts], num_threads=os.cpu_count() or 1)
        return [np.asarray(ids, dtype=np.int64) for ids in out]

    def decode(self, ids) -> str:
        ids = np.asarray(ids, dtype=np.int64).ravel()
        # A model's vocab is padded past the tokenizer's (to a multiple of 64): drop those ids.
        return self._sp.decode(ids[(ids >= 0) & (ids < self.vocab_size)].tolist())

    def save(self, directory) -> None:
        pathlib.Path(directory, _MODEL_FILE).parent.mkdir(parents=True, exist_ok=True)
        pathlib.Path(directory, _MODEL_FILE).write_bytes(self._proto)
        _write_config(directory, {"type": "sentencepiece", "model": _MODEL_FILE})


def _encodable(text: str) -> str:
    """The text itself, or (rarely) a copy with surrogates fixed, as utf8() does."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return utf8(text).decode("utf-8")


def _write_config(directory, config: dict) -> None:
    path = pathlib.Path(directory)
    path.mkdir(parents=True, exist_ok=True)
    (path / _CONFIG_FILE).write_text(json.dumps(config) + "\n")


def load_tokenizer_from_dir(directory) -> Tokenizer:
    """The tokenizer a previous save(directory) wrote."""
    path = pathlib.Path(directory) / _CONFIG_FILE
    if not path.is_file():
        raise DataError(
            f"no tokenizer in {directory} ({_CONFIG_FILE} is missing); it is written by "
            "Tokenizer.save(), e.g. into a run directory by the trainer"
        )
    config = json.loads(path.read_text())
    if config.get("type") == "byte":
        return ByteTokenizer()
    if config.get("type") == "sentencepiece":
        return SentencePieceTokenizer(path.parent / config["model"])
    raise DataError(f"{path}: unknown tokenizer type {config.get('type')!r}")


def train_sentencepiece(texts_or_files: Iterable, vocab_size: int, out_prefix) -> str:
    """Train a byte-fallback BPE model on texts (str) or files (pathlib.Path); returns the path."""
    texts = [p.read_text("utf-8") if isinstance(p, os.PathLike) else p for p in texts_or_files]
    model = io.BytesIO()
    try:
        spm.SentencePieceTrainer.train(
            sentence_iterator=_sentences(texts),
            model_writer=model,
            vocab_size=vocab_size,
            model_type="bpe",
            # Exact round trips on code and prose (docs/design.md §4): no normalisation, keep every
            # space, no dummy prefix, and unseen characters fall back to bytes instead of UNK.
            normalization_rule_name="identity",
            remove_extra_whitespaces=False,
            add_dummy_prefix=False,
            byte_fallback=True,
            allow_whitespace_only_pieces=True,  # indentation runs become single pieces
            user_defined_symbols=["\n"],  # a newline piece, not the byte <0x0A>
            split_digits=True,
            max_sentence_length=4 * _SENTENCE_CHARS,
            unk_id=0,
            bos_id=1,
            eos_id=2,
            pad_id=3,
            num_threads=os.cpu_count() or 1,
            minloglevel=2,
        )
    except RuntimeError as e:
        raise DataError(
            f"SentencePiece training with vocab_size={vocab_size} failed: {e}. vocab_size must "
            "exceed 261 (256 bytes, 4 specials, newline) plus the text's distinct characters, "
            "and a small corpus supports only a small vocab_size"
        ) from e
    path = pathlib.Path(f"{out_prefix}.model")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(model.getvalue())
    return str(path)


def _sentences(texts: list[str]):
    """Seeded sample of documents up to _TRAIN_BYTES, cut into trainer-sized pieces."""
    order = list(range(len(texts)))
    random.Random(0).shuffle(order)
    taken = 0
    for i in order:
        if taken >= _TRAIN_BYTES:
            return
        text = _encodable(texts[i])
        taken += len(text)
        for start in range(0, len(text), _SENTENCE_CHARS):
            yield text[start : start + _SENTENCE_CHARS]


def cache_root(data_cfg) -> pathlib.Path:
    """Where tokenizers and token arrays are cached."""
    root = data_cfg.cache_dir or os.environ.get("LLM_JAX_CACHE") or "~/.cache/llm_jax"
    return pathlib.Path(root).expanduser()


def build_tokenizer(data_cfg, corpus: Corpus | None = None) -> Tokenizer:
    """The tokenizer named by data_cfg.tokenizer; bpe:N is trained once per corpus and cached."""
    spec = data_cfg.tokenizer
    if spec == "byte":
        return ByteTokenizer()
    if spec.startswith("bpe:"):
        return _cached_bpe(data_cfg, spec, corpus)
    if spec.endswith(".model") or os.path.isfile(spec):
        return SentencePieceTokenizer(spec)
    raise DataError(
        f"data.tokenizer={spec!r} is not understood; use 'byte', a path to a SentencePiece "
        "'.model' file, or 'bpe:<vocab_size>' (e.g. 'bpe:8192')"
    )


def _cached_bpe(data_cfg, spec: str, corpus: Corpus | None) -> SentencePieceTokenizer:
    """Train bpe:N on the run's corpus on first use; later runs load the cached model."""
    try:
        vocab_size = int(spec[4:])
    except ValueError:
        raise DataError(f"data.tokenizer={spec!r}: write bpe:<vocab_size>, e.g. bpe:8192") from None
    corpus = corpus or load_corpus(data_cfg.corpus, data_cfg.max_bytes)
    directory = cache_root(data_cfg) / "tokenizers" / f"bpe{vocab_size}-{corpus.hash[:16]}"
    if not (directory / _CONFIG_FILE).is_file():
        tmp = directory.with_name(f"{directory.name}.tmp{os.getpid()}")
        path = train_sentencepiece(corpus.documents, vocab_size, tmp / "trained")
        SentencePieceTokenizer(path).save(tmp)
        os.remove(path)
        publish(tmp, directory)
    tokenizer = load_tokenizer_from_dir(directory)
    tokenizer.spec = spec
    return tokenizer


def publish(tmp: pathlib.Path, final: pathlib.Path) -> None:
    """Atomically move a finished cache entry into place; a concurrent writer may have won."""
    try:
        os.rename(tmp, final)
    except OSError:
        if not final.exists():
            raise
        shutil.rmtree(tmp)
