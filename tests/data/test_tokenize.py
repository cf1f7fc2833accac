"""prepare_data: the token cache, its reuse, the split, the info record, too-short corpora."""

import json

import numpy as np
import pytest

import llm_jax.data.tokenizer as tokenizer_module
from llm_jax.config import get_default_config
from llm_jax.data import DataError, prepare_data
from llm_jax.data.tokenize import split_documents, token_dtype


def data_cfg(tmp_path, **overrides):
    cfg = get_default_config().data
    cfg.cache_dir = str(tmp_path / "cache")
    cfg.update(overrides)
    return cfg


def paragraphs(tmp_path, n=200, name="corpus.txt"):
    path = tmp_path / name
    path.write_text(
        "\n\n".join(f"Paragraph {i}: " + "words and more words. " * 5 for i in range(n))
    )
    return str(path)


def count_encodes(monkeypatch):
    """Count documents the byte tokenizer encodes in batch (the corpus path)."""
    calls = []
    real = tokenizer_module.ByteTokenizer.encode_batch

    def counting(self, texts):
        calls.append(len(texts))
        return real(self, texts)

    monkeypatch.setattr(tokenizer_module.ByteTokenizer, "encode_batch", counting)
    return calls


def test_tokens_are_documents_separated_by_eos(tmp_path):
    data = prepare_data(data_cfg(tmp_path, corpus=paragraphs(tmp_path), seq_len=32))
    tok = data.tokenizer
    assert data.train.dtype == np.uint16 and data.train.ndim == 1
    assert isinstance(data.train, np.memmap)
    pieces = np.split(np.asarray(data.train), np.flatnonzero(data.train == tok.eos_id) + 1)
    assert pieces[-1].size == 0  # EOS ends every document, the last one too
    assert tok.decode(pieces[0][:-1]).startswith("Paragraph 0: words")
    assert data.info["n_train_tokens"] + data.info["n_val_tokens"] == (
        data.info["n_bytes"] + data.info["n_documents"]
    )


def test_second_call_reuses_cache_without_tokenizing(tmp_path, monkeypatch):
    cfg = data_cfg(tmp_path, corpus=paragraphs(tmp_path), seq_len=32)
    calls = count_encodes(monkeypatch)
    first = prepare_data(cfg)
    assert sum(calls) == first.info["n_documents"]
    mtime = (tmp_path / "cache" / "tokens").glob("*/train.npy").__next__().stat().st_mtime_ns
    second = prepare_data(cfg)
    assert sum(calls) == first.info["n_documents"]  # no further encode
    assert np.array_equal(first.train, second.train) and first.info == second.info
    assert next((tmp_path / "cache" / "tokens").glob("*/train.npy")).stat().st_mtime_ns == mtime


def test_changed_content_or_split_is_a_new_cache_entry(tmp_path):
    cfg = data_cfg(tmp_path, corpus=paragraphs(tmp_path), seq_len=32)
    first = prepare_data(cfg)
    cfg.val_fraction = 0.2
    assert prepare_data(cfg).info["cache"] != first.info["cache"]
    paragraphs(tmp_path, n=201)
    changed = prepare_data(cfg)
    assert changed.info["corpus_hash"] != first.info["corpus_hash"]
    assert len(list((tmp_path / "cache" / "tokens").iterdir())) == 3


def test_info_is_json_and_complete(tmp_path):
    data = prepare_data(data_cfg(tmp_path, corpus=paragraphs(tmp_path), seq_len=32))
    info = json.loads(json.dumps(data.info))
    for key in ("corpus", "corpus_hash", "n_documents", "n_bytes", "n_train_tokens"):
        assert key in info
    assert info["tokenizer"] == "byte" and info["tokenizer_fingerprint"]
    assert info["n_val_tokens"] == len(data.val)
    # Byte tokens: every byte is a token, plus one EOS per document.
    assert 0.9 < info["val_bytes_per_token"] < 1.0


def test_stdlib_with_max_bytes(tmp_path):
    data = prepare_data(data_cfg(tmp_path, max_bytes=300_000, val_fraction=0.1))
    assert data.info["corpus"] == "stdlib" and data.info["python_version"]
    assert data.info["n_bytes"] <= 300_000 and len(data.val) > 0


def test_bpe_spec_end_to_end(tmp_path):
    cfg = data_cfg(tmp_path, corpus=paragraphs(tmp_path), tokenizer="bpe:320", seq_len=16)
    data = prepare_data(cfg)
    assert data.tokenizer.vocab_size == 320
    assert data.info["val_bytes_per_token"] > 1.5  # BPE merges bytes
    assert data.tokenizer.decode(data.val[:40]).startswith("Paragraph")


def test_split_is_deterministic_spread_and_nonempty():
    mask = split_documents(1000, 0.01)
    assert mask.sum() == 10 and np.array_equal(mask, split_documents(1000, 0.01))
    assert np.flatnonzero(mask).max() > 900  # spread over the corpus, not a block at the start
    assert split_documents(5, 0.01).sum() == 1  # at least one held out
    assert split_documents(2, 0.9).sum() == 1  # at least one kept for training
    with pytest.raises(DataError, match="at least 2"):
        split_documents(1, 0.01)
    with pytest.raises(DataError, match="val_fraction"):
        split_documents(10, 0.0)


def test_token_dtype_by_vocab():
    assert token_dtype(259) == np.uint16 and token_dtype(65535) == np.uint16
    assert token_dtype(65536) == np.uint32


def test_corpus_shorter_than_a_sequence_fails_before_tokenizing(tmp_path, monkeypatch):
    calls = count_encodes(monkeypatch)
    cfg = data_cfg(tmp_path, corpus=paragraphs(tmp_path, n=3), seq_len=512)
    with pytest.raises(
        DataError,
        match=r"at most \d+ tokens, fewer than one sequence of data.seq_len\+1=513 for training",
    ):
        prepare_data(cfg)
    assert calls == []


def test_validation_split_too_small(tmp_path):
    cfg = data_cfg(tmp_path, corpus=paragraphs(tmp_path, n=200), seq_len=512, val_fraction=0.005)
    with pytest.raises(DataError, match="validation split.*val_fraction"):
        prepare_data(cfg)


def test_single_document_corpus(tmp_path):
    (tmp_path / "one.txt").write_text("only one paragraph " * 100)
    with pytest.raises(DataError, match="at least 2 are needed"):
        prepare_data(data_cfg(tmp_path, corpus=str(tmp_path / "one.txt"), seq_len=16))


@pytest.mark.slow
def test_stdlib_bpe_full_corpus(tmp_path):
    """The default corpus with bpe:8192: trains within budget, round trips, caches (~25 s)."""
    import time

    from llm_jax.data import load_corpus

    cfg = data_cfg(tmp_path, tokenizer="bpe:8192")
    start = time.perf_counter()
    data = prepare_data(cfg)
    assert time.perf_counter() - start < 120
    assert data.info["n_bytes"] > 20_000_000 and data.info["val_bytes_per_token"] > 2.5
    assert data.info["n_train_tokens"] + data.info["n_val_tokens"] < data.info["n_bytes"] / 2.5
    for doc in load_corpus("stdlib").documents[::97]:
        assert data.tokenizer.decode(data.tokenizer.encode(doc)) == doc
    assert prepare_data(cfg).info == data.info
