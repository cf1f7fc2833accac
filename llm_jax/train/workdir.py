"""A run directory belongs to one run and has one writer.

A directory holding other files is refused. DIR/lock holds the owner's host and PID for the
run's life: a second trainer on the same directory is refused, naming the owner. A lock left by
a process that died (SIGKILL, a crash) on this host is taken over with a warning; one from
another host cannot be checked from here, so the message says how to remove it. Local
directories get an atomic O_EXCL create; on object stores (gs://) the check is best effort.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import socket
import time

from etils import epath

from llm_jax.data.cache_check import process_alive
from llm_jax.errors import UserError

log = logging.getLogger("llm_jax")
LOCK_FILE = "lock"
# What tools/train.py writes; a directory holding none of these is not a run directory.
RUN_FILES = (
    "config.json", "run.json", "metrics.jsonl", "tensorboard", "checkpoints", "tokenizer",
    "inspect", LOCK_FILE, "config.json.tmp", "run.json.tmp", "metrics.jsonl.tmp",
)  # fmt: skip


class WorkdirError(UserError):
    """A --workdir that is not (or cannot become) this run's directory."""


class LockError(WorkdirError):
    """Another live process owns the run directory."""


def check_run_dir(workdir) -> None:
    """Refuse a file, or a directory with other things in it: training would mix into them."""
    workdir = epath.Path(workdir)
    if not workdir.exists():
        return
    if not workdir.is_dir():
        raise WorkdirError(f"--workdir={workdir} is a file; give a directory (new or a run's)")
    names = sorted(p.name for p in workdir.iterdir() if not p.name.startswith("."))
    if names and not set(names) & set(RUN_FILES):
        shown = ", ".join(names[:4]) + (", ..." if len(names) > 4 else "")
        raise WorkdirError(
            f"--workdir={workdir} holds files that are not a run's ({shown}); training writes "
            "config.json, checkpoints/, ... there: give a new or empty directory"
        )


class WorkdirLock:
    """Context manager: acquire on enter (or raise LockError), release on exit."""

    def __init__(self, workdir, enabled: bool = True):
        self.path = epath.Path(workdir) / LOCK_FILE
        self.enabled = enabled
        self.owner = {"host": socket.gethostname(), "pid": os.getpid(), "since": time.time()}
        self.created = not self.path.parent.exists()  # removed again if the run writes nothing

    def __enter__(self):
        if self.enabled:
            self.acquire()
        return self

    def __exit__(self, *exc):
        if self.enabled:
            self.release()

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self._create():
            return
        holder = self._read()
        if holder is None:  # maybe created a moment ago and not yet written: look again
            time.sleep(0.5)
            holder = self._read()
        if holder is not None and not self._stale(holder):
            raise LockError(self._in_use(holder))
        dead = (
            "an unreadable lock" if holder is None else f"the lock of dead process {holder['pid']}"
        )
        log.warning("%s: taking over %s", self.path.parent, dead)
        self.path.unlink(missing_ok=True)
        if not self._create():  # another trainer took it over between our two calls
            raise LockError(f"{self.path.parent} was just locked by another process; retry later")

    def release(self) -> None:
        holder = self._read()
        if holder is not None and holder.get("pid") == self.owner["pid"]:
            self.path.unlink(missing_ok=True)
        workdir = str(self.path.parent)
        if self.created and "://" not in workdir and not any(f for *_, f in os.walk(workdir)):
            shutil.rmtree(workdir, ignore_errors=True)  # a run refused before it wrote a file

    def _in_use(self, holder: dict) -> str:
        elsewhere = holder.get("host") != self.owner["host"]
        return (
            f"{self.path.parent} is in use by process {holder['pid']} on {holder.get('host')} "
            f"(lock file {self.path}); wait for it to finish, or stop it"
            + ("; if that process is dead, delete the lock file" if elsewhere else "")
        )

    def _create(self) -> bool:
        """Write the lock if there is none; False if one exists."""
        text = json.dumps(self.owner)
        if "://" in str(self.path):  # no exclusive create on object stores
            if self.path.exists():
                return False
            self.path.write_text(text)
            return True
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(fd, "w") as f:
            f.write(text)
        return True

    def _read(self) -> dict | None:
        try:
            holder = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return None
        return holder if isinstance(holder, dict) and isinstance(holder.get("pid"), int) else None

    def _stale(self, holder: dict) -> bool:
        """A dead process on this host, or our own PID (recycled: we hold no lock yet); a lock
        from another host is never judged stale."""
        if holder.get("host") != self.owner["host"]:
            return False
        return holder["pid"] == self.owner["pid"] or not process_alive(holder["pid"])
