"""How a slot trains a run: one long-lived worker process for all its runs, or one process per
run. Both start children with the slot's environment (llm_jax/sweep/devices.py) in their own
session (a terminal's Ctrl-C reaches only the runner, which passes SIGTERM on), and the children
bind themselves to the runner (llm_jax/distributed.py: die_with_parent).

An executor: start(train flags, log path) → pid; wait(timeout) → exit status, or None while the
run goes on; terminate() asks the run to save and stop; close() ends the slot's processes.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import subprocess
import sys
import tempfile

from llm_jax.sweep.devices import Slot, child_env, pin
from llm_jax.sweep.store import log_file, write_atomic

TRAIN_MODULE = "llm_jax.cli.train"
WORKER_MODULE = "llm_jax.cli.sweep_worker"


def _spawn(module: str, args: list[str], slot: Slot, **popen) -> subprocess.Popen:
    process = subprocess.Popen(
        [sys.executable, "-m", module, *args],
        env=child_env(slot),
        start_new_session=True,
        **popen,
    )
    pin(slot, process.pid)
    return process


class Subprocess:
    """--isolation=process: `python -m llm_jax.cli.train FLAGS` per run (start-up every run)."""

    def __init__(self, slot: Slot):
        self.slot, self.process, self.log = slot, None, None

    def start(self, args: list[str], log_path: str) -> int:
        self.log = open(log_path, "a")  # noqa: SIM115 (closed when the run ends)
        self.process = _spawn(
            TRAIN_MODULE, args, self.slot, stdout=self.log, stderr=subprocess.STDOUT
        )
        return self.process.pid

    def wait(self, timeout: float) -> int | None:
        try:
            rc = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            return None
        self.log.close()
        return rc

    def terminate(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()

    def close(self) -> None:
        pass


class Worker:
    """--isolation=worker: one `python -m llm_jax.cli.sweep_worker` for all of a slot's runs.
    If it dies mid-run (out of memory, a crash), the run fails and the next run gets a new one."""

    def __init__(self, slot: Slot):
        self.slot, self.process, self.rss_mb, self.died = slot, None, None, False

    def start(self, args: list[str], log_path: str) -> int:
        self.died = False
        if self.process is not None and self.process.poll() is not None:
            self.process = None  # it died between runs (a signal): start a new one
        if self.process is None:
            pipes = dict(stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            self.process = _spawn(WORKER_MODULE, [], self.slot, **pipes)
        self.process.stdin.write(json.dumps({"argv": args, "log": log_path}) + "\n")
        self.process.stdin.flush()
        return self.process.pid

    def wait(self, timeout: float) -> int | None:
        if not select.select([self.process.stdout], [], [], timeout)[0]:
            return None
        line = self.process.stdout.readline()
        if not line:  # the worker itself died: its exit status (negative: the signal)
            rc, self.process, self.died = self.process.wait(), None, True
            return rc or -1
        reply = json.loads(line)
        self.rss_mb = reply["rss_mb"]
        return reply["rc"]

    def terminate(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()  # the trainer saves; between runs the worker just exits

    def close(self) -> None:
        if self.process is not None:
            self.process.stdin.close()  # EOF: the worker exits after its current run
            self.process.wait()
            self.process = None


@contextlib.contextmanager
def run_log(root, name: str):
    """A local file for a run's output: log_file itself on a local root; on a remote one a
    temporary file, appended to log_file when the run ends."""
    target = log_file(root, name)
    target.parent.mkdir(parents=True, exist_ok=True)
    if "://" not in str(root):
        target.touch()
        yield str(target)
        return
    handle, local = tempfile.mkstemp(suffix=f"-{name}.log")
    os.close(handle)
    try:
        yield local
    finally:
        before = target.read_text() if target.exists() else ""
        with open(local, errors="replace") as f:
            write_atomic(target, before + f.read())
        os.remove(local)
