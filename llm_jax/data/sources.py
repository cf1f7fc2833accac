"""Corpora as lists of documents: the built-in stdlib corpus, text files/globs, JSONL.

Document boundaries (EOS is inserted between documents, and the validation split is by document):
- ``stdlib``: one document per ``.py`` file of this interpreter's standard library (site-packages
  excluded); the few files that are not UTF-8 (CPython's own encoding tests) are skipped.
- ``site-packages``: the same for every ``.py`` file of the installed packages (the interpreter's
  purelib and platlib directories): hundreds of MB of code on a scientific Python stack.
- text (``.txt``, ``.txt.gz``, any non-JSONL file): one document per paragraph, paragraphs being
  separated by blank lines, so that a single book still has documents to hold out. Each paragraph
  keeps one trailing newline; the blank lines themselves become the EOS separator.
- ``.jsonl`` / ``.jsonl.gz``: one document per line, the string in its ``"text"`` field.
"""

from __future__ import annotations

import dataclasses
import glob
import gzip
import hashlib
import json
import os
import re
import sys
import sysconfig
import zlib

_FORMAT = "llm_jax.corpus.v1"  # bump when document splitting changes: it is part of the hash
_PARAGRAPH_BREAK = re.compile(r"\n(?:[ \t\r\f\v]*\n)+")


class DataError(ValueError):
    """A corpus, tokenizer or data config that cannot be used; the message names the fix."""


@dataclasses.dataclass
class Corpus:
    """Documents in a fixed order, with a content hash that identifies them."""

    spec: str
    documents: list[str]
    hash: str
    n_bytes: int  # UTF-8 bytes of all documents
    n_files: int


def load_corpus(spec: str, max_bytes: int = 0) -> Corpus:
    """Read the corpus named by ``spec``; at most ``max_bytes`` bytes of it when > 0."""
    if not spec:
        raise DataError(
            "data.corpus is empty; use 'stdlib', 'site-packages', a text file/glob, or a .jsonl "
            "file"
        )
    files = BUILT_IN[spec]() if spec in BUILT_IN else _user_files(spec)
    digest = hashlib.sha256(_FORMAT.encode())
    if spec in BUILT_IN:  # these differ between Python versions: never compare silently
        digest.update(sys.version.encode())
    documents, n_bytes, budget = [], 0, max_bytes or None
    for name, path in files:
        if budget is not None and budget <= 0:
            break
        raw = _read(path, budget)
        if budget is not None:
            raw = _cut(raw, budget, path)
            budget -= len(raw)
        docs = _documents(spec, path, raw)
        if docs is None:  # a built-in corpus file that is not clean UTF-8
            continue
        digest.update(f"\0{name}\0{len(raw)}\0".encode())
        digest.update(raw)
        documents.extend(docs)
        n_bytes += sum(len(utf8(d)) for d in docs)
    if not documents:
        raise DataError(
            f"data.corpus={spec!r} is empty (no text in {len(files)} file(s)"
            + (f" within data.max_bytes={max_bytes}" if max_bytes else "")
            + "); point it at files that contain text"
        )
    return Corpus(spec, documents, digest.hexdigest(), n_bytes, len(files))


def utf8(text: str) -> bytes:
    """UTF-8 bytes of any str: surrogate pairs are joined, lone surrogates become U+FFFD."""
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        # A str can hold surrogates (e.g. from JSON escapes) that UTF-8 cannot encode: pairs are
        # valid UTF-16 and become one character; lone ones have no meaning and are replaced.
        joined = text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
        return joined.encode("utf-8", "replace")


def stdlib_files() -> list[tuple[str, str]]:
    """(relative name, path) of every .py file of this interpreter's stdlib, sorted."""
    root = sysconfig.get_paths()["stdlib"]
    found = []
    for directory, subdirs, names in os.walk(root):
        # site-packages holds installed packages, not the standard library.
        subdirs[:] = [d for d in subdirs if d not in ("site-packages", "dist-packages")]
        found += [os.path.join(directory, n) for n in names if n.endswith(".py")]
    return sorted((os.path.relpath(p, root), p) for p in found)


def site_packages_files() -> list[tuple[str, str]]:
    """(relative name, path) of every .py file under this interpreter's site-packages, sorted."""
    paths = sysconfig.get_paths()
    found = {}
    for root in sorted({paths["purelib"], paths["platlib"]}):  # often one directory
        for directory, _, names in os.walk(root):
            for name in names:
                if name.endswith(".py"):
                    path = os.path.join(directory, name)
                    found[os.path.relpath(path, root)] = path
    return sorted(found.items())


BUILT_IN = {"stdlib": stdlib_files, "site-packages": site_packages_files}


def _user_files(spec: str) -> list[tuple[str, str]]:
    """Files named by a path or glob; a clear error when there are none."""
    if glob.has_magic(spec):
        paths = sorted(p for p in glob.glob(spec, recursive=True) if os.path.isfile(p))
        if not paths:
            raise DataError(
                f"data.corpus={spec!r} matched no files (cwd: {os.getcwd()}); check the pattern, "
                "or use 'stdlib' for the built-in corpus"
            )
    elif os.path.isdir(spec):
        raise DataError(f"data.corpus={spec!r} is a directory; use a glob such as '{spec}/*.txt'")
    elif not os.path.isfile(spec):
        raise DataError(
            f"data.corpus={spec!r} does not exist (cwd: {os.getcwd()}); give a text file, a glob, "
            "a .jsonl file, or 'stdlib'"
        )
    else:
        paths = [spec]
    return [(os.path.basename(p), p) for p in paths]


def _read(path: str, budget: int | None) -> bytes:
    """The file's bytes (decompressed for .gz), reading a little past ``budget`` when capped."""
    limit = -1 if budget is None else budget + 4  # +4: room to find a UTF-8 boundary
    try:
        if path.endswith(".gz"):
            with gzip.open(path, "rb") as f:
                return f.read(limit)
        with open(path, "rb") as f:
            return f.read(limit)
    except (OSError, EOFError, zlib.error) as e:
        raise DataError(f"cannot read corpus file {path}: {e}") from e


def _cut(raw: bytes, budget: int, path: str) -> bytes:
    """Truncate to ``budget`` bytes at a boundary that keeps the text (or JSON lines) valid."""
    if len(raw) <= budget:
        return raw
    if _is_jsonl(path):
        return raw[: raw.rfind(b"\n", 0, budget) + 1]  # whole lines only
    end = budget
    while end > 0 and (raw[end] & 0xC0) == 0x80:  # don't split a multi-byte character
        end -= 1
    return raw[:end]


def _is_jsonl(path: str) -> bool:
    return path.endswith((".jsonl", ".jsonl.gz"))


def _documents(spec: str, path: str, raw: bytes) -> list[str] | None:
    """Split one file's bytes into documents; None for a built-in corpus file to skip."""
    text = _decode(path, raw, strict=spec not in BUILT_IN)
    if text is None:
        return None
    if _is_jsonl(path):
        return _jsonl_documents(path, text)
    if spec in BUILT_IN:
        return [text] if text else []
    return [p.rstrip("\r\n") + "\n" for p in _PARAGRAPH_BREAK.split(text) if p.strip()]


def _decode(path: str, raw: bytes, *, strict: bool) -> str | None:
    """UTF-8 text, or DataError (strict) / None (lenient) for binary or non-UTF-8 bytes."""
    nul = raw.find(b"\0")
    if nul >= 0:
        if not strict:
            return None
        raise DataError(
            f"corpus file {path} looks binary (NUL byte at offset {nul}); data.corpus must be "
            "UTF-8 text (.txt, .txt.gz) or JSONL with a 'text' field"
        )
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        if not strict:
            return None
        raise DataError(
            f"corpus file {path} is not UTF-8 (byte 0x{raw[e.start]:02x} at offset {e.start}); "
            "re-encode it, e.g. `iconv -f latin1 -t utf-8`, or remove it from data.corpus"
        ) from e


def _jsonl_documents(path: str, text: str) -> list[str]:
    """The 'text' field of each non-blank line; errors name the line."""
    docs = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as e:
            raise DataError(f"{path}:{number} is not valid JSON ({e.msg}); fix that line") from e
        value = record.get("text") if isinstance(record, dict) else None
        if not isinstance(value, str):
            keys = sorted(record) if isinstance(record, dict) else type(record).__name__
            raise DataError(
                f"{path}:{number} has no string 'text' field (found: {keys}); each line must be "
                'a JSON object like {"text": "..."}'
            )
        if value:
            docs.append(value)
    return docs
