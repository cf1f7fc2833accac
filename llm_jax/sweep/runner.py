"""The runner: each run of a sweep is one `python -m llm_jax.cli.train` process.

Resumable and coordinator-free: every run's state lives in its workdir (DIR/runs/<name>/, so
`tensorboard --logdir=DIR/runs` shows them side by side) and in DIR/status/<name>.json. A finished
run is skipped, a half-finished one resumes from its checkpoint (the trainer does that), a failed
one is recorded and skipped until --retry_failed. Runs of one group (a WSD trunk's segments and
its branches) run in order on one worker; groups are what --shard=i/N splits and --workers=K runs
in parallel, so N machines sharing a workdir need no coordinator.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import hashlib
import json
import os
import pathlib
import subprocess
import sys
import time

from llm_jax.sweep.spec import Run

TRAIN_MODULE = "llm_jax.cli.train"  # the installed entry point, never a path into a checkout


def parse_shard(text: str) -> tuple[int, int]:
    """'i/N' → (i, N) with 0 ≤ i < N."""
    i, _, n = text.partition("/")
    if not (i.isdigit() and n.isdigit() and 0 <= int(i) < int(n)):
        raise ValueError(f"--shard={text!r} must be i/N with 0 <= i < N, e.g. 0/4")
    return int(i), int(n)


def shard(all_groups: list, index: int, count: int) -> list:
    """Every count-th group starting at index: disjoint over indices, complete together."""
    return all_groups[index::count]


class Status:
    """DIR/status/<run>.json: done | failed | running, with error tail, wall time, attempts."""

    def __init__(self, root: pathlib.Path):
        self.root = root / "status"
        self.root.mkdir(parents=True, exist_ok=True)

    def get(self, name: str) -> dict:
        path = self.root / f"{name}.json"
        return json.loads(path.read_text()) if path.exists() else {"status": "planned"}

    def set(self, name: str, **fields) -> None:
        state = self.get(name) | fields
        tmp = self.root / f".{name}.json.tmp"
        tmp.write_text(json.dumps(state, indent=1))
        tmp.replace(self.root / f"{name}.json")  # atomic: a killed sweep never leaves half a file


@dataclasses.dataclass
class Options:
    root: pathlib.Path
    config_path: str
    arg: str
    overrides: tuple = ()  # extra --config.key=value flags for every run (e.g. cache dir)
    retry_failed: bool = False
    threads_per_run: int = 0  # >0: XLA CPU threads per run (several workers on few cores)
    log: object = print


def command(run: Run, opts: Options) -> list[str]:
    """The exact tools/train.py command line of a run (printed by the dry run, too)."""
    arg = f"{opts.arg}/{run.name}" if opts.arg else run.name
    return [
        sys.executable,
        "-m",
        TRAIN_MODULE,
        f"--config={opts.config_path}:{arg}",
        f"--workdir={opts.root / 'runs' / run.dir_name}",
        *opts.overrides,
    ] + (
        [f"--config.train.init_from={opts.root / 'runs' / run.branch_of[0]}:{run.branch_of[1]}"]
        if run.branch_of
        else []
    )


def child_env(threads: int) -> dict:
    env = dict(os.environ)
    if threads > 0:  # one-thread XLA CPU runs side by side beat one multi-threaded run
        flags = f"--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads={threads}"
        env["XLA_FLAGS"] = f"{env.get('XLA_FLAGS', '')} {flags}".strip()
    return env


def fingerprint(run: Run) -> str:
    """Hash of a run's config: a finished run whose study config changed since is reported."""
    text = json.dumps(run.config.to_dict(), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def execute(run: Run, opts: Options, status: Status) -> bool:
    """Run (or resume) one run to completion; record done/failed; never raises on failure."""
    previous = status.get(run.name)
    attempts = previous.get("attempts", 0) + 1
    status.set(run.name, status="running", attempts=attempts, config_hash=fingerprint(run))
    log_path = opts.root / "logs" / f"{run.name}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    start = time.time()
    with log_path.open("a") as log_file:
        result = subprocess.run(
            command(run, opts),
            stdout=log_file,
            stderr=subprocess.STDOUT,
            env=child_env(opts.threads_per_run),
        )
    wall = previous.get("wall_s", 0.0) + time.time() - start
    if result.returncode == 0:
        status.set(run.name, status="done", wall_s=wall, error="")
        opts.log(f"done    {run.name} ({time.time() - start:.0f} s)")
        return True
    tail = log_path.read_text().strip().splitlines()[-15:]
    error = f"exit {result.returncode}: " + "\n".join(tail)
    status.set(run.name, status="failed", wall_s=wall, error=error)
    opts.log(f"FAILED  {run.name}: {tail[-1] if tail else result.returncode} (log: {log_path})")
    return False


def run_group(runs: list[Run], opts: Options) -> None:
    """Runs in order; after a failure the rest of the group (its dependants) is marked failed."""
    status = Status(opts.root)
    blocked = ""
    for run in runs:
        recorded = status.get(run.name)
        state = recorded["status"]
        if state == "done" and recorded.get("config_hash") not in (None, fingerprint(run)):
            opts.log(
                f"WARNING {run.name}: its config changed since it ran; kept (delete "
                f"{opts.root}/status/{run.name}.json and its runs/ directory to rerun)"
            )
        if state == "done" or (state == "failed" and not opts.retry_failed):
            blocked = blocked or (run.name if state == "failed" else "")
            continue
        if blocked:
            status.set(run.name, status="failed", error=f"not run: {blocked} failed")
            continue
        if not execute(run, opts, status):
            blocked = run.name


def run_all(selected: list[list[Run]], opts: Options, workers: int = 1) -> None:
    """Run groups on `workers` threads, each driving one train process at a time."""
    if workers <= 1:
        for group in selected:
            run_group(group, opts)
        return
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        for future in [pool.submit(run_group, g, opts) for g in selected]:
            future.result()
