"""Long-lived workers: the same results as one process per run, bit for bit; a worker that dies
fails only its run; memory does not grow run after run; a rerun beside a live sweep never starts
a second copy of a running run; concurrent shards on one root, then --collect, equal one sweep."""

import json
import os
import signal
import statistics

import pytest

from tests.sweep.helpers import (
    FIT_COLUMNS,
    pid_gone,
    read_csv,
    run_sweep,
    start_sweep,
    statuses,
    wait_for_running,
)


def final_losses(workdir) -> dict:
    out = {}
    for run in sorted((workdir / "runs").iterdir()):
        rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
        out[run.name] = [(r["split"], r["step"], r["loss"]) for r in rows][-2:]
    return out


def assert_same_runs(got_dir, want_dir):
    want, got = read_csv(want_dir / "runs.csv"), read_csv(got_dir / "runs.csv")
    assert set(got) == set(want)
    for name in want:
        for column in FIT_COLUMNS:
            assert got[name][column] == want[name][column], (name, column)
    assert final_losses(got_dir) == final_losses(want_dir)  # floats compared exactly


def test_killing_the_runner_kills_its_worker(tmp_path, cache_dir):
    """SIGKILL leaves the runner no chance to clean up: the kernel ends its child (the worker
    asked for PR_SET_PDEATHSIG), so no orphan keeps training or holding devices."""
    process = start_sweep(tmp_path, cache_dir, "repeat")
    worker = wait_for_running(tmp_path, "tiny-s0", process)["pid"]
    assert worker != process.pid and not pid_gone(worker, timeout=0.5)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert pid_gone(worker, timeout=30)


@pytest.mark.slow
def test_workers_train_exactly_what_one_process_per_run_trains(tmp_path, cache_dir, finished_sweep):
    result = run_sweep(tmp_path, cache_dir, "", "--isolation=process")
    assert result.returncode == 0, result.stderr[-3000:]
    assert_same_runs(tmp_path, finished_sweep)


@pytest.mark.slow
def test_a_worker_that_dies_fails_only_its_run(tmp_path, cache_dir):
    """SIGKILL a worker mid-run (as the OOM killer would): that run is failed with the reason,
    the next run gets a fresh worker, and a run that raises is failed without killing one."""
    process = start_sweep(tmp_path, cache_dir, "fail")
    victim = "tiny-d24"  # the costliest group runs first
    pid = wait_for_running(tmp_path, victim, process)["pid"]
    os.kill(pid, signal.SIGKILL)
    output, _ = process.communicate(timeout=900)
    assert process.returncode == 1, output[-3000:]
    state = statuses(tmp_path)
    assert state[victim]["status"] == "failed"
    assert "worker process died (exit -9)" in state[victim]["error"]
    assert state["tiny-fail"]["status"] == "failed" and "n_heads" in state["tiny-fail"]["error"]
    assert state["tiny-d16"]["status"] == "done"
    assert state["tiny-d16"]["pid"] != pid  # a new worker
    retried = run_sweep(tmp_path, cache_dir, "fail", "--retry_failed")
    assert statuses(tmp_path)[victim]["status"] == "done", retried.stdout[-3000:]


@pytest.mark.slow
def test_worker_memory_does_not_grow_run_after_run(tmp_path, cache_dir):
    """Twelve runs of one shape in one worker: resident memory levels off after a few runs (the
    median of runs 8-11 within 6 MB of runs 4-7's; measured: ~1 MB apart, ±5 MB noise; without
    jax.clear_caches between runs it grew ~3 MB a run)."""
    result = run_sweep(tmp_path, cache_dir, "repeat")
    assert result.returncode == 0, result.stderr[-3000:]
    state = statuses(tmp_path)
    rss = [state[f"tiny-s{i}"]["worker_rss_mb"] for i in range(12)]
    assert len({state[f"tiny-s{i}"]["pid"] for i in range(12)}) == 1  # one worker ran them all
    assert statistics.median(rss[8:]) - statistics.median(rss[4:8]) < 6, rss


@pytest.mark.slow
def test_a_rerun_beside_a_live_sweep_never_starts_a_second_copy(
    tmp_path, cache_dir, finished_sweep
):
    first = start_sweep(tmp_path, cache_dir)
    wait_for_running(tmp_path, "tiny-d24", first)  # the first group's run, owned by `first`
    second = run_sweep(tmp_path, cache_dir)
    output, _ = first.communicate(timeout=900)
    assert first.returncode == 0 and second.returncode == 0, output[-2000:] + second.stdout
    assert "skip    tiny-d24: running in pid" in second.stdout
    assert {name: s["attempts"] for name, s in statuses(tmp_path).items()} == dict.fromkeys(
        statuses(finished_sweep), 1
    )  # every run trained once, by one of the two
    run_sweep(tmp_path, cache_dir, "", "--collect")
    assert_same_runs(tmp_path, finished_sweep)


@pytest.mark.slow
def test_concurrent_shards_then_collect_equal_one_sweep(tmp_path, cache_dir, finished_sweep):
    shards = [start_sweep(tmp_path, cache_dir, "", f"--shard={i}/2") for i in (0, 1)]
    outputs = [s.communicate(timeout=900)[0] for s in shards]
    assert [s.returncode for s in shards] == [0, 0], outputs
    assert all("not fitting; run --collect" in o for o in outputs)
    collected = run_sweep(tmp_path, cache_dir, "", "--collect")
    assert collected.returncode == 0, collected.stderr[-3000:]
    assert_same_runs(tmp_path, finished_sweep)
