"""tools/train.py end to end: run-directory files, exact resume after SIGKILL/SIGTERM, NaN stop."""

import json
import signal
import subprocess
import time

import jax
import numpy as np
import pytest

from llm_jax.checkpoint import CheckpointError, load_params
from llm_jax.config import get_default_config
from llm_jax.train.trainer import TrainingDiverged, train
from tests.train.cli import ROOT, cli_env, read_metrics, run_train, train_command

STEPS = [
    "--config.train.steps=30",
    "--config.log.every_steps=1",
    "--config.checkpoint.every_steps=5",
    "--config.eval.every_steps=10",
]


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="module")
def reference_run(tmp_path_factory, cache_dir):
    """An uninterrupted 30-step run."""
    workdir = tmp_path_factory.mktemp("reference")
    run_train(workdir, cache_dir, *STEPS)
    return workdir


def test_run_directory_files(reference_run):
    for name in ("config.json", "run.json", "metrics.jsonl", "tokenizer"):
        assert (reference_run / name).exists(), name
    assert list((reference_run / "tensorboard").glob("events.out.tfevents.*"))
    config = json.loads((reference_run / "config.json").read_text())
    assert config["model"]["vocab_size"] == 320  # byte vocab 259 rounded up to 64s
    train_rows, eval_rows = read_metrics(reference_run), read_metrics(reference_run, "eval")
    assert [r["step"] for r in train_rows] == list(range(1, 31))
    assert [r["step"] for r in eval_rows] == [10, 20, 30]
    for row in train_rows:
        assert {"loss", "tokens", "flops", "lr", "grad_norm", "tokens_per_s", "mfu"} <= set(row)
    assert train_rows[-1]["tokens"] == 30 * 8 * 32
    assert (
        train_rows[-1]["flops"]
        == train_rows[-1]["tokens"]
        * json.loads((reference_run / "run.json").read_text())["flops_per_token"]
    )
    assert eval_rows[-1]["loss"] < eval_rows[0]["loss"]


def _interrupt(workdir, cache_dir, sig):
    """Start the 30-step run, send `sig` once step 16 is logged, wait for it to end."""
    process = subprocess.Popen(
        train_command(workdir, cache_dir, *STEPS),
        cwd=ROOT,
        env=cli_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 240
    try:
        while time.monotonic() < deadline and process.poll() is None:
            path = workdir / "metrics.jsonl"
            if path.exists() and any(r["step"] >= 16 for r in read_metrics(workdir)):
                process.send_signal(sig)
                break
            time.sleep(0.01)
        process.wait(timeout=120)
    finally:
        process.kill()
    return process.returncode, process.stderr.read()


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_resume_is_exact(reference_run, cache_dir, tmp_path, sig):
    code, stderr = _interrupt(tmp_path, cache_dir, sig)
    interrupted_at = max(r["step"] for r in read_metrics(tmp_path))
    assert interrupted_at < 30, "the run finished before the signal; the test proves nothing"
    if sig == signal.SIGTERM:
        assert code == 0, stderr[-2000:]  # clean exit after saving
        assert (tmp_path / "checkpoints" / str(interrupted_at)).exists()
    else:
        assert code == -signal.SIGKILL
    run_train(tmp_path, cache_dir, *STEPS)
    resumed, reference = read_metrics(tmp_path), read_metrics(reference_run)
    assert [r["step"] for r in resumed] == list(range(1, 31))  # no duplicated or missing steps
    for key in ("loss", "grad_norm", "lr", "tokens", "flops"):
        assert [r[key] for r in resumed] == [r[key] for r in reference], key
    params_resumed, params_reference = load_params(tmp_path)[1], load_params(reference_run)[1]
    for a, b in zip(
        jax.tree.leaves(params_resumed), jax.tree.leaves(params_reference), strict=True
    ):
        np.testing.assert_array_equal(a, b)  # bitwise


def test_resume_refuses_shape_change_but_allows_more_steps(reference_run, cache_dir, tmp_path):
    import shutil

    workdir = tmp_path / "run"
    shutil.copytree(reference_run, workdir)
    result = subprocess.run(
        train_command(workdir, cache_dir, *STEPS, "--config.model.d_ff=96"),
        cwd=ROOT,
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode != 0 and "model.d_ff" in result.stderr
    run_train(workdir, cache_dir, *STEPS[1:], "--config.train.steps=35")
    assert read_metrics(workdir)[-1]["step"] == 35


def test_tensorboard_event_accumulator(reference_run):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(reference_run / "tensorboard"))
    events.Reload()
    tags = events.Tags()["scalars"]
    for tag in (
        "train/loss",
        "eval/loss",
        "train/lr",
        "train/grad_norm",
        "train/tokens_per_s",
        "train/mfu",
        "train/tokens",
        "train/flops",
    ):
        assert tag in tags, tag
    losses = [e.value for e in events.Scalars("train/loss")]
    np.testing.assert_allclose(losses, [r["loss"] for r in read_metrics(reference_run)], rtol=1e-6)


def test_nan_stops_with_message_and_keeps_last_good_checkpoint(tmp_path, cache_dir):
    config = get_default_config()
    config.model.update(d_model=32, d_ff=64, n_heads=2, n_kv_heads=1, max_seq_len=32)
    config.data.update(
        seq_len=32, batch_size=8, max_bytes=200_000, eval_tokens=1024, cache_dir=str(cache_dir)
    )
    config.train.update(steps=40, warmup_steps=0, lr=1e20, grad_clip=0.0)  # guaranteed blow-up
    config.checkpoint.every_steps = 1
    config.log.every_steps = 1
    with pytest.raises(TrainingDiverged, match="non-finite") as error:
        train(config, tmp_path)
    assert "last good checkpoint" in str(error.value)
    config_saved, params = load_params(tmp_path)
    assert all(np.isfinite(np.asarray(x)).all() for x in jax.tree.leaves(params))


def test_load_params_without_checkpoint_is_a_clear_error(tmp_path):
    with pytest.raises(CheckpointError, match="config.json"):
        load_params(tmp_path)


def _free_port():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_tensorboard_server_serves_the_run(reference_run):
    """A real `tensorboard --logdir` on 127.0.0.1 lists the run's scalars (killed by PID)."""
    import sys
    import urllib.request

    port = _free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tensorboard.main",
            f"--logdir={reference_run}",
            f"--port={port}",
            "--host=127.0.0.1",
            "--load_fast=false",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/data/plugin/scalars/tags"
    tags, deadline = {}, time.monotonic() + 90
    try:
        while time.monotonic() < deadline and "train/loss" not in json.dumps(tags):
            try:
                tags = json.loads(urllib.request.urlopen(url, timeout=5).read())
            except OSError:
                time.sleep(0.5)
    finally:
        server.kill()
        server.wait(timeout=30)
    run_tags = tags.get("tensorboard", tags.get(".", {}))
    assert "train/loss" in run_tags and "eval/loss" in run_tags, tags
