"""tools/sweep.py end to end on a tiny sweep: failures recorded and listed, shards dealt by cost,
run names checked before anything runs, kill → rerun ≡ one go, the dry run."""

import json
import os
import signal
import subprocess
import sys

import pytest

from llm_jax.sweep import Run, Sweep, SweepError
from llm_jax.sweep.runner import parse_shard, shard
from llm_jax.sweep.spec import cost, finalize, groups, load_study
from tests.sweep.helpers import (
    FIT_COLUMNS,
    STUDY,
    pid_gone,
    read_csv,
    run_sweep,
    start_sweep,
    statuses,
    wait_for_checkpoint,
)
from tests.sweep.tiny_study import base_config
from tests.train.cli import ROOT, cli_env

CPU_STUDY = str(ROOT / "experiments" / "chinchilla_cpu" / "config.py")


def test_failing_run_is_recorded_listed_and_the_rest_complete(tmp_path, cache_dir):
    result = run_sweep(tmp_path, cache_dir, "fail")
    assert result.returncode == 1, result.stderr[-2000:]  # the sweep reports the failure
    state = statuses(tmp_path)
    assert state["tiny-d16"]["status"] == state["tiny-d24"]["status"] == "done"
    assert state["tiny-fail"]["status"] == "failed"
    assert "n_heads" in state["tiny-fail"]["error"]  # the trainer's own message
    log = tmp_path / "logs" / "tiny-fail.log"
    assert "FAILED tiny-fail: " in result.stdout and f"(log: {log})" in result.stdout
    # The worker trains under the train CLI's contract: one `error:` line, exit status 2.
    assert state["tiny-fail"]["error"].startswith("exit 2: ")
    assert "error: " in log.read_text() and "n_heads" in log.read_text()
    assert "Traceback" not in log.read_text()
    (retry,) = [line for line in result.stdout.splitlines() if "Retry them:" in line]
    assert retry.startswith("1 run(s) failed") and retry.endswith(" --no_fit --retry_failed")
    assert f"--config={STUDY}:fail" in retry
    everything = read_csv(tmp_path / "all_runs.csv")
    assert everything["tiny-fail"]["status"] == "failed"
    assert set(read_csv(tmp_path / "runs.csv")) == {"tiny-d16", "tiny-d24"}
    for row in read_csv(tmp_path / "runs.csv").values():
        assert float(row["loss"]) > 0 and float(row["tokens"]) == 40 * 8 * 32
    # A rerun skips all three: nothing is trained again, the failure stays recorded and listed.
    again = run_sweep(tmp_path, cache_dir, "fail")
    assert statuses(tmp_path)["tiny-fail"]["attempts"] == 1, again.stderr[-2000:]
    assert statuses(tmp_path)["tiny-d16"]["attempts"] == 1
    assert f"skip    tiny-fail: failed before (log: {log})" in again.stdout
    assert "FAILED tiny-fail: " in again.stdout and "Retry them:" in again.stdout
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


def test_shards_are_balanced_by_cost():
    """chinchilla_cpu's 35 runs span 31× in FLOPs: dealt by cost, the busiest of 4 shards is
    within 5% of a fair quarter; dealt by position (i::N) it got 31% more than that."""
    all_groups = groups(load_study(CPU_STUDY, None))
    costs = sorted(cost(g) for g in all_groups)
    assert costs[-1] / costs[0] > 20
    fair = sum(costs) / 4
    loads = [sum(cost(g) for g in shard(all_groups, i, 4)) for i in range(4)]
    strided = [sum(cost(g) for g in all_groups[i::4]) for i in range(4)]
    assert max(loads) - min(loads) <= costs[-1]  # LPT: imbalance ≤ the largest group
    assert max(loads) < 1.05 * fair < 1.2 * fair < max(strided)
    assert shard(all_groups, 0, len(all_groups))[0] is max(all_groups, key=cost)  # longest first


def test_parse_shard_rejects_bad_specs():
    assert parse_shard("1/3") == (1, 3)
    for bad in ("3/3", "-1/2", "1", "a/b"):
        with pytest.raises(SweepError, match="i/N"):
            parse_shard(bad)


def test_bad_run_names_are_refused_in_one_line(tmp_path):
    config = base_config()
    names = ("a/b", "two words", "ok", "ok", "..", "", "tab\there", "a\\b")
    with pytest.raises(SweepError) as caught:
        finalize(Sweep("bad", [Run(name, config) for name in names]))
    message = str(caught.value)
    assert "\n" not in message
    for name in ("'a/b'", "'two words'", "'ok': used by more than one run", "'..'", "'': empty"):
        assert name in message
    assert "'tab\\there'" in message and "'a\\\\b'" in message
    with pytest.raises(SweepError, match="study 'my study'"):
        finalize(Sweep("my study", [Run("fine", config)]))
    finalize(Sweep("good", [Run("d16-1e15_x.y", config)]))  # dots, dashes, underscores: fine


@pytest.mark.parametrize("dry_run", [True, False])
def test_a_bad_run_name_stops_the_sweep_before_anything_runs(tmp_path, dry_run):
    study = tmp_path / "bad_study.py"
    study.write_text(
        "from llm_jax.sweep import Run, Sweep\nfrom tests.sweep.tiny_study import base_config\n"
        "def get_sweep(arg=None):\n"
        "    return Sweep('bad', [Run('fine', base_config()), Run('x/y', base_config())])\n"
    )
    done = subprocess.run(
        [sys.executable, "-m", "llm_jax.cli.sweep", f"--config={study}",
         f"--workdir={tmp_path}/s", *(["--dry_run"] if dry_run else [])],
        cwd=ROOT, env=cli_env(), capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr[-2000:]  # the CLIs' bad-input status
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("error: study 'bad': bad run names: 'x/y'")
    assert not (tmp_path / "s" / "runs").exists() and not (tmp_path / "s" / "status").exists()


def test_finalize_names_each_run_for_its_trackers():
    sweep = load_study(STUDY, None)
    trunk = next(r for r in sweep.runs if r.role == "trunk")
    assert trunk.config.log.name == trunk.dir_name  # one trial per run directory
    main = sweep.runs[0]
    assert (main.config.log.name, main.config.log.study, main.config.log.role) == (
        main.name,
        "tiny",
        "main",
    )
    assert main.config.log.budget == 1.0


@pytest.mark.slow
def test_killed_sweep_resumes_to_the_same_runs_csv(tmp_path, cache_dir, finished_sweep):
    interrupted = tmp_path / "interrupted"
    process = start_sweep(interrupted, cache_dir)
    wait_for_checkpoint(interrupted, "tiny-d24", process)
    os.kill(process.pid, signal.SIGKILL)  # the runner alone: its worker must die with it
    process.wait()
    assert statuses(interrupted)["tiny-d24"]["status"] == "running"
    assert pid_gone(statuses(interrupted)["tiny-d24"]["pid"])
    result = run_sweep(interrupted, cache_dir)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "resume  tiny-d24: its last owner is gone" in result.stdout
    state = statuses(interrupted)
    assert state["tiny-d24"]["attempts"] == 2  # resumed
    log = (interrupted / "logs" / "tiny-d24.log").read_text()
    assert "resumed from step" in log
    want, got = read_csv(finished_sweep / "runs.csv"), read_csv(interrupted / "runs.csv")
    assert set(want) == set(got)
    for name in want:
        for column in FIT_COLUMNS:
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


def test_measured_dry_run_times_both_ends_side_by_side(tmp_path, cache_dir):
    """The throughput samples share the machine as the sweep's runs will: one per slot, at once."""
    flags = ("--dry_run", "--workers=2", "--threads_per_run=1")
    done = run_sweep(tmp_path / "s", cache_dir, "", *flags)
    assert done.returncode == 0, done.stderr[-2000:]
    samples = [json.loads(p.read_text()) for p in (tmp_path / "s" / "throughput").glob("*.json")]
    assert len(samples) == 2 and all(s["tokens_per_s"] > 0 for s in samples)
    (a_start, a_end), (b_start, b_end) = (s["measured"] for s in samples)
    assert a_start < b_end and b_start < a_end, samples  # the two runs overlapped
    assert "tok/s" in done.stdout + done.stderr


def run_plan(workdir, lines):
    from llm_jax.sweep import run_sweep

    return run_sweep(STUDY, workdir, dry_run=True, assume_flops_per_s=1e9, log=lines.append)
