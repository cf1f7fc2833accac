"""bench_peer.py smoke mode: llm_jax and PyTorch train the same tiny model, alternating."""

import json
import subprocess
import sys

import numpy as np
import pytest

from tests.train.cli import ROOT, cli_env

pytest.importorskip("torch", reason="PyTorch is the optional [peer] extra")


def run_smoke(tmp_path, *flags):
    out = tmp_path / "peer.json"
    command = [sys.executable, "benchmarks/bench_peer.py", "--smoke", f"--json={out}", *flags]
    result = subprocess.run(
        command, cwd=ROOT, env=cli_env(), capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "| shape |" in result.stdout  # the markdown table
    return json.loads(out.read_text())


def check_report(report, names):
    for key in (
        "shape",
        "params",
        "tokens_per_s",
        "tokens_per_cpu_s",
        "cpu_per_wall",
        "mfu",
        "ratio",
        "rounds",
        "losses",
        "load_average",
        "errors",
    ):
        assert key in report, key
    assert set(report["tokens_per_s"]) == set(names), report["errors"]
    assert set(report["ratio"]) == set(names) - {"llm_jax"}
    for name in names:
        losses = np.array(report["losses"][name])
        assert np.isfinite(losses).all(), name
        assert report["tokens_per_s"][name] > 0
        third = len(losses) // 3
        assert losses[-third:].mean() < losses[:third].mean() - 0.1, (name, losses)
    # Same init scheme, same batches: both start near ln V (two warm-up steps in).
    first = [report["losses"][name][0] for name in names]
    np.testing.assert_allclose(first, np.log(report["shape"]["vocab_size"]), rtol=0.1)


def test_smoke_eager_single_threaded(tmp_path):
    report = run_smoke(tmp_path, "--no-compile", "--threads=1")
    check_report(report, {"llm_jax", "torch eager"})
    for name, cpu_per_wall in report["cpu_per_wall"].items():  # a busy machine only lowers it
        assert cpu_per_wall < 1.2, (name, cpu_per_wall)


@pytest.mark.slow
def test_smoke_with_torch_compile(tmp_path):
    check_report(run_smoke(tmp_path), {"llm_jax", "torch eager", "torch.compile"})
