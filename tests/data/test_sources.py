"""Corpus sources: documents, hashing, max_bytes, and clear errors for bad inputs."""

import gzip
import json
import sys

import pytest

from llm_jax.data import DataError, load_corpus
from llm_jax.data.sources import stdlib_files


def test_text_file_splits_into_paragraph_documents(tmp_path):
    path = tmp_path / "book.txt"
    path.write_text("First para,\nline two.\n\n\nSecond para.\n  \t\nThird.\n")
    corpus = load_corpus(str(path))
    assert corpus.documents == ["First para,\nline two.\n", "Second para.\n", "Third.\n"]
    assert corpus.n_bytes == sum(len(d.encode()) for d in corpus.documents)


def test_glob_and_gzip_in_sorted_order(tmp_path):
    (tmp_path / "b.txt").write_text("bee\n")
    with gzip.open(tmp_path / "a.txt.gz", "wt") as f:
        f.write("ay\n")
    assert load_corpus(str(tmp_path / "*.txt*")).documents == ["ay\n", "bee\n"]


def test_jsonl_documents(tmp_path):
    path = tmp_path / "docs.jsonl"
    lines = [{"text": "one"}, {"text": "two 😀", "id": 3}, {"text": ""}]
    path.write_text("\n".join(json.dumps(r) for r in lines) + "\n\n")
    assert load_corpus(str(path)).documents == ["one", "two 😀"]


def test_hash_follows_content_not_mtime(tmp_path):
    path = tmp_path / "t.txt"
    path.write_text("hello\n\nworld\n")
    first = load_corpus(str(path)).hash
    path.write_text("hello\n\nworld\n")
    assert load_corpus(str(path)).hash == first
    path.write_text("hello\n\nWorld\n")
    assert load_corpus(str(path)).hash != first


def test_max_bytes_caps_without_splitting_characters(tmp_path):
    path = tmp_path / "t.txt"
    path.write_text("ab€cd\n\nmore text\n")  # € is 3 bytes at offsets 2..4
    corpus = load_corpus(str(path), max_bytes=3)
    assert corpus.documents == ["ab\n"]
    assert load_corpus(str(path), max_bytes=3).hash != load_corpus(str(path)).hash


def test_stdlib_corpus_is_python_sources_without_site_packages():
    files = stdlib_files()
    assert len(files) > 500
    assert all(name.endswith(".py") and "site-packages" not in name for name, _ in files)
    assert [n for n, _ in files] == sorted(n for n, _ in files)
    corpus = load_corpus("stdlib", max_bytes=200_000)
    assert 0 < corpus.n_bytes <= 200_000
    assert corpus.hash != load_corpus("stdlib", max_bytes=100_000).hash


def test_stdlib_hash_includes_python_version(monkeypatch):
    before = load_corpus("stdlib", max_bytes=10_000).hash
    monkeypatch.setattr(sys, "version", sys.version + " (patched)")
    assert load_corpus("stdlib", max_bytes=10_000).hash != before


def test_empty_file(tmp_path):
    (tmp_path / "empty.txt").write_text("\n \n")
    with pytest.raises(DataError, match="is empty"):
        load_corpus(str(tmp_path / "empty.txt"))


def test_binary_file(tmp_path):
    (tmp_path / "blob.txt").write_bytes(b"text\x00\x01\x02more")
    with pytest.raises(DataError, match=r"looks binary \(NUL byte at offset 4\)"):
        load_corpus(str(tmp_path / "blob.txt"))


def test_non_utf8_file(tmp_path):
    (tmp_path / "latin1.txt").write_bytes("café\n".encode("latin-1"))
    with pytest.raises(DataError, match="not UTF-8.*offset 3.*iconv"):
        load_corpus(str(tmp_path / "latin1.txt"))


def test_glob_matching_nothing(tmp_path):
    with pytest.raises(DataError, match="matched no files"):
        load_corpus(str(tmp_path / "*.txt"))


def test_missing_path_and_directory(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        load_corpus(str(tmp_path / "absent.txt"))
    with pytest.raises(DataError, match="is a directory; use a glob"):
        load_corpus(str(tmp_path))


def test_jsonl_without_text_field(tmp_path):
    path = tmp_path / "docs.jsonl"
    path.write_text('{"text": "fine"}\n{"body": "no text here"}\n')
    with pytest.raises(DataError, match=r"docs.jsonl:2 has no string 'text' field.*'body'"):
        load_corpus(str(path))


def test_jsonl_invalid_line(tmp_path):
    path = tmp_path / "docs.jsonl"
    path.write_text('{"text": "fine"}\n{"text": \n')
    with pytest.raises(DataError, match="docs.jsonl:2 is not valid JSON"):
        load_corpus(str(path))
