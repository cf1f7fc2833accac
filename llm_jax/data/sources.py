"""Corpora as documents: streamed from their files in order (or held in memory: Corpus).

The format rules (what a document is in each kind of file) are in formats.py.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import random
import zlib

from llm_jax.data.formats import (
    ReadOptions,
    Segment,
    Tally,
    jsonl_file,
    python_file,
    text_file,
    unreadable,
    utf8,
)
from llm_jax.data.inputs import (
    BUILT_IN,
    DataError,
    Input,
    built_in_version,
    resolve,
    site_packages_files,
    stdlib_files,
)
from llm_jax.data.parquet import parquet_file

_FORMAT = "llm_jax.corpus.v2"  # bump when document splitting changes: it is part of the hash
READERS = {"python": python_file, "text": text_file, "jsonl": jsonl_file, "parquet": parquet_file}


@dataclasses.dataclass
class Corpus:
    """Documents in a fixed order, with a content hash that identifies them."""

    spec: str
    documents: list[str]
    hash: str
    n_bytes: int  # UTF-8 bytes of all documents
    n_files: int


def load_corpus(spec: str, max_bytes: int = 0) -> Corpus:
    """Read the corpus named by ``spec`` into memory; at most ``max_bytes`` bytes when > 0."""
    inputs, tally = resolve(spec), Tally()
    segments = [Segment(i) for i in inputs]
    documents = list(read_documents(segments, ReadOptions(max_bytes=max_bytes), tally))
    if not documents:
        raise DataError(
            f"data.corpus={spec!r} is empty (no text in {len(inputs)} file(s)"
            + (f" within data.max_bytes={max_bytes}" if max_bytes else "")
            + "); point it at files that contain text"
        )
    n_bytes = sum(len(utf8(d)) for d in documents)
    return Corpus(spec, documents, corpus_hash(spec, tally.inputs), n_bytes, len(inputs))


def corpus_hash(spec: str, records: list[dict]) -> str:
    """Identity of what was read: each segment's name, range, bytes read and sha256."""
    digest = hashlib.sha256(f"{_FORMAT}\0{built_in_version(spec)}".encode())
    for r in records:
        digest.update(f"\0{r['path']}\0{r['start']}\0{r['read']}\0{r['sha256']}".encode())
    return digest.hexdigest()


def read_documents(segments, options: ReadOptions | None = None, tally: Tally | None = None):
    """Yield the documents of ``segments`` in order; records each segment into ``tally``."""
    options = options or ReadOptions()
    tally = Tally() if tally is None else tally
    budget = options.max_bytes or None
    for segment in segments:
        if budget is not None and budget <= 0:
            return
        record = {"path": segment.input.name, "size": segment.input.size}
        record |= {"start": segment.start, "stop": segment.end}
        reader = READERS[segment.input.kind]
        try:
            consumed = yield from reader(segment, budget, options, tally, record)
        except (OSError, EOFError, zlib.error) as e:
            raise DataError(unreadable(segment.input, record.get("at"), e)) from e
        record.pop("at", None)
        tally.inputs.append(record | {"read": consumed})
        if budget is not None:
            budget -= consumed


def sample_documents(inputs: list[Input], budget: int, options: ReadOptions):
    """A bounded, deterministic sample for tokenizer training: (documents, description).

    Files are visited in a seeded order; from the head of each, whole documents are taken up to
    a per-file quota (so many files contribute), until ``budget`` bytes. A capped corpus
    (``options.max_bytes``) is sampled from its head, as a run reads it.
    """
    order = list(range(len(inputs)))
    if options.max_bytes:
        groups, quota = [[inputs[i] for i in order]], budget
    else:
        random.Random(0).shuffle(order)
        groups, quota = [[inputs[i]] for i in order], max(budget // len(inputs), budget // 256)
    documents, taken, files, digest = [], 0, 0, hashlib.sha256()
    for group in groups:
        if taken >= budget:
            break
        files, from_file = files + len(group), 0
        with contextlib.closing(read_documents([Segment(i) for i in group], options)) as docs:
            for doc in docs:
                documents.append(doc)
                size = len(utf8(doc))
                digest.update(f"{size}\0".encode() + utf8(doc))
                taken, from_file = taken + size, from_file + size
                if from_file >= quota or taken >= budget:
                    break
    rule = "sample.v1: files in random.Random(0) order, whole documents from each file's head"
    description = dict(rule=rule, budget=budget, per_file=quota, files=files, bytes=taken)
    return documents, description | {"documents": len(documents), "sha256": digest.hexdigest()}


__all__ = [
    "BUILT_IN",
    "Corpus",
    "DataError",
    "ReadOptions",
    "Segment",
    "Tally",
    "load_corpus",
    "read_documents",
    "resolve",
    "site_packages_files",
    "stdlib_files",
    "utf8",
]
