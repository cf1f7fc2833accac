"""Tokenizers: exact round trips, surrogate handling, save/load, bpe:N caching."""

import json

import numpy as np
import pytest

from llm_jax.config import get_default_config
from llm_jax.data import (
    ByteTokenizer,
    DataError,
    SentencePieceTokenizer,
    build_tokenizer,
    load_tokenizer_from_dir,
    train_sentencepiece,
)

SAMPLES = {
    "code": 'def f(x):\n\tif x:\n        return {"a": [1, 2]}  # note  \r\n\n\n    pass\n',
    "prose": "  Leading spaces, double  spaces, and trailing ones.  \nNew line.",
    "emoji": "emoji 😀👍🏽 and a family 👨‍👩‍👧 — done",
    "cjk": "中文字符 日本語のテキスト 한국어",
    "combining": "cafe\u0301 vs café, Ångström",
    "controls": "nul\x00bell\x07 tab\t vt\x0b ff\x0c del\x7f",
    "empty": "",
}

# Prose and code with a small vocabulary, so training takes well under a second.
GENERATED = [
    f"def function_{i}(value, other=None):\n    return value * {i} + (other or 0)\n\n"
    f"The quick brown fox number {i} jumps over the lazy dog, again and again.\n"
    for i in range(400)
]


@pytest.fixture(scope="module")
def bpe(tmp_path_factory):
    path = train_sentencepiece(GENERATED, 400, tmp_path_factory.mktemp("bpe") / "small")
    return SentencePieceTokenizer(path)


def data_cfg(tmp_path, **overrides):
    cfg = get_default_config().data
    cfg.cache_dir = str(tmp_path / "cache")
    cfg.update(overrides)
    return cfg


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_byte_round_trip(name):
    tok = ByteTokenizer()
    ids = tok.encode(SAMPLES[name])
    assert ids == list(SAMPLES[name].encode("utf-8"))
    assert tok.decode(ids) == SAMPLES[name]


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_bpe_round_trip(bpe, name):
    ids = bpe.encode(SAMPLES[name])
    assert all(0 <= i < bpe.vocab_size for i in ids)
    assert bpe.decode(ids) == SAMPLES[name]
    assert bpe.decode(np.array(ids, dtype=np.uint16)) == SAMPLES[name]


def test_bpe_compresses_text_it_was_trained_on(bpe):
    text = GENERATED[7]
    assert len(bpe.encode(text)) < len(text.encode()) / 2


def test_bpe_round_trip_tinyshakespeare(shared_data, tmp_path):
    text = (shared_data / "tinyshakespeare.txt").read_text()
    tok = SentencePieceTokenizer(train_sentencepiece([text[:300_000]], 1000, tmp_path / "ts"))
    for piece in (text[:5000], text[-5000:], SAMPLES["code"], SAMPLES["emoji"]):
        assert tok.decode(tok.encode(piece)) == piece


@pytest.mark.parametrize("make", [ByteTokenizer, "bpe"])
def test_surrogates_are_replaced_not_fatal(bpe, make):
    # A str can hold surrogates UTF-8 cannot encode: pairs are joined, lone ones become U+FFFD.
    tok = bpe if make == "bpe" else make()
    assert tok.decode(tok.encode("a\ud800b")) == "a\ufffdb"
    assert tok.decode(tok.encode("x\udfff")) == "x\ufffd"
    assert tok.decode(tok.encode("\ud83d\ude00!")) == "😀!"


@pytest.mark.parametrize("make", [ByteTokenizer, "bpe"])
def test_decode_drops_specials_and_survives_bad_bytes(bpe, make):
    tok = bpe if make == "bpe" else make()
    ids = [tok.bos_id, *tok.encode("hi"), tok.eos_id, tok.pad_id]
    assert tok.decode(ids) == "hi"
    assert len({tok.bos_id, tok.eos_id, tok.pad_id}) == 3
    assert ByteTokenizer().decode([0xFF, ord("a")]) == "\ufffda"  # invalid UTF-8 from a sampler
    # Ids past the tokenizer's vocab (the model pads its vocab to a multiple of 64) are dropped.
    assert tok.decode([*tok.encode("o"), tok.vocab_size + 5, *tok.encode("k")]) == "ok"


@pytest.mark.parametrize("make", [ByteTokenizer, "bpe"])
def test_save_and_load_from_dir(bpe, make, tmp_path):
    tok = bpe if make == "bpe" else make()
    tok.save(tmp_path / "run")
    again = load_tokenizer_from_dir(tmp_path / "run")
    assert type(again) is type(tok)
    assert (again.vocab_size, again.fingerprint) == (tok.vocab_size, tok.fingerprint)
    assert again.encode(SAMPLES["code"]) == tok.encode(SAMPLES["code"])


def test_load_from_dir_missing_is_a_clear_error(tmp_path):
    with pytest.raises(DataError, match="tokenizer.json is missing"):
        load_tokenizer_from_dir(tmp_path)


def test_build_from_model_path(bpe, tmp_path):
    bpe.save(tmp_path)
    tok = build_tokenizer(data_cfg(tmp_path, tokenizer=str(tmp_path / "tokenizer.model")))
    assert tok.fingerprint == bpe.fingerprint
    with pytest.raises(DataError, match="does not exist"):
        build_tokenizer(data_cfg(tmp_path, tokenizer=str(tmp_path / "absent.model")))


def test_build_rejects_unknown_specs(tmp_path):
    for spec in ("bytes", "bpe:lots"):
        with pytest.raises(DataError, match="bpe:"):
            build_tokenizer(data_cfg(tmp_path, tokenizer=spec))


def test_fingerprints_identify_content(bpe, tmp_path):
    assert ByteTokenizer().fingerprint == ByteTokenizer().fingerprint != bpe.fingerprint
    other = SentencePieceTokenizer(train_sentencepiece(GENERATED[:200], 400, tmp_path / "o"))
    assert other.fingerprint != bpe.fingerprint


def test_bpe_spec_trains_once_then_reuses(tmp_path, monkeypatch):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n\n".join(GENERATED))
    cfg = data_cfg(tmp_path, corpus=str(corpus), tokenizer="bpe:400")
    calls = []
    import llm_jax.data.tokenizer as module

    real = module.train_sentencepiece
    monkeypatch.setattr(module, "train_sentencepiece", lambda *a: calls.append(a) or real(*a))
    first = build_tokenizer(cfg)
    second = build_tokenizer(cfg)
    assert len(calls) == 1
    assert first.fingerprint == second.fingerprint and first.vocab_size == 400
    saved = json.loads(
        next((tmp_path / "cache" / "tokenizers").glob("*/tokenizer.json")).read_text()
    )
    assert saved["type"] == "sentencepiece"


def test_too_small_vocab_is_a_data_error(tmp_path):
    with pytest.raises(DataError, match="vocab_size"):
        train_sentencepiece(GENERATED[:5], 50, tmp_path / "tiny")
