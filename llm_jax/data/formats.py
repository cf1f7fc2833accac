"""How each input format is read: streamed in blocks, with errors naming the file and where.

Document boundaries (EOS is inserted between documents, and the validation split is by document):
- built-in corpora (``stdlib``, ``site-packages``): one document per ``.py`` file; the few files
  that are not UTF-8 (CPython's own encoding tests) are skipped and counted.
- text (``.txt``, ``.txt.gz``, any other file): one document per paragraph, paragraphs being
  separated by blank lines, so that a single book still has documents to hold out. Each paragraph
  keeps one trailing newline; the blank lines themselves become the EOS separator.
- ``.jsonl`` / ``.jsonl.gz``: one document per line, the string in its text field (``text_key``).
- ``.parquet``: one document per row, the string in column ``text_key`` (parquet.py).

Memory holds a block (1 MiB) and the current paragraph, line or record batch, whatever the file
size. Each reader records the sha256 of the stored bytes it read; a byte range of a splittable
file (uncompressed JSONL, Parquet) holds the records that start in it.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import gzip
import hashlib
import io
import json
import re

import fsspec

from llm_jax.data.inputs import DataError, Input

BLOCK = 1 << 20
_WS = " \t\r\f\v\n"
_PARAGRAPH_BREAK = re.compile(r"\n(?:[ \t\r\f\v]*\n)+")


@dataclasses.dataclass(frozen=True)
class Segment:
    """An input file, or the records of it that start in the byte range [start, stop)."""

    input: Input
    start: int = 0
    stop: int | None = None  # None: to the end

    @property
    def end(self) -> int:
        return self.input.size if self.stop is None else self.stop


@dataclasses.dataclass(frozen=True)
class ReadOptions:
    text_key: str = "text"  # JSONL field / Parquet column holding the text
    bad_records: str = "fail"  # fail | skip (and count) malformed JSON lines, missing text
    max_bytes: int = 0  # stop after this many source bytes (0: no cap)


@dataclasses.dataclass
class Tally:
    """What a read saw: per segment, its range, bytes read and sha256; skipped counts."""

    inputs: list = dataclasses.field(default_factory=list)
    skipped: collections.Counter = dataclasses.field(default_factory=collections.Counter)


def utf8(text: str) -> bytes:
    """UTF-8 bytes of any str: surrogate pairs are joined, lone surrogates become U+FFFD."""
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        # A str can hold surrogates (e.g. from JSON escapes) that UTF-8 cannot encode: pairs are
        # valid UTF-16 and become one character; lone ones have no meaning and are replaced.
        joined = text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
        return joined.encode("utf-8", "replace")


def unreadable(source: Input, at, error) -> str:
    where = f" at {at}" if at else ""
    if source.gzip:
        return (
            f"cannot read corpus file {source.name}{where}: {error}; it is a truncated or "
            "corrupt gzip file: re-download or re-compress it, or remove it from the corpus"
        )
    return f"cannot read corpus file {source.name}{where}: {error}"


class _Hashed(io.RawIOBase):
    """A stored file, read through: hashes the bytes of [start, stop) that pass."""

    def __init__(self, f, start: int, stop: int):
        self._f, self._start, self._stop = f, start, stop
        self.sha, self.pos = hashlib.sha256(), 0

    def readable(self):
        return True

    def seekable(self):
        return True

    def readinto(self, buffer) -> int:
        data = self._f.read(len(buffer))
        n = len(data)
        buffer[:n] = data
        lo, hi = max(self._start, self.pos), min(self._stop, self.pos + n)
        if lo < hi:
            self.sha.update(data[lo - self.pos : hi - self.pos])
        self.pos += n
        return n

    def seek(self, offset, whence=io.SEEK_SET):
        self.pos = self._f.seek(offset, whence)
        return self.pos

    def tell(self):
        return self.pos


@contextlib.contextmanager
def _opened(segment: Segment, record: dict):
    """The decompressed byte stream of a segment's file; its sha256 lands in ``record``."""
    with fsspec.open(segment.input.url, "rb") as raw:
        hashed = _Hashed(raw, segment.start, segment.end)
        yield gzip.GzipFile(fileobj=hashed) if segment.input.gzip else io.BufferedReader(hashed)
        record["sha256"] = hashed.sha.hexdigest()


def _blocks(f, budget: int | None):
    """Blocks of a stream; capped, it ends at ≤ budget bytes, not inside a UTF-8 character."""
    total = 0
    while budget is None or total + BLOCK + 4 <= budget:
        block = f.read(BLOCK)
        if not block:
            return
        total += len(block)
        yield block
    # The last piece: 4 bytes past the cap are enough to see where a character ends.
    piece = f.read(budget + 4 - total)
    if total + len(piece) > budget:
        end = budget - total
        while end > 0 and (piece[end] & 0xC0) == 0x80:  # don't split a multi-byte character
            end -= 1
        piece = piece[:end]
    if piece:
        yield piece


def _complete_utf8(data: bytes) -> int:
    """Length of the prefix of data that does not end inside a multi-byte character."""
    i = len(data) - 1
    while i >= 0 and len(data) - i < 4 and (data[i] & 0xC0) == 0x80:
        i -= 1
    if i >= 0 and data[i] >= 0xC0:
        needed = 2 if data[i] < 0xE0 else 3 if data[i] < 0xF0 else 4
        if len(data) - i < needed:
            return i
    return len(data)


def _check_text(name: str, data: bytes, offset: int) -> str:
    """data decoded, or DataError for binary (NUL) or non-UTF-8 bytes, naming the offset."""
    nul = data.find(b"\0")
    if nul >= 0:
        raise DataError(
            f"corpus file {name} looks binary (NUL byte at offset {offset + nul}); data.corpus "
            "must be UTF-8 text (.txt, .txt.gz), JSONL or Parquet with a text field"
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise DataError(
            f"corpus file {name} is not UTF-8 (byte 0x{data[e.start]:02x} at offset "
            f"{offset + e.start}); re-encode it, e.g. `iconv -f latin1 -t utf-8`, or remove it "
            "from data.corpus"
        ) from e


class _Paragraphs:
    """Text fed in pieces → its paragraphs, exactly those that splitting all of it would give."""

    def __init__(self):
        self.text, self.scan = "", 0

    def feed(self, more: str) -> list[str]:
        self.text += more
        # A break followed by non-blank text cannot grow: the paragraphs before it are final.
        settled = len(self.text.rstrip(_WS))
        pieces, begin = [], 0
        for match in _PARAGRAPH_BREAK.finditer(self.text, self.scan):
            if match.end() >= settled:
                break
            pieces.append(self.text[begin : match.start()])
            begin = match.end()
        self.text, self.scan = self.text[begin:], settled - begin
        return _paragraphs(pieces)

    def close(self) -> list[str]:
        return _paragraphs(_PARAGRAPH_BREAK.split(self.text))


def _paragraphs(pieces) -> list[str]:
    return [p.rstrip("\r\n") + "\n" for p in pieces if p.strip()]


def python_file(segment, budget, options, tally, record):
    """A built-in corpus file: one document; a file that is not clean UTF-8 is skipped."""
    with _opened(segment, record) as f:
        raw = b"".join(_blocks(f, budget))
    try:
        text = _check_text(segment.input.name, raw, 0)
    except DataError:
        tally.skipped["undecodable_files"] += 1
        return len(raw)
    if text:
        yield text
    return len(raw)


def text_file(segment, budget, options, tally, record):
    name, paragraphs = segment.input.name, _Paragraphs()
    pending, offset = b"", 0
    with _opened(segment, record) as f:
        record["at"] = "byte 0"
        for block in _blocks(f, budget):
            data = pending + block
            cut = _complete_utf8(data)
            text = _check_text(name, data[:cut], offset)
            pending, offset = data[cut:], offset + cut
            record["at"] = f"byte {offset + len(pending)}"
            yield from paragraphs.feed(text)
    _check_text(name, pending, offset)  # a character cut off at the end of the file
    yield from paragraphs.close()
    return offset + len(pending)


def jsonl_file(segment, budget, options, tally, record):
    """Lines starting in [start, stop): a range begins after the line running into it."""
    name, pos, number = segment.input.name, segment.start, 1
    with _opened(segment, record) as f:
        if pos:
            number = None  # line numbers are unknown mid-file: errors name the byte offset
            f.seek(pos - 1)
            if f.read(1) != b"\n":
                pos += len(f.readline())
        while segment.stop is None or pos < segment.stop:  # (a .gz file is never a range)
            line = f.readline()
            end = pos + len(line)
            if not line or (budget is not None and end > budget):
                break
            record["at"] = f"line {number}" if number else f"the line at byte {pos}"
            where = f"{name}:{number}" if number else f"{name} (the line at byte {pos})"
            text = _json_text(line, name, where, pos, options, tally)
            if text:
                yield text
            pos, number = end, number and number + 1
    return pos - segment.start


def _json_text(line: bytes, name: str, where: str, offset: int, options, tally) -> str | None:
    text = _check_text(name, line, offset)
    if not text.strip():
        return None
    try:
        record = json.loads(text)
    except json.JSONDecodeError as e:
        return _bad(
            f"{where} is not valid JSON ({e.msg}); fix that line", "invalid_json", options, tally
        )
    key = options.text_key
    value = record.get(key) if isinstance(record, dict) else None
    if not isinstance(value, str):
        keys = sorted(record) if isinstance(record, dict) else type(record).__name__
        message = (
            f"{where} has no string {key!r} field (found: {keys}); each line must be a JSON "
            f'object like {{"{key}": "..."}} (data.text_key names the field)'
        )
        return _bad(message, "no_text", options, tally)
    if not value:
        tally.skipped["empty"] += 1
    return value


def _bad(message: str, kind: str, options: ReadOptions, tally: Tally) -> None:
    """A malformed record: counted and skipped (bad_records=skip), or a DataError (fail)."""
    if options.bad_records == "skip":
        tally.skipped[kind] += 1
        return None
    raise DataError(f"{message}; or set data.bad_records='skip' to skip and count such records")
