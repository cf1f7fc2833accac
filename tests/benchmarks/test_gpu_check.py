"""benchmarks/gpu_check.sh in its CPU dry mode: the same steps at tiny shapes, results written."""

import json
import subprocess
import sys

import pytest

from tests.train.cli import ROOT, cli_env


def test_gpu_check_script_parses():
    subprocess.run(["bash", "-n", "benchmarks/gpu_check.sh"], cwd=ROOT, check=True)


@pytest.mark.slow
def test_gpu_check_dry_run_writes_results(tmp_path):
    env = dict(cli_env(), PYTHON=sys.executable)
    result = subprocess.run(
        ["bash", "benchmarks/gpu_check.sh", str(tmp_path), "--dry_run"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["attention"]["ok"] and results["bf16_curve"]["ok"], results
    measured = [r for r in results["throughput"] if r["status"] == "ok"]
    assert measured, results["throughput"]
    for row in measured:
        assert row["tokens_per_s"] > 0 and 0 < row["mfu"] < 1 and row["batch"] >= 1
    assert {r["remat"] for r in results["throughput"]} == {"none", "dots_saveable", "full"}
    assert "| size |" in (tmp_path / "results.md").read_text()


def test_gpu_mode_refuses_to_run_without_a_gpu(tmp_path):
    result = subprocess.run(
        [sys.executable, "benchmarks/gpu_check.py", f"--out={tmp_path}"],
        cwd=ROOT,
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode != 0 and "--dry_run" in result.stderr
