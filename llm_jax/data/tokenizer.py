"""Tokenizers: byte-level and SentencePiece BPE behind one small protocol.

Text is UTF-8 encoded before tokenizing; a str that UTF-8 cannot encode (lone surrogates) has them
replaced by U+FFFD, so encode never fails and decode(encode(t)) == t for every encodable t.
decode drops the special ids (BOS/EOS/PAD) and replaces invalid byte sequences (a model can sample
those) by U+FFFD.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import pathlib
import shutil
import tempfile
from typing import Protocol

import fsspec
import numpy as np
import sentencepiece as spm

from llm_jax.data.bpe_training import TRAIN_BYTES, encodable, train_sentencepiece
from llm_jax.data.cache_check import discard, remove_stale_tmp
from llm_jax.data.sources import DataError, ReadOptions, resolve, sample_documents, utf8

log = logging.getLogger("llm_jax")
_CONFIG_FILE = "tokenizer.json"
_MODEL_FILE = "tokenizer.model"


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

    def encode_batch(self, texts: list[str], num_threads: int = 0) -> list[np.ndarray]:
        """Many documents at numpy speed (the corpus path; encode is the convenient one)."""
        return [np.frombuffer(utf8(t), dtype=np.uint8) for t in texts]

    def decode(self, ids) -> str:
        ids = np.asarray(ids, dtype=np.int64).ravel()
        return ids[ids < 256].astype(np.uint8).tobytes().decode("utf-8", "replace")

    def save(self, directory) -> None:
        _write_files(directory, {_CONFIG_FILE: _json_bytes({"type": "byte"})})


class SentencePieceTokenizer:
    """A SentencePiece model, from a .model path or serialized proto bytes.

    ``metadata`` (e.g. the sample it was trained on) travels with it into tokenizer.json; for a
    path X.model it is read from X.json when that file exists (tools/train_tokenizer.py writes it).
    """

    def __init__(self, model, spec: str | None = None, metadata: dict | None = None):
        if isinstance(model, bytes):
            self._proto = model
        else:
            path = pathlib.Path(model)
            if not path.is_file():
                raise DataError(f"tokenizer model {path} does not exist; check data.tokenizer")
            self._proto = path.read_bytes()
            sidecar = path.with_suffix(".json")
            if metadata is None and sidecar.is_file():
                metadata = json.loads(sidecar.read_text()).get("trained_on")
        self.metadata = metadata
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
        return self._sp.encode(encodable(text))

    def encode_batch(self, texts: list[str], num_threads: int = 0) -> list[np.ndarray]:
        """Many documents through SentencePiece's batch encoder (0 threads: one per CPU)."""
        threads = num_threads or os.cpu_count() or 1
        out = self._sp.encode([encodable(t) for t in texts], num_threads=threads)
        return [np.asarray(ids, dtype=np.int64) for ids in out]

    def decode(self, ids) -> str:
        ids = np.asarray(ids, dtype=np.int64).ravel()
        # A model's vocab is padded past the tokenizer's (to a multiple of 64): drop those ids.
        return self._sp.decode(ids[(ids >= 0) & (ids < self.vocab_size)].tolist())

    @property
    def proto(self) -> bytes:
        return self._proto

    def save(self, directory) -> None:
        config = {"type": "sentencepiece", "model": _MODEL_FILE}
        if self.metadata:
            config["trained_on"] = self.metadata
        _write_files(directory, {_MODEL_FILE: self._proto, _CONFIG_FILE: _json_bytes(config)})


def _json_bytes(config: dict) -> bytes:
    return (json.dumps(config, sort_keys=True) + "\n").encode()


def _write_files(directory, files: dict[str, bytes]) -> None:
    """Write files into a local or remote (fsspec) directory."""
    fs, root = fsspec.core.url_to_fs(str(directory))
    fs.makedirs(root, exist_ok=True)
    for name, data in files.items():
        with fs.open(f"{root}/{name}", "wb") as f:
            f.write(data)


def load_tokenizer_from_dir(directory) -> Tokenizer:
    """The tokenizer a previous save(directory) wrote (a local or remote directory)."""
    fs, root = fsspec.core.url_to_fs(str(directory))
    if not fs.isfile(f"{root}/{_CONFIG_FILE}"):
        raise DataError(
            f"no tokenizer in {directory} ({_CONFIG_FILE} is missing); it is written by "
            "Tokenizer.save(), e.g. into a run directory by the trainer"
        )
    try:
        config = json.loads(fs.cat_file(f"{root}/{_CONFIG_FILE}"))
    except ValueError as e:
        raise DataError(f"{directory}/{_CONFIG_FILE} is not valid JSON ({e}); it is written by "
                        "Tokenizer.save()") from e  # fmt: skip
    if not isinstance(config, dict):
        raise DataError(
            f"{directory}/{_CONFIG_FILE} holds a {type(config).__name__}, not an object"
        )
    if config.get("type") == "byte":
        return ByteTokenizer()
    if config.get("type") == "sentencepiece":
        proto = fs.cat_file(f"{root}/{config['model']}")
        model = f"{directory}/{config['model']}"
        return SentencePieceTokenizer(proto, spec=model, metadata=config.get("trained_on"))
    raise DataError(f"{directory}/{_CONFIG_FILE}: unknown tokenizer type {config.get('type')!r}")


def cache_root(data_cfg) -> pathlib.Path:
    """Where tokenizers and token arrays are cached."""
    root = data_cfg.cache_dir or os.environ.get("LLM_JAX_CACHE") or "~/.cache/llm_jax"
    return pathlib.Path(root).expanduser()


def build_tokenizer(data_cfg, corpus: str | None = None) -> Tokenizer:
    """The tokenizer named by data_cfg.tokenizer; bpe:N is trained once per corpus and cached.

    bpe:N trains on a bounded sample of ``corpus`` (default data_cfg.corpus), see train_bpe.
    """
    spec = data_cfg.tokenizer
    if spec == "byte":
        return ByteTokenizer()
    if spec.startswith("bpe:"):
        return _cached_bpe(data_cfg, bpe_vocab_size(spec), corpus or data_cfg.corpus)
    if spec.endswith(".model") or os.path.isfile(spec):
        return SentencePieceTokenizer(spec)
    raise DataError(
        f"data.tokenizer={spec!r} is not understood; use 'byte', a path to a SentencePiece "
        "'.model' file, or 'bpe:<vocab_size>' (e.g. 'bpe:8192')"
    )


def bpe_vocab_size(spec: str) -> int:
    try:
        return int(spec[4:])
    except ValueError:
        raise DataError(f"data.tokenizer={spec!r}: write bpe:<vocab_size>, e.g. bpe:8192") from None


def read_options(data_cfg) -> ReadOptions:
    """How data_cfg says corpus files are read."""
    return ReadOptions(data_cfg.text_key, data_cfg.bad_records, data_cfg.max_bytes)


def bpe_sample(corpus: str, options: ReadOptions) -> tuple[list[str], dict]:
    """The bounded, deterministic sample bpe:N trains on, and its description (metadata)."""
    documents, sample = sample_documents(resolve(corpus), TRAIN_BYTES, options)
    return documents, {"corpus": corpus, **sample}


def train_bpe(documents: list[str], sample: dict, vocab_size: int) -> SentencePieceTokenizer:
    """BPE on a bpe_sample; the sample's description becomes the tokenizer's metadata."""
    with tempfile.TemporaryDirectory() as tmp:
        path = train_sentencepiece(documents, vocab_size, pathlib.Path(tmp) / "trained")
        proto = pathlib.Path(path).read_bytes()
    return SentencePieceTokenizer(proto, f"bpe:{vocab_size}", sample)


def _cached_bpe(data_cfg, vocab_size: int, corpus: str) -> SentencePieceTokenizer:
    """Train bpe:N on the corpus's sample on first use; later calls load the cached model."""
    documents, sample = bpe_sample(corpus, read_options(data_cfg))
    directory = cache_root(data_cfg) / "tokenizers" / f"bpe{vocab_size}-{sample['sha256'][:16]}"
    remove_stale_tmp(directory.parent)
    tokenizer = _cached_tokenizer(directory)
    if tokenizer is None:
        tmp = directory.with_name(f"{directory.name}.tmp{os.getpid()}")
        train_bpe(documents, sample, vocab_size).save(tmp)
        publish(tmp, directory)
        tokenizer = load_tokenizer_from_dir(directory)
    tokenizer.spec = f"bpe:{vocab_size}"
    return tokenizer


def _cached_tokenizer(directory: pathlib.Path):
    """The cached tokenizer; None when absent, or broken (then removed, to be trained again)."""
    if not (directory / _CONFIG_FILE).is_file():
        return None
    try:
        return load_tokenizer_from_dir(directory)
    except (DataError, OSError) as e:  # a truncated model, a garbled tokenizer.json
        log.warning("cached tokenizer %s is broken (%s): training it again", directory, e)
        discard(directory)
        return None


def publish(tmp: pathlib.Path, final: pathlib.Path) -> None:
    """Atomically move a finished cache entry into place; a concurrent writer may have won."""
    try:
        os.rename(tmp, final)
    except OSError:
        if not final.exists():
            raise
        shutil.rmtree(tmp)
