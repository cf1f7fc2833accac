"""The sweep root's shared files, on any epath (local disk, NFS, gs://): writes that are atomic
under a unique temporary name, and each run's status record with the process that owns it.

Many processes share one root (shards, SLURM array tasks, a rerun beside a live sweep): a status
record says who runs a run (host, pid and its start time, SLURM task, heartbeat), so a rerun
never starts a second copy of a live run, yet takes over one whose owner is gone.
"""

from __future__ import annotations

import json
import os
import socket
import time
import uuid

from etils import epath

HEARTBEAT_S = 30.0  # a running run's record is refreshed this often
STALE_S = 300.0  # an owner on another host silent this long is gone (preempted, killed)


def log_file(root, name: str):
    """ROOT/logs/<name>.log: a run's output, every attempt appended."""
    return root / "logs" / f"{name}.log"


def root_path(workdir) -> epath.Path:
    """The sweep root; a local one must be absolute (llm_jax/cli/paths.py makes it so)."""
    root = epath.Path(workdir)
    if "://" not in str(workdir) and not root.is_absolute():
        raise ValueError(f"sweep root {workdir!r} must be absolute (or a URL such as gs://...)")
    return root


def write_atomic(path: epath.Path, text: str) -> None:
    """Readers see the old file or the new one, never a half; concurrent writers never share a
    temporary file (the last rename wins)."""
    temporary = path.parent / f".{path.name}.{uuid.uuid4().hex}.tmp"
    temporary.write_text(text)
    temporary.replace(path)


def _start_time(pid: int) -> str:
    """The kernel's start time of `pid` ('' if none): a pid reused by another process differs."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return ""


def _slurm_task(env=os.environ) -> str:
    """This SLURM array task (or job); SLURM runs one copy of it at a time, so a record owned by
    the same task was left by a preempted or requeued attempt."""
    if "SLURM_ARRAY_JOB_ID" in env:
        return f"{env['SLURM_ARRAY_JOB_ID']}_{env.get('SLURM_ARRAY_TASK_ID', '')}"
    return env.get("SLURM_JOB_ID", "")


def me() -> dict:
    pid = os.getpid()
    return {"host": socket.gethostname(), "pid": pid, "start": _start_time(pid)} | {
        "slurm": _slurm_task(),
        "heartbeat": time.time(),
    }


def alive(owner: dict | None) -> bool:
    """Whether the process that recorded "running" still runs (as far as this host can tell)."""
    if not owner:
        return False
    mine = me()
    if owner.get("slurm") and owner["slurm"] == mine["slurm"]:
        return owner["pid"] == mine["pid"] and owner["host"] == mine["host"]
    if owner.get("host") == mine["host"]:
        return bool(owner.get("start")) and _start_time(owner["pid"]) == owner["start"]
    return time.time() - owner.get("heartbeat", 0.0) < STALE_S


class Status:
    """ROOT/status/<run>.json: planned | running | done | failed | interrupted, with the error
    tail, wall time, attempts and (while running) the owner."""

    def __init__(self, root):
        self.dir = epath.Path(root) / "status"
        self.dir.mkdir(parents=True, exist_ok=True)

    def get(self, name: str) -> dict:
        path = self.dir / f"{name}.json"
        return json.loads(path.read_text()) if path.exists() else {"status": "planned"}

    def set(self, name: str, **fields) -> None:
        write_atomic(self.dir / f"{name}.json", json.dumps(self.get(name) | fields, indent=1))

    def claim(self, name: str, **fields) -> dict | None:
        """Mark `name` running by this process; None (and nothing written) when a live owner
        has it. Two claims racing on one file: the last rename wins, the loser sees it and backs
        off (best effort on object stores, which have no atomic create)."""
        previous = self.get(name)
        if previous["status"] == "running" and alive(previous.get("owner")):
            return None
        owner = me() | {"claim": uuid.uuid4().hex}
        self.set(name, status="running", owner=owner, **fields)
        if self.get(name).get("owner", {}).get("claim") != owner["claim"]:
            return None
        return previous

    def beat(self, name: str, **fields) -> None:
        """Refresh the heartbeat of a run this process owns (and record e.g. its child pid)."""
        owner = self.get(name).get("owner", {}) | {"heartbeat": time.time()}
        self.set(name, owner=owner, **fields)
