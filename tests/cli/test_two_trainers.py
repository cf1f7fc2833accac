"""Two trainers on one run directory: the second is refused naming the first, which carries on
and finishes with its files intact."""

import json
import signal
import subprocess
import sys
import time

from llm_jax.checkpoint import load_params
from tests.cli.conftest import ROOT, train_args
from tests.cli.invoke import invoke
from tests.train.cli import cli_env, read_metrics


def test_a_second_trainer_is_refused_and_the_first_finishes_intact(tmp_path, cache_dir):
    workdir = tmp_path / "run"
    long_run = train_args(workdir, cache_dir, "--config.train.steps=500")
    first = subprocess.Popen(
        [sys.executable, "tools/train.py", *long_run, "--config.checkpoint.every_steps=5"],
        cwd=ROOT, env=cli_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and first.poll() is None:
            if (workdir / "metrics.jsonl").exists() and len(read_metrics(workdir)) >= 2:
                break  # training, past its first steps
            time.sleep(0.05)
        assert first.poll() is None, first.stderr.read()[-3000:]
        second = invoke("train", *train_args(workdir, cache_dir, "--config.train.seed=7"))
        assert second.code == 2, second.stderr[-3000:]
        assert f"in use by process {first.pid}" in second.stderr
        first.send_signal(signal.SIGTERM)  # the first saves where it is and exits cleanly
        assert first.wait(timeout=120) == 0, first.stderr.read()[-3000:]
    finally:
        first.kill()
    steps = [row["step"] for row in read_metrics(workdir)]
    assert steps == list(range(1, steps[-1] + 1)) and steps[-1] < 500
    assert json.loads((workdir / "config.json").read_text())["train"]["seed"] == 0  # the first's
    config, _ = load_params(workdir)  # its last checkpoint restores
    assert not (workdir / "lock").exists()
