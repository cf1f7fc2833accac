"""Two local processes (jax.distributed over 127.0.0.1, gloo collectives) train like one."""

import json
import signal
import subprocess
import time

import pytest

from tests.sharding.processes import command, env, logs, start, wait_all
from tests.train.cli import ROOT, read_metrics

STEPS = 12
FLAGS = [
    f"--config.train.steps={STEPS}",
    "--config.log.every_steps=1",
    "--config.checkpoint.every_steps=6",
    "--config.eval.every_steps=6",
]


def run_one_process(workdir, cache_dir, *overrides, devices=1):
    result = subprocess.run(
        command(workdir, cache_dir, *FLAGS, *overrides),
        cwd=ROOT,
        env=env(devices),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]


def preempt_one_of_two(workdir, cache_dir):
    """Two processes, mesh (data=2, fsdp=2); SIGTERM to process 1 only once step 4 is logged."""
    started = start(workdir, cache_dir, *FLAGS, "--config.mesh.data=2", "--config.mesh.fsdp=2")
    deadline = time.monotonic() + 240
    try:
        path = workdir / "metrics.jsonl"
        while time.monotonic() < deadline and started[0].poll() is None:
            if path.exists() and any(r["step"] >= 4 for r in read_metrics(workdir)):
                started[1].send_signal(signal.SIGTERM)
                break
            time.sleep(0.01)
    finally:
        codes = wait_all(started, timeout=max(1.0, deadline - time.monotonic()))
    return codes


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("cache")


def test_two_processes_train_like_one_and_resume_in_one(tmp_path, cache_dir):
    reference = tmp_path / "reference"
    run_one_process(reference, cache_dir)  # also fills the token cache both processes read
    expected = {r["step"]: r for r in read_metrics(reference)}

    run = tmp_path / "run"
    codes = preempt_one_of_two(run, cache_dir)
    assert codes == [0, 0], logs(run)  # both saved the agreed step and exited cleanly
    rows = read_metrics(run)
    stopped = rows[-1]["step"]
    assert stopped < STEPS, "the run finished before the signal; the test proves nothing"
    saved = sorted(int(p.name) for p in (run / "checkpoints").iterdir() if p.name.isdigit())
    assert saved[-1] == stopped  # the step both processes agreed on
    assert [r["step"] for r in rows] == list(range(1, stopped + 1))  # one writer: no duplicates
    assert json.loads((run / "run.json").read_text())["n_processes"] == 2
    for row in rows:
        assert row["loss"] == pytest.approx(expected[row["step"]]["loss"], rel=1e-5)

    # Resume the two-process checkpoint in one process on a different mesh (fsdp=2 of 2 devices).
    run_one_process(run, cache_dir, "--config.mesh.data=1", "--config.mesh.fsdp=2", devices=2)
    rows = read_metrics(run)
    assert [r["step"] for r in rows] == list(range(1, STEPS + 1))
    for row in rows:
        assert row["loss"] == pytest.approx(expected[row["step"]]["loss"], rel=1e-5), row["step"]
    assert json.loads((run / "run.json").read_text())["mesh"] == {"data": 1, "fsdp": 2, "tensor": 1}
