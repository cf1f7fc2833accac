"""tools/sweep.py end to end on a tiny sweep: failures recorded, shards, kill → rerun ≡ one go."""

import csv
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from llm_jax.sweep.runner import parse_shard, shard
from llm_jax.sweep.spec import groups, load_study
from tests.train.cli import ROOT, cli_env

STUDY = "tests/sweep/tiny_study.py"


def sweep_command(workdir, cache_dir, arg="", *flags):
    config = f"{STUDY}:{arg}" if arg else STUDY
    return [
        sys.executable,
        "tools/sweep.py",
        f"--config={config}",
        f"--workdir={workdir}",
        f"--set=data.cache_dir={cache_dir}",
        "--no_fit",
        *flags,
    ]


def run_sweep(workdir, cache_dir, arg="", *flags):
    return subprocess.run(
        sweep_command(workdir, cache_dir, arg, *flags),
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=cli_env(),
        timeout=600,
    )


def read_csv(path):
    with open(path) as f:
        return {row["run"]: row for row in csv.DictReader(f)}


def statuses(workdir):
    return {p.stem: json.loads(p.read_text()) for p in (workdir / "status").glob("*.json")}


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("cache")


def test_failing_run_is_recorded_and_the_rest_complete(tmp_path, cache_dir):
    result = run_sweep(tmp_path, cache_dir, "fail")
    assert result.returncode == 1, result.stderr[-2000:]  # the sweep reports the failure
    state = statuses(tmp_path)
    assert state["tiny-d16"]["status"] == state["tiny-d24"]["status"] == "done"
    assert state["tiny-fail"]["status"] == "failed"
    assert "n_heads" in state["tiny-fail"]["error"]  # the trainer's own message
    everything = read_csv(tmp_path / "all_runs.csv")
    assert everything["tiny-fail"]["status"] == "failed"
    assert set(read_csv(tmp_path / "runs.csv")) == {"tiny-d16", "tiny-d24"}
    for row in read_csv(tmp_path / "runs.csv").values():
        assert float(row["loss"]) > 0 and float(row["tokens"]) == 40 * 8 * 32
    # A rerun skips all three: nothing is trained again, the failure stays recorded.
    again = run_sweep(tmp_path, cache_dir, "fail")
    assert statuses(tmp_path)["tiny-fail"]["attempts"] == 1, again.stderr[-2000:]
    assert statuses(tmp_path)["tiny-d16"]["attempts"] == 1
    retried = run_sweep(tmp_path, cache_dir, "fail", "--retry_failed")
    assert statuses(tmp_path)["tiny-fail"]["attempts"] == 2, retried.stderr[-2000:]


@pytest.mark.parametrize("count", [1, 2, 3, 5])
def test_shards_are_disjoint_and_complete(count):
    all_groups = groups(load_study(STUDY, None))
    names = [[r.name for g in shard(all_groups, i, count) for r in g] for i in range(count)]
    flat = [n for part in names for n in part]
    assert len(flat) == len(set(flat))  # disjoint
    assert sorted(flat) == sorted(r.name for g in all_groups for r in g)  # complete
    trunk = [part for part in names if any("trunk" in n for n in part)]
    assert len(trunk) == 1  # a trunk's segments and branches stay on one shard


def test_parse_shard_rejects_bad_specs():
    assert parse_shard("1/3") == (1, 3)
    for bad in ("3/3", "-1/2", "1", "a/b"):
        with pytest.raises(ValueError, match="i/N"):
            parse_shard(bad)


@pytest.mark.slow
def test_killed_sweep_resumes_to_the_same_runs_csv(tmp_path, cache_dir):
    reference = tmp_path / "reference"
    assert run_sweep(reference, cache_dir).returncode == 0
    interrupted = tmp_path / "interrupted"
    process = subprocess.Popen(
        sweep_command(interrupted, cache_dir),
        cwd=ROOT,
        env=cli_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    victim = interrupted / "runs" / "tiny-d24" / "checkpoints"
    deadline = time.time() + 300
    while not (victim.is_dir() and any(p.name.isdigit() for p in victim.iterdir())):
        assert time.time() < deadline and process.poll() is None
        time.sleep(0.2)
    os.killpg(process.pid, signal.SIGKILL)  # the sweep and its train process, mid-run
    process.wait()
    assert statuses(interrupted)["tiny-d16"]["status"] == "done"
    assert statuses(interrupted)["tiny-d24"]["status"] == "running"
    result = run_sweep(interrupted, cache_dir)
    assert result.returncode == 0, result.stderr[-2000:]
    state = statuses(interrupted)
    assert state["tiny-d16"]["attempts"] == 1  # skipped
    assert state["tiny-d24"]["attempts"] == 2  # resumed
    log = (interrupted / "logs" / "tiny-d24.log").read_text()
    assert "resumed from step" in log
    want, got = read_csv(reference / "runs.csv"), read_csv(interrupted / "runs.csv")
    assert set(want) == set(got)
    for name in want:
        for column in ("loss", "best_loss", "train_loss", "tokens", "flops", "flops_trained"):
            assert got[name][column] == want[name][column], (name, column)


def test_dry_run_plans_every_run_without_training(tmp_path):
    lines = []
    total = run_plan(tmp_path, lines)
    sweep = load_study(STUDY, None)
    assert total["runs"] == len(sweep.runs) == len(lines) - 3  # header, totals, first command
    # Trunk segments and branches count only their own steps: 40 + 40 (cosine) + 32 + 4 + 8 (WSD).
    assert total["tokens"] == (40 + 40 + 32 + 4 + 8) * 8 * 32
    assert not (tmp_path / "runs").exists()  # nothing trained
    assert "-m llm_jax.cli.train" in lines[-1] and "--workdir=" in lines[-1]


def run_plan(workdir, lines):
    from llm_jax.sweep import run_sweep

    return run_sweep(STUDY, workdir, dry_run=True, assume_flops_per_s=1e9, log=lines.append)
