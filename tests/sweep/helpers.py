"""Run tools/sweep.py's module as a user would, on the tiny study, and read what it wrote."""

import csv
import json
import pathlib
import subprocess
import sys
import time

from tests.train.cli import ROOT, cli_env

STUDY = "tests/sweep/tiny_study.py"
FIT_COLUMNS = ("loss", "best_loss", "train_loss", "tokens", "flops", "flops_trained")


def sweep_command(workdir, cache_dir, arg="", *flags):
    """`python -m llm_jax.cli.sweep` (from ROOT, so this checkout's package runs)."""
    config = f"{STUDY}:{arg}" if arg else STUDY
    return [
        sys.executable,
        "-m",
        "llm_jax.cli.sweep",
        f"--config={config}",
        f"--workdir={workdir}",
        f"--set=data.cache_dir={cache_dir}",
        "--no_fit",
        *flags,
    ]


def run_sweep(workdir, cache_dir, arg="", *flags, env=None):
    return subprocess.run(
        sweep_command(workdir, cache_dir, arg, *flags),
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env or cli_env(),
        timeout=900,
    )


def start_sweep(workdir, cache_dir, arg="", *flags, env=None):
    return subprocess.Popen(
        sweep_command(workdir, cache_dir, arg, *flags),
        cwd=ROOT,
        env=env or cli_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def read_csv(path):
    with open(path) as f:
        return {row["run"]: row for row in csv.DictReader(f)}


def statuses(workdir):
    return {p.stem: json.loads(p.read_text()) for p in (workdir / "status").glob("*.json")}


def wait_for_running(workdir, name, process, timeout=600):
    """The status of `name` once a live child has it (its pid recorded)."""
    path = pathlib.Path(workdir) / "status" / f"{name}.json"
    deadline = time.time() + timeout
    while time.time() < deadline:
        assert process.poll() is None, process.stdout.read()[-3000:]
        if path.exists():
            state = json.loads(path.read_text())
            if state["status"] == "running" and state.get("pid"):
                return state
        time.sleep(0.1)
    raise AssertionError(f"{name} never started")


def wait_for_checkpoint(workdir, name, process, timeout=600):
    """Once `name` has saved its first checkpoint (so a kill now leaves something to resume)."""
    checkpoints = pathlib.Path(workdir) / "runs" / name / "checkpoints"
    deadline = time.time() + timeout
    while not (checkpoints.is_dir() and any(p.name.isdigit() for p in checkpoints.iterdir())):
        assert time.time() < deadline and process.poll() is None
        time.sleep(0.1)


def pid_gone(pid, timeout=30.0) -> bool:
    """Whether `pid` exits (or is a zombie: dead, not yet reaped) within `timeout`."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            state = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError):
            return True
        if state == "Z":
            return True
        time.sleep(0.1)
    return False
