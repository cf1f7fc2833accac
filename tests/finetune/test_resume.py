"""A fine-tuning run resumes exactly: DPO (its reference log-probs come back from the run
directory) killed mid-run and rerun ≡ uninterrupted, metrics and parameters bitwise."""

import signal
import subprocess
import sys
import time

import jax
import numpy as np
import pytest

from llm_jax.checkpoint import load_params
from tests.finetune.helpers import case_preferences, words, write_jsonl
from tests.train.cli import ROOT, cli_env, read_metrics

STEPS = [
    "--config.train.steps=30",
    "--config.train.warmup_steps=2",
    "--config.data.batch_size=8",
    "--config.log.every_steps=1",
    "--config.checkpoint.every_steps=5",
    "--config.eval.every_steps=10",
]


def _command(base_run, data, workdir):
    return [
        sys.executable, "tools/finetune.py", "--mode=dpo", f"--init_from={base_run}",
        f"--data={data}", f"--workdir={workdir}", *STEPS,
    ]  # fmt: skip


def _run(command):
    done = subprocess.run(command, cwd=ROOT, env=cli_env(), capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]


@pytest.mark.slow
def test_dpo_resumes_exactly_after_sigkill(base_run, tmp_path):
    data = write_jsonl(tmp_path / "pairs.jsonl", case_preferences(words(60, 3)))
    reference, interrupted = tmp_path / "reference", tmp_path / "interrupted"
    _run(_command(base_run, data, reference))
    process = subprocess.Popen(
        _command(base_run, data, interrupted), cwd=ROOT, env=cli_env(),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 600
    try:
        while time.monotonic() < deadline and process.poll() is None:
            path = interrupted / "metrics.jsonl"
            if path.exists() and any(r["step"] >= 16 for r in read_metrics(interrupted)):
                process.send_signal(signal.SIGKILL)
                break
            time.sleep(0.01)
        process.wait(timeout=120)
    finally:
        process.kill()
    assert max(r["step"] for r in read_metrics(interrupted)) < 30, "finished before the kill"
    _run(_command(base_run, data, interrupted))
    for split in ("train", "eval"):
        resumed, uninterrupted = read_metrics(interrupted, split), read_metrics(reference, split)
        assert [r["step"] for r in resumed] == [r["step"] for r in uninterrupted]
        for key in ("loss", "accuracy", "margin", "chosen_logp", "rejected_logp"):
            assert [r[key] for r in resumed] == [r[key] for r in uninterrupted], (split, key)
    for a, b in zip(
        jax.tree.leaves(load_params(interrupted)[1]),
        jax.tree.leaves(load_params(reference)[1]),
        strict=True,
    ):
        np.testing.assert_array_equal(a, b)
