"""Preparing a store: resumable after a kill or a failure, bounded memory, the CLI."""

import json
import pathlib
import random
import re
import signal
import subprocess
import time

import pytest

import llm_jax.cli.prepare_data as prepare_data_cli
import llm_jax.data.prepare as prepare_module
import llm_jax.data.writer as writer_module
from llm_jax.data import DataError, Store
from llm_jax.data.prepare import prepare_store
from tests.data.corpora import PYTHON, ROOT, data_cfg, snapshot, subprocess_env, write_text

SMALL = dict(unit_bytes=3_000, shard_tokens=700)


def cli(*args, timeout=120):
    return subprocess.run(
        [PYTHON, "-m", "llm_jax.cli.prepare_data", *args],
        cwd=ROOT,
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def record_units(monkeypatch) -> list[int]:
    ran = []
    real = prepare_module.tokenize_unit
    monkeypatch.setattr(
        prepare_module, "tokenize_unit", lambda j, u, s: ran.append(u) or real(j, u, s)
    )
    return ran


def test_interrupted_then_rerun_equals_uninterrupted(tmp_path, monkeypatch):
    cfg = data_cfg(tmp_path, corpus=write_text(tmp_path / "corpus"))
    prepare_store(cfg, str(tmp_path / "clean"), **SMALL)
    published, real = [], writer_module.write_atomically

    def dies_at_the_fourth_record(fs, path, data):
        if "unit-" in path and len(published) == 3:
            raise KeyboardInterrupt  # after the unit's shards, before its record
        published.append(path)
        real(fs, path, data)

    monkeypatch.setattr(writer_module, "write_atomically", dies_at_the_fourth_record)
    with pytest.raises(KeyboardInterrupt):
        prepare_store(cfg, str(tmp_path / "store"), **SMALL)
    assert not (tmp_path / "store" / "manifest.json").exists()
    monkeypatch.setattr(writer_module, "write_atomically", real)
    ran = record_units(monkeypatch)
    prepare_store(cfg, str(tmp_path / "store"), **SMALL)
    assert (
        ran[0] == 3
        and 0 not in ran
        and len(ran) == Store(str(tmp_path / "store")).manifest["units"] - 3
    )
    assert snapshot(tmp_path / "store") == snapshot(tmp_path / "clean")


def test_killed_cli_rerun_finishes_identically_without_redoing_units(tmp_path):
    corpus = write_text(tmp_path / "corpus", n_files=40, per_file=60)
    args = [f"--corpus={corpus}", "--workers=1", "--unit_bytes=3000", "--shard_tokens=700"]
    assert cli(*args, f"--out={tmp_path / 'clean'}").returncode == 0
    out = tmp_path / "store"
    process = subprocess.Popen(
        [PYTHON, "-m", "llm_jax.cli.prepare_data", *args, f"--out={out}"],
        cwd=ROOT,
        env=subprocess_env(),
        stderr=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(list(out.glob("work/unit-*.json"))) < 5:
        time.sleep(0.005)
    process.send_signal(signal.SIGKILL)
    process.wait()
    done = {int(p.stem[5:]) for p in out.glob("work/unit-*.json")}
    assert not (out / "manifest.json").exists(), "finished before the kill: proves nothing"
    rerun = cli(*args, f"--out={out}")
    assert rerun.returncode == 0, rerun.stderr
    redone = {int(u) for u in re.findall(r"prepared unit (\d+):", rerun.stderr)}
    assert redone and not redone & done  # finished units were not tokenized again
    assert snapshot(out) == snapshot(tmp_path / "clean")
    assert "MB/s, ETA" in rerun.stderr  # progress as log lines when not on a terminal


def test_failure_half_way_keeps_finished_units(tmp_path, monkeypatch):
    corpus = write_text(tmp_path / "corpus")
    cfg = data_cfg(tmp_path, corpus=corpus)
    prepare_store(cfg, str(tmp_path / "clean"), **SMALL)
    bad = tmp_path / "corpus" / "part03.txt"
    good = bad.read_bytes()
    bad.write_bytes(good[:5] + b"\xff" + good[6:])  # not UTF-8 (same size: same plan)
    with pytest.raises(DataError, match=r"part03.txt is not UTF-8 \(byte 0xff at offset 5\)"):
        prepare_store(cfg, str(tmp_path / "store"), **SMALL)
    kept = {p.name for p in (tmp_path / "store" / "work").glob("unit-*.json")}
    assert kept  # the units before the bad file are done and stay done
    bad.write_bytes(good)  # the fix: a new modification time, the same size
    ran = record_units(monkeypatch)
    with pytest.raises(DataError, match="unfinished preparation of other inputs"):
        prepare_store(
            data_cfg(tmp_path, corpus=corpus, val_fraction=0.2), str(tmp_path / "store"), **SMALL
        )
    prepare_store(cfg, str(tmp_path / "store"), **SMALL)
    assert len(ran) == Store(str(tmp_path / "store")).manifest["units"] - len(kept)
    assert snapshot(tmp_path / "store") == snapshot(tmp_path / "clean")


_CAPPED = """
import resource, sys
from llm_jax.config import get_default_config
from llm_jax.data.prepare import prepare_store
status = open("/proc/self/status").read()
baseline = int(status.split("VmPeak:")[1].split()[0]) * 1024  # address space after imports
cap = baseline + (48 << 20)
resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
cfg = get_default_config().data
cfg.corpus = sys.argv[1]
manifest = prepare_store(cfg, sys.argv[2], workers=1)
print(cap, manifest["splits"]["train"]["tokens"] + manifest["splits"]["val"]["tokens"])
"""


def test_corpus_larger_than_the_memory_cap_is_prepared_under_it(tmp_path):
    rng = random.Random(0)
    paragraph = " ".join(rng.choice(["alpha", "beta", "gamma", "delta"]) for _ in range(2000))
    path = tmp_path / "big.txt"
    with path.open("w") as f:
        for i in range(200_000_000 // len(paragraph)):
            f.write(paragraph[i % 997 :] + "\n\n")
    result = subprocess.run(
        [PYTHON, "-c", _CAPPED, str(path), str(tmp_path / "store")],
        cwd=ROOT,
        env=subprocess_env(OPENBLAS_NUM_THREADS="1"),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    cap, tokens = map(int, result.stdout.split())
    size = path.stat().st_size
    assert size > cap > 0  # the whole corpus could not be held in memory
    assert tokens == size  # each paragraph: its bytes + "\n", then EOS for the blank line
    path.unlink()


def test_cli_parts_merge_and_verify(tmp_path):
    corpus = write_text(tmp_path / "corpus")
    out, layout = tmp_path / "store", ["--unit_bytes=3000", "--shard_tokens=700"]
    part = cli(f"--corpus={corpus}", f"--out={out}", "--shard=1/2", *layout)
    assert part.returncode == 0 and json.loads(part.stdout)["next"].startswith("--merge")
    prepare_store(data_cfg(tmp_path, corpus=corpus), str(out), part=(0, 2), **SMALL)
    merged = cli(f"--out={out}", "--merge")
    assert merged.returncode == 0, merged.stderr
    assert json.loads(merged.stdout)["n_documents"] == 240
    Store(str(out)).verify("checksum")
    shard = next((out / "shards").glob("val-*.bin"))
    shard.write_bytes(bytes(reversed(shard.read_bytes())))
    failed = cli(f"--out={out}", "--verify")
    assert failed.returncode != 0 and "Traceback" not in failed.stderr
    assert f"{shard.name} does not match its sha256" in failed.stderr
    with pytest.raises(DataError, match="--shard='2/2' must be i/N"):
        prepare_data_cli._part("2/2")
    assert pathlib.Path(ROOT / "tools" / "prepare_data.py").read_text().count("\n") <= 6
