"""Token stores: same tokens as the old cache, any worker/part count, remote, corruption checks."""

import collections
import json
import re
import subprocess

import fsspec
import numpy as np
import pytest

import llm_jax.data.writer as writer_module
from llm_jax.data import (
    DataError,
    Store,
    batch_at,
    eval_batches,
    load_corpus,
    merge,
    prepare_data,
)
from llm_jax.data.dataset import open_training_data
from llm_jax.data.loader import n_windows
from llm_jax.data.prepare import prepare_store
from tests.data.corpora import PYTHON, ROOT, data_cfg, snapshot, subprocess_env, write_text

SMALL = dict(unit_bytes=3_000, shard_tokens=700)  # many units, several shards per unit
KW = dict(seed=5, batch_size=8, seq_len=16)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return write_text(tmp_path_factory.mktemp("corpus"))


def all_tokens(store: Store, split: str) -> np.ndarray:
    files = [store.root + "/" + s["file"] for s in store.manifest["splits"][split]["shards"]]
    return np.concatenate([np.fromfile(f, dtype=store.dtype) for f in files])


@pytest.mark.parametrize("corpus_spec", ["stdlib", "text"])
def test_store_equals_the_old_cache(tmp_path, corpus, corpus_spec):
    spec = corpus if corpus_spec == "text" else "stdlib"
    cfg = data_cfg(tmp_path, corpus=spec, seq_len=16, max_bytes=400_000 * (spec == "stdlib"))
    old = prepare_data(cfg)
    prepare_store(cfg, str(tmp_path / "store"))
    store = Store(str(tmp_path / "store"))
    train, val = store.split("train"), store.split("val")
    np.testing.assert_array_equal(train[0 : len(train)], old.train)
    np.testing.assert_array_equal(val[0 : len(val)], old.val)
    for step in (0, 3, 17, 500):  # 500: a later epoch
        np.testing.assert_array_equal(batch_at(train, step, **KW), batch_at(old.train, step, **KW))
    kw = dict(seq_len=16, batch_size=8, eval_tokens=2048)
    for a, b in zip(eval_batches(val, **kw), eval_batches(old.val, **kw), strict=True):
        np.testing.assert_array_equal(a, b)
    info = store.info()
    assert {k: info[k] for k in old.info if k != "cache"} == {
        k: v for k, v in old.info.items() if k not in ("cache", "corpus_hash")
    } | {"corpus_hash": info["corpus_hash"]}


def test_many_units_and_shards_read_as_one_stream(tmp_path, corpus):
    cfg = data_cfg(tmp_path, corpus=corpus, val_fraction=0.05)
    manifest = prepare_store(cfg, str(tmp_path / "store"), **SMALL)
    store = Store(str(tmp_path / "store"))
    shards = manifest["splits"]["train"]["shards"]
    assert manifest["units"] > 3 and len(shards) > manifest["units"]
    assert all(s["tokens"] <= 700 for s in shards) and store.dtype == np.dtype("<u2")
    train, flat = store.split("train"), all_tokens(store, "train")
    assert len(train) == len(flat) == manifest["splits"]["train"]["tokens"]
    for step in range(0, 40, 7):  # windows cross shard boundaries
        np.testing.assert_array_equal(batch_at(train, step, **KW), batch_at(flat, step, **KW))
    # Every document lands in exactly one split, followed by EOS; the .docs files say where.
    texts = collections.Counter()
    for split in ("train", "val"):
        tokens, ends = all_tokens(store, split), document_ends(store, split)
        assert ends[-1] == len(tokens) and np.all(tokens[ends - 1] == store.tokenizer.eos_id)
        for start, end in zip([0, *ends[:-1]], ends, strict=True):
            texts[store.tokenizer.decode(tokens[start : end - 1])] += 1
    assert texts == collections.Counter(load_corpus(corpus).documents)
    assert manifest["splits"]["val"]["documents"] >= manifest["units"]  # ≥ 1 held out per unit


def document_ends(store: Store, split: str) -> np.ndarray:
    """End offsets of the split's documents: each unit's .docs counts from its own start."""
    bases, total = [], 0
    for docs in store.manifest["splits"][split]["docs"]:
        ends = np.fromfile(store.root + "/" + docs["file"], "<i8")
        assert len(ends) == docs["documents"]
        bases.append(ends + total)
        total += int(ends[-1])
    return np.concatenate(bases)


def test_two_workers_write_what_one_writes_bit_for_bit(tmp_path, corpus):
    cfg = data_cfg(tmp_path, corpus=corpus)
    prepare_store(cfg, str(tmp_path / "one"), workers=1, **SMALL)
    prepare_store(cfg, str(tmp_path / "two"), workers=2, **SMALL)
    one, two = snapshot(tmp_path / "one"), snapshot(tmp_path / "two")
    assert len(one) > 10 and one == two


def test_parts_on_several_machines_merge_into_the_same_store(tmp_path, corpus):
    cfg = data_cfg(tmp_path, corpus=corpus)
    prepare_store(cfg, str(tmp_path / "single"), **SMALL)
    out = str(tmp_path / "parts")
    assert prepare_store(cfg, out, part=(1, 3), **SMALL) is None
    with pytest.raises(DataError, match=r"units are not prepared yet.*--shard=i/N"):
        merge(out)
    for i in (0, 2):
        prepare_store(cfg, out, part=(i, 3), **SMALL)
    merge(out)
    assert snapshot(tmp_path / "parts") == snapshot(tmp_path / "single")


def test_remote_store_reads_only_the_windows_of_its_rows(tmp_path, corpus, monkeypatch):
    cfg = data_cfg(tmp_path, corpus=corpus)
    prepare_store(cfg, str(tmp_path / "local"), **SMALL)
    fs = fsspec.filesystem("memory")
    try:
        prepare_store(cfg, "memory://store", **SMALL)  # the writer through fsspec, too
        remote, local = Store("memory://store"), Store(str(tmp_path / "local"))
        assert remote.manifest["splits"] == local.manifest["splits"]
        requested = []
        real = type(fs).cat_ranges

        def recording(self, paths, starts, ends, **kw):
            requested.extend(e - s for s, e in zip(starts, ends, strict=True))
            return real(self, paths, starts, ends, **kw)

        monkeypatch.setattr(type(fs), "cat_ranges", recording)
        train = remote.split("train")
        for step in (0, 9):
            half = batch_at(train, step, **KW, process_index=1, process_count=2)
            full = batch_at(local.split("train"), step, **KW)
            np.testing.assert_array_equal(half, full[4:])
        assert sum(requested) == 2 * 4 * 17 * 2  # 2 steps × 4 rows × 17 tokens × 2 bytes
        remote.verify("checksum")
    finally:
        fs.rm("/store", recursive=True)


def test_two_processes_each_half_the_rows_equal_one_process(tmp_path, corpus):
    cfg = data_cfg(tmp_path, corpus=corpus)
    out = str(tmp_path / "store")
    prepare_store(cfg, out, **SMALL)
    script = (
        "import sys, numpy as np\n"
        "from llm_jax.data import Store, batch_at\n"
        "i = int(sys.argv[1]); train = Store(sys.argv[2]).split('train')\n"
        "rows = [batch_at(train, s, seed=5, batch_size=8, seq_len=16, process_index=i,\n"
        "                 process_count=2) for s in range(12)]\n"
        "np.save(sys.argv[3], np.stack(rows))\n"
    )
    halves = []
    for i in range(2):
        path = tmp_path / f"p{i}.npy"
        subprocess.run(
            [PYTHON, "-c", script, str(i), out, str(path)],
            check=True,
            cwd=ROOT,
            env=subprocess_env(),
            timeout=120,
        )
        halves.append(np.load(path))
    train = Store(out).split("train")
    one = np.stack([batch_at(train, s, **KW) for s in range(12)])
    np.testing.assert_array_equal(np.concatenate(halves, axis=1), one)


def test_corrupt_shards_are_detected_before_training(tmp_path, corpus):
    cfg = data_cfg(tmp_path, corpus=str(tmp_path / "store"), seq_len=16)
    manifest = prepare_store(data_cfg(tmp_path, corpus=corpus), str(tmp_path / "store"), **SMALL)
    entry = manifest["splits"]["train"]["shards"][3]
    shard, name = tmp_path / "store" / entry["file"], re.escape(entry["file"])
    raw = bytearray(shard.read_bytes())
    raw[10] ^= 0xFF  # same size, different content
    shard.write_bytes(raw)
    open_training_data(cfg, steps=10, seed=0)  # size check only: not caught
    cfg.verify = "checksum"
    with pytest.raises(DataError, match=rf"{name} does not match its sha256.*corrupt"):
        open_training_data(cfg, steps=10, seed=0)
    shard.write_bytes(raw[:-6])
    cfg.verify = "size"
    size = entry["tokens"] * 2
    with pytest.raises(DataError, match=rf"has {size - 6} bytes, the manifest says {size} \(trunc"):
        open_training_data(cfg, steps=10, seed=0)
    shard.unlink()
    with pytest.raises(DataError, match=f"{name} is missing; re-prepare"):
        open_training_data(cfg, steps=10, seed=0)


def test_tokenizer_mismatch_names_both(tmp_path, corpus):
    store = str(tmp_path / "store")
    prepare_store(data_cfg(tmp_path, corpus=corpus, tokenizer="bpe:300"), store)
    with pytest.raises(DataError) as error:
        open_training_data(data_cfg(tmp_path, corpus=store, seq_len=16), steps=1, seed=0)
    message, manifest = str(error.value), Store(store).manifest
    assert "'bpe:300' (fingerprint " + manifest["tokenizer"]["fingerprint"] in message
    assert "data.tokenizer='byte' has fingerprint" in message
    assert f"set data.tokenizer={store}/tokenizer/tokenizer.model" in message
    fixed = data_cfg(tmp_path, corpus=store, seq_len=16, tokenizer="bpe:300")
    data = open_training_data(fixed, steps=1, seed=0)
    assert data.tokenizer.fingerprint == manifest["tokenizer"]["fingerprint"]
    sample = manifest["tokenizer"]["trained_on"]
    assert sample["corpus"] == corpus and sample["bytes"] > 0 and len(sample["sha256"]) == 64
    saved = json.loads((tmp_path / "store" / "tokenizer" / "tokenizer.json").read_text())
    assert saved["trained_on"] == sample


def test_raw_spec_is_prepared_once_then_opened_without_reading(tmp_path, corpus, monkeypatch):
    cfg = data_cfg(tmp_path, corpus=corpus, seq_len=16)
    first = open_training_data(cfg, steps=5, seed=0)
    assert n_windows(len(first.sources[0].train), 16) > 10

    def refuse(*args, **kwargs):
        raise AssertionError("the corpus was read again")

    monkeypatch.setattr(writer_module, "read_documents", refuse)
    again = open_training_data(cfg, steps=5, seed=0)
    assert again.info == first.info
    with again.batch_iterator() as batches:
        step, batch = next(batches.iterate(3))
    expected = batch_at(first.sources[0].train, 3, seed=0, batch_size=cfg.batch_size, seq_len=16)
    np.testing.assert_array_equal(batch, expected)
