"""One unit of work: its documents tokenized into shard files, each published atomically.

A worker streams the unit's documents, encodes them in chunks and spills tokens and document
ends to local temporary files, read back in pieces: memory stays bounded whatever the unit's size
(one document must fit). Once the
document count is known, the held-out documents are chosen (tokenize.held_out: evenly spaced
within the unit) and the spills are copied into train and val shards. The unit's record, written
last into work/, is what marks it done.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import os
import tempfile

import numpy as np

from llm_jax.data.inputs import url_to_fs
from llm_jax.data.sources import ReadOptions, Tally, read_documents, utf8
from llm_jax.data.store import dumps
from llm_jax.data.tokenize import held_out
from llm_jax.data.tokenizer import ByteTokenizer, SentencePieceTokenizer

_CHUNK_DOCS, _CHUNK_BYTES = 1024, 1 << 22  # documents per encode call: ≤ 1024 and ≤ 4 MB
_COPY_TOKENS = 1 << 22  # spill → shard copies in pieces of this many tokens
_COPY_DOCS = 1 << 20


@dataclasses.dataclass(frozen=True)
class Job:
    """What every unit of one preparation shares; picklable for spawned workers."""

    out: str  # the store's URL
    tokenizer_proto: bytes | None  # SentencePiece model, or None for the byte tokenizer
    options: ReadOptions
    val_fraction: float
    shard_tokens: int
    dtype: str
    threads: int = 0  # SentencePiece threads per worker (0: one per CPU)


def unit_record_path(root: str, unit: int) -> str:
    return f"{root}/work/unit-{unit:05d}.json"


def tokenize_unit(job: Job, unit: int, segments) -> dict:
    """Write unit ``unit``'s shards and its record; returns the record."""
    tokenizer, dtype = _tokenizer(job.tokenizer_proto), np.dtype(job.dtype)
    tally = Tally()
    with _Spill(dtype) as tokens, _Spill(np.dtype("<i8"), 2) as docs:  # docs: (end, UTF-8 bytes)
        documents = read_documents(segments, job.options, tally)
        n_docs = _encode(documents, tokenizer, dtype, tokens, docs, job.threads)
        writers = {name: _SplitWriter(job, name, unit) for name in ("train", "val")}
        first = 0
        for v in [*held_out(n_docs, job.val_fraction), n_docs]:
            writers["train"].add(tokens, docs, first, v)
            writers["val"].add(tokens, docs, v, min(v + 1, n_docs))
            first = v + 1
        splits = {name: writer.close() for name, writer in writers.items()}
    record = {"unit": unit, "inputs": tally.inputs, "skipped": dict(tally.skipped)}
    record |= {"splits": splits, "versions": [s.input.version for s in segments]}
    fs, root = url_to_fs(job.out)
    write_atomically(fs, unit_record_path(root, unit), dumps(record))
    return record


@functools.lru_cache(maxsize=2)
def _tokenizer(proto: bytes | None):
    return ByteTokenizer() if proto is None else SentencePieceTokenizer(proto)


def _encode(documents, tokenizer, dtype, tokens: _Spill, docs: _Spill, threads: int) -> int:
    """Append each document's ids + EOS to tokens, (end, UTF-8 bytes) to docs; → count."""
    eos = np.array([tokenizer.eos_id], dtype=dtype)
    is_bytes = isinstance(tokenizer, ByteTokenizer)  # its ids are the UTF-8 bytes
    end, count = 0, 0
    for chunk in _chunks(documents):
        ids = tokenizer.encode_batch(chunk, num_threads=threads)
        meta = np.empty((len(chunk), 2), dtype="<i8")
        pieces = []
        for i, (text, row) in enumerate(zip(chunk, ids, strict=True)):
            pieces += [row.astype(dtype), eos]
            end += len(row) + 1
            meta[i] = end, len(row) if is_bytes else len(utf8(text))
        tokens.append(np.concatenate(pieces))
        docs.append(meta)
        count += len(chunk)
    return count


def _chunks(documents):
    chunk, size = [], 0
    for doc in documents:
        chunk.append(doc)
        size += len(doc)
        if len(chunk) >= _CHUNK_DOCS or size >= _CHUNK_BYTES:
            yield chunk
            chunk, size = [], 0
    if chunk:
        yield chunk


class _Spill:
    """A local temporary file of fixed-size records, appended then read back by ranges: memory
    holds one range at a time (a memory map would take address space for the whole unit)."""

    def __init__(self, dtype: np.dtype, width: int = 1):
        self.dtype, self.width, self.record = dtype, width, dtype.itemsize * width
        self.file = tempfile.TemporaryFile()  # noqa: SIM115 - closed by __exit__

    def append(self, array: np.ndarray) -> None:
        self.file.write(memoryview(np.ascontiguousarray(array, dtype=self.dtype)))

    def read(self, start: int, stop: int) -> np.ndarray:
        self.file.flush()
        data = os.pread(self.file.fileno(), (stop - start) * self.record, start * self.record)
        rows = np.frombuffer(data, dtype=self.dtype)
        return rows.reshape(-1, self.width) if self.width > 1 else rows

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.file.close()


def write_atomically(fs, path: str, data: bytes) -> None:
    """Write a small file atomically: to a temporary name, then renamed."""
    tmp = f"{path}.tmp-{os.getpid()}"
    with fs.open(tmp, "wb") as f:
        f.write(data)
    fs.mv(tmp, path)


class _AtomicFile:
    """A file written in pieces under a temporary name, hashed, then renamed into place."""

    def __init__(self, fs, path: str):
        self.fs, self.path, self.tmp = fs, path, f"{path}.tmp-{os.getpid()}"
        self.file, self.sha = fs.open(self.tmp, "wb"), hashlib.sha256()

    def write(self, data) -> None:
        self.file.write(data)
        self.sha.update(data)

    def close(self) -> str:
        self.file.close()
        self.fs.mv(self.tmp, self.path)
        return self.sha.hexdigest()


class _SplitWriter:
    """One split of one unit → shards of ≤ shard_tokens tokens and one .docs file."""

    def __init__(self, job: Job, split: str, unit: int):
        self.fs, root = url_to_fs(job.out)
        self.fs.makedirs(f"{root}/shards", exist_ok=True)
        self.prefix, self.name = f"{root}/shards/", f"{split}-{unit:05d}"
        self.capacity, self.dtype = job.shard_tokens, np.dtype(job.dtype)
        self.shards, self.tokens, self.documents, self.bytes = [], 0, 0, 0
        self.shard, self.in_shard, self.docs = None, 0, None

    def add(self, tokens: _Spill, docs: _Spill, first: int, stop: int) -> None:
        """Documents [first, stop) of the unit: their tokens, and their ends in this split."""
        if stop <= first:
            return
        begin = int(docs.read(first - 1, first)[0, 0]) if first else 0
        for a in range(first, stop, _COPY_DOCS):
            block = docs.read(a, min(stop, a + _COPY_DOCS))
            ends = block[:, 0] - begin + self.tokens
            self._docs_file().write(ends.astype("<i8").tobytes())
            self.documents += len(block)
            self.bytes += int(block[:, 1].sum())
        end = int(docs.read(stop - 1, stop)[0, 0])
        for a in range(begin, end, _COPY_TOKENS):
            self._write_tokens(tokens.read(a, min(end, a + _COPY_TOKENS)))

    def _docs_file(self) -> _AtomicFile:
        if self.docs is None:
            self.docs = _AtomicFile(self.fs, f"{self.prefix}{self.name}.docs")
        return self.docs

    def _write_tokens(self, array: np.ndarray) -> None:
        while len(array):
            if self.shard is None:
                file = f"{self.name}-{len(self.shards):03d}.bin"
                self.shard, self.in_shard = _AtomicFile(self.fs, self.prefix + file), 0
            room = self.capacity - self.in_shard
            take, array = array[:room], array[room:]
            self.shard.write(memoryview(np.ascontiguousarray(take, dtype=self.dtype)))
            self.in_shard += len(take)
            self.tokens += len(take)
            if self.in_shard == self.capacity:
                self._close_shard()

    def _close_shard(self) -> None:
        sha = self.shard.close()
        file = self.shard.path.removeprefix(self.prefix)
        self.shards.append({"file": f"shards/{file}", "tokens": self.in_shard, "sha256": sha})
        self.shard = None

    def close(self) -> dict:
        if self.shard is not None:
            self._close_shard()
        docs = []
        if self.docs is not None:
            sha = self.docs.close()
            docs = [
                {"file": f"shards/{self.name}.docs", "documents": self.documents, "sha256": sha}
            ]
        return {
            "tokens": self.tokens,
            "documents": self.documents,
            "bytes": self.bytes,
            "shards": self.shards,
            "docs": docs,
        }
