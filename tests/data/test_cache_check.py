"""Broken cache entries are rebuilt, never read; temporary directories of killed tokenizations
are removed (and a live or brand-new one is left alone)."""

import logging
import os
import subprocess
import sys
import time

import numpy as np
import pytest

from llm_jax.data import prepare_data
from llm_jax.data.cache_check import STALE_AFTER_S, remove_stale_tmp
from tests.data.test_tokenize import count_encodes, data_cfg, paragraphs


def _entry(tmp_path):
    (entry,) = (tmp_path / "cache" / "tokens").iterdir()
    return entry


@pytest.mark.parametrize(
    "damage",
    [
        lambda e: os.truncate(e / "train.npy", (e / "train.npy").stat().st_size // 2),
        lambda e: os.truncate(e / "val.npy", 100),  # the header survives, the data does not
        lambda e: (e / "info.json").write_text('{"n_train_tokens": '),
        lambda e: (e / "train.npy").unlink(),
    ],
    ids=["truncated train.npy", "truncated val.npy", "garbled info.json", "missing train.npy"],
)
def test_a_broken_token_cache_entry_is_rebuilt(tmp_path, monkeypatch, caplog, damage):
    cfg = data_cfg(tmp_path, corpus=paragraphs(tmp_path), seq_len=32)
    first = prepare_data(cfg)
    train, val = np.array(first.train), np.array(first.val)
    damage(_entry(tmp_path))
    calls = count_encodes(monkeypatch)
    with caplog.at_level(logging.WARNING, logger="llm_jax"):
        again = prepare_data(cfg)
    assert f"{_entry(tmp_path)} is broken" in caplog.text
    assert sum(calls) == first.info["n_documents"]  # tokenized again, from the corpus
    np.testing.assert_array_equal(again.train, train)
    np.testing.assert_array_equal(again.val, val)


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_stale_temporary_directories_are_removed(tmp_path):
    old = time.time() - STALE_AFTER_S - 60
    dead = tmp_path / f"abc.tmp{_dead_pid()}"
    fresh_dead = tmp_path / f"def.tmp{_dead_pid()}"
    alive = tmp_path / f"ghi.tmp{os.getpid()}"
    entry = tmp_path / "0123abcd"  # a published entry: never touched
    for directory in (dead, fresh_dead, alive, entry):
        (directory / "sub").mkdir(parents=True)
        (directory / "sub" / "train.npy").write_bytes(b"x")
    for directory in (dead, alive, entry):
        os.utime(directory, (old, old))
    remove_stale_tmp(tmp_path)
    assert not dead.exists()
    assert fresh_dead.exists() and alive.exists() and entry.exists()


def test_a_broken_cached_bpe_tokenizer_is_trained_again(tmp_path, caplog):
    from llm_jax.data import build_tokenizer

    cfg = data_cfg(tmp_path, corpus=paragraphs(tmp_path), tokenizer="bpe:300")
    first = build_tokenizer(cfg)
    (cached,) = (tmp_path / "cache" / "tokenizers").iterdir()
    (cached / "tokenizer.model").write_bytes(b"truncated")
    with caplog.at_level(logging.WARNING, logger="llm_jax"):
        again = build_tokenizer(cfg)
    assert f"cached tokenizer {cached} is broken" in caplog.text
    assert again.fingerprint == first.fingerprint  # the same model, trained again


def test_a_broken_cached_token_store_is_prepared_again(tmp_path, caplog):
    from llm_jax.data import open_training_data

    cfg = data_cfg(tmp_path, corpus=paragraphs(tmp_path), seq_len=32)
    first = open_training_data(cfg, steps=1, seed=0)
    tokens = np.array(first.sources[0].train[0 : len(first.sources[0].train)])
    (store,) = (tmp_path / "cache" / "stores").glob("*/manifest.json")
    shard = sorted((store.parent / "shards").glob("train-*.bin"))[0]
    os.truncate(shard, shard.stat().st_size // 2)
    with caplog.at_level(logging.WARNING, logger="llm_jax"):
        again = open_training_data(cfg, steps=1, seed=0)
    assert f"cached token store {store.parent} is broken" in caplog.text
    np.testing.assert_array_equal(again.sources[0].train[0 : len(tokens)], tokens)
