"""Recovery through the train CLI: a corrupt latest checkpoint is moved aside and training
resumes from the previous one, bit for bit as if the corrupt one had never been saved; --step
resumes from an earlier step; a finished run is left alone; a full disk is one line; a stale
lock is taken over; run.json keeps the history of invocations."""

import json
import logging
import os
import shutil
import subprocess
import sys

import jax
import numpy as np

from llm_jax.checkpoint import load_params
from tests.cli.conftest import copy_run, train_args, tree_hash
from tests.cli.invoke import invoke
from tests.train.cli import read_metrics


def assert_same_run(a, b):
    """Identical metrics (every logged number) and bitwise-identical final parameters."""
    rows_a, rows_b = (
        read_metrics(a) + read_metrics(a, "eval"),
        read_metrics(b) + read_metrics(b, "eval"),
    )
    keys = ("step", "loss", "grad_norm", "lr", "tokens", "flops")
    assert [[r.get(k) for k in keys] for r in rows_a] == [[r.get(k) for k in keys] for r in rows_b]
    for x, y in zip(
        jax.tree.leaves(load_params(a)[1]), jax.tree.leaves(load_params(b)[1]), strict=True
    ):
        np.testing.assert_array_equal(x, y)


def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_truncated_latest_checkpoint_resumes_from_the_previous_step_bit_identically(
    trained, tmp_path, cache_dir, caplog
):
    clean = copy_run(trained, tmp_path / "clean")  # as if step 4 had never been saved
    shutil.rmtree(clean / "checkpoints" / "4")
    broken = copy_run(trained, tmp_path / "broken")  # step 4 saved, then truncated
    for data in (broken / "checkpoints" / "4").glob("state/**/d/*"):
        os.truncate(data, data.stat().st_size // 2)
    metrics = broken / "metrics.jsonl"
    metrics.write_text(metrics.read_text()[:-20])  # a truncated last line, too
    lock = {"host": os.uname().nodename, "pid": dead_pid()}
    (broken / "lock").write_text(json.dumps(lock))  # left by a killed trainer
    caplog.set_level(logging.WARNING, logger="llm_jax")
    for workdir in (clean, broken):
        result = invoke("train", *train_args(workdir, cache_dir, "--config.train.steps=6"))
        assert result.code == 0, result.stderr[-3000:]
    warnings = caplog.text
    assert f"{broken / 'checkpoints' / 'corrupt' / '4'}" in warnings  # moved, named
    assert f"{metrics}: dropped 1 unreadable line" in warnings
    assert f"the lock of dead process {lock['pid']}" in warnings
    assert (broken / "checkpoints" / "corrupt" / "4" / "state").is_dir()  # kept, not deleted
    assert not (broken / "lock").exists()
    assert_same_run(clean, broken)
    history = json.loads((broken / "run.json").read_text())["invocations"]
    assert [h["start_step"] for h in history] == [0, 2]
    assert history[1]["changed"]["train.steps"] == [4, 6]


def test_step_flag_resumes_from_an_earlier_checkpoint_and_keeps_the_later_one(
    trained, tmp_path, cache_dir
):
    again = copy_run(trained, tmp_path / "again")
    result = invoke("train", *train_args(again, cache_dir, "--step=2"))
    assert result.code == 0, result.stderr[-3000:]
    assert (again / "checkpoints" / "superseded" / "4" / "state").is_dir()
    assert_same_run(trained, again)  # steps 2 → 4 retrained exactly


def test_a_finished_run_is_left_alone(trained, tmp_path, cache_dir):
    before = tree_hash(trained)
    result = invoke("train", *train_args(trained, cache_dir))
    assert result.code == 0, result.stderr[-3000:]
    assert tree_hash(trained) == before  # config.json, run.json, metrics: not rewritten


def test_disk_full_is_one_line_naming_the_file_and_what_is_kept(trained, tmp_path, cache_dir):
    run = copy_run(trained, tmp_path / "full")
    (run / "metrics.jsonl.tmp").symlink_to("/dev/full")  # every write there: ENOSPC
    checkpoints, metrics = tree_hash(run / "checkpoints"), (run / "metrics.jsonl").read_bytes()
    result = invoke("train", *train_args(run, cache_dir, "--config.train.steps=6"))
    assert result.code == 2, result.stderr[-3000:]
    (line,) = [x for x in result.stderr.splitlines() if x.startswith("error:")]
    assert "no space left" in line and "metrics.jsonl.tmp" in line and "[2, 4]" in line
    assert tree_hash(run / "checkpoints") == checkpoints
    assert (run / "metrics.jsonl").read_bytes() == metrics


def test_sample_keeps_library_logs_off_the_terminal_unless_asked(trained, caplog):
    """Orbax logs every file it reads at INFO: dropped by default, shown with --verbosity=0."""
    caplog.set_level(logging.DEBUG, logger="llm_jax")
    shown = {}
    for verbosity in ([], ["--verbosity=0"]):
        caplog.clear()
        # Loads the run (Orbax reads it), then stops at a too-long request: no decoding compiled.
        result = invoke("sample", f"--workdir={trained}", "--max_new_tokens=40", *verbosity)
        assert result.code == 2 and "max_seq_len" in result.stderr, result.stderr[-3000:]
        shown[bool(verbosity)] = {r.name for r in caplog.records}
    assert shown[False] == {"llm_jax"}  # the one "loaded ..." line
    assert "absl" in shown[True]  # Orbax logs through absl
