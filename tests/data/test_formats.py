"""Streaming readers: Parquet, gzip, byte ranges, remote (fsspec memory://), and bad input."""

import gzip
import hashlib
import pathlib
import re

import fsspec
import pytest

import llm_jax.data.formats as formats
from llm_jax.data import DataError, load_corpus
from llm_jax.data.inputs import resolve
from llm_jax.data.sources import ReadOptions, Segment, Tally, read_documents, sample_documents
from tests.data.corpora import paragraph, write_jsonl, write_parquet

TRICKY = (
    "\n\n  lead\n \n\n\t\nsecond ü€😀 para\nline two\r\n\r\n"
    + "x" * 30
    + "\n  \n   \n\nlast para no newline 😀"
)


def read(spec, **options):
    tally = Tally()
    docs = list(read_documents([Segment(i) for i in resolve(spec)], ReadOptions(**options), tally))
    return docs, tally


@pytest.mark.parametrize("block", [1, 2, 3, 5, 7, 64])
def test_streamed_paragraphs_equal_splitting_the_whole_text(tmp_path, monkeypatch, block):
    path = tmp_path / "t.txt"
    path.write_text(TRICKY)
    pieces = re.split(r"\n(?:[ \t\r\f\v]*\n)+", TRICKY)
    expected = [p.rstrip("\r\n") + "\n" for p in pieces if p.strip()]
    monkeypatch.setattr(formats, "BLOCK", block)  # blocks cut breaks and characters anywhere
    assert read(str(path))[0] == expected


def test_parquet_rows_by_row_group_with_text_key(tmp_path):
    texts = [paragraph(i) for i in range(35)]
    texts[3], texts[4] = None, ""
    write_parquet(tmp_path / "a.parquet", texts, row_group_size=8, column="body")
    docs, tally = read(str(tmp_path / "a.parquet"), text_key="body")
    assert docs == [t for t in texts if t]
    assert tally.skipped == {"null_text": 1, "empty": 1}
    (record,) = tally.inputs
    assert record["stop"] == record["size"] and len(record["sha256"]) == 64


def test_parquet_without_the_text_column_names_file_and_fix(tmp_path):
    write_parquet(tmp_path / "a.parquet", ["x", "y"], column="content")
    with pytest.raises(DataError, match=r"a.parquet has no column 'text' \(columns: content, n\)"):
        read(str(tmp_path / "a.parquet"))
    with pytest.raises(DataError, match="set data.text_key"):
        read(str(tmp_path / "a.parquet"))


def test_corrupt_parquet_names_the_file(tmp_path):
    path = write_parquet(tmp_path / "a.parquet", [paragraph(i) for i in range(50)])
    raw = pathlib.Path(path).read_bytes()
    pathlib.Path(path).write_bytes(raw[: len(raw) // 2])  # the footer is gone
    with pytest.raises(DataError, match="a.parquet is not a readable Parquet file"):
        read(path)


def test_jsonl_gz_documents_and_hash_of_stored_bytes(tmp_path):
    texts = [paragraph(i) for i in range(20)]
    path = write_jsonl(tmp_path / "d.jsonl.gz", texts, compress=True)
    docs, tally = read(path)
    assert docs == texts
    stored = pathlib.Path(path).read_bytes()
    assert tally.inputs[0]["sha256"] == hashlib.sha256(stored).hexdigest()


def test_truncated_gzip_names_the_file_position_and_fix(tmp_path):
    text = "\n\n".join(f"{i} {hash(str(i)):x} " * 9 for i in range(40_000))  # ~3 MB, 1.5 MB gz
    data = gzip.compress(text.encode())
    (tmp_path / "book.txt.gz").write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError) as error:
        read(str(tmp_path / "book.txt.gz"))
    message = str(error.value)
    at = int(re.search(r"book.txt.gz at byte (\d+):", message).group(1))
    assert 0 < at < len(text) and "truncated or corrupt gzip" in message
    assert "re-download" in message


def test_malformed_json_fails_or_is_skipped_and_counted(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text('{"text": "one"}\n{"text": \n{"body": "x"}\n[1, 2]\n{"text": "two"}\n')
    with pytest.raises(DataError, match=r"d.jsonl:2 is not valid JSON.*bad_records='skip'"):
        read(str(path))
    docs, tally = read(str(path), bad_records="skip")
    assert docs == ["one", "two"] and tally.skipped == {"invalid_json": 1, "no_text": 2}


@pytest.mark.parametrize("kind", ["jsonl", "parquet"])
def test_byte_ranges_partition_the_records(tmp_path, kind):
    texts = [paragraph(i) for i in range(60)]
    if kind == "jsonl":
        path = write_jsonl(tmp_path / "d.jsonl", texts)
    else:
        path = write_parquet(tmp_path / "d.parquet", texts, row_group_size=4)
    (source,) = resolve(path)
    assert source.splittable
    for n in (2, 3, 7, 16):
        cuts = [k * source.size // n for k in range(n + 1)]
        parts = [Segment(source, a, b) for a, b in zip(cuts, cuts[1:], strict=False)]
        got = [list(read_documents([p])) for p in parts]
        assert sum(got, []) == texts, n  # each record read once, in order
        assert n < 7 or sum(bool(g) for g in got) > 2  # (Parquet: the footer is a large part)


def test_jsonl_range_errors_name_the_byte_offset(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text('{"text": "a"}\n' * 60 + "not json\n" + '{"text": "b"}\n' * 40)
    (source,) = resolve(str(path))
    assert len(list(read_documents([Segment(source, 0, source.size // 2)]))) == 51
    second_half = Segment(source, source.size // 2, source.size)
    with pytest.raises(DataError, match=r"d.jsonl \(the line at byte 840\) is not valid JSON"):
        list(read_documents([second_half]))


def test_remote_memory_filesystem_reads_like_local(tmp_path):
    fs = fsspec.filesystem("memory")
    texts = [paragraph(i) for i in range(30)]
    local = write_jsonl(tmp_path / "a.jsonl", texts)
    fs.pipe("/corpus/a.jsonl", pathlib.Path(local).read_bytes())
    fs.pipe("/corpus/b.txt.gz", gzip.compress(b"remote one\n\nremote two\n"))
    try:
        corpus = load_corpus("memory://corpus/*")
        assert corpus.documents == texts + ["remote one\n", "remote two\n"]
        assert corpus.hash != load_corpus(local).hash
        with pytest.raises(DataError, match="matched no files"):
            load_corpus("memory://corpus/*.parquet")
    finally:
        fs.rm("/corpus", recursive=True)


def test_sample_is_bounded_deterministic_and_spread(tmp_path):
    for f in range(20):
        write_jsonl(tmp_path / f"{f:02d}.jsonl", [f"file {f} doc {i} " * 20 for i in range(50)])
    inputs = resolve(str(tmp_path / "*.jsonl"))
    docs, about = sample_documents(inputs, 20_000, ReadOptions())
    assert 20_000 <= about["bytes"] < 20_000 + 400 and about["documents"] == len(docs)
    assert about["files"] > 5  # a per-file quota: many files contribute
    assert sample_documents(inputs, 20_000, ReadOptions()) == (docs, about)
