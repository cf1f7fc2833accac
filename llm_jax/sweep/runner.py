"""The runner: a sweep's groups of runs on K worker slots, resumable and coordinator-free.

Every run's state lives in its workdir (ROOT/runs/<name>/, so `tensorboard --logdir=ROOT/runs`
shows them side by side) and in ROOT/status/<name>.json (llm_jax/sweep/store.py). A finished run
is skipped, a half-finished or interrupted one resumes from its checkpoint (the trainer does
that), a failed one is recorded and skipped until --retry_failed, and one that a live process
runs is left to it. Runs of one group (a WSD trunk's segments and its branches) run in order on
one slot; groups are what --shard=i/N deals out (by cost) and slots take from, longest first.

A slot trains in one long-lived worker process (--isolation=worker, the default:
llm_jax/cli/sweep_worker.py) or starts `python -m llm_jax.cli.train` per run
(--isolation=process); either way its children have the slot's devices, never join a process
group, die with the runner, and on SIGTERM/SIGINT save a checkpoint and stop.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import signal
import sys
import threading
import time

from llm_jax.sweep.devices import Slot
from llm_jax.sweep.executors import TRAIN_MODULE, Subprocess, Worker, run_log
from llm_jax.sweep.runs import last_step
from llm_jax.sweep.spec import Run, SweepError, cost
from llm_jax.sweep.store import HEARTBEAT_S, Status, log_file

ISOLATION = {"worker": Worker, "process": Subprocess}


def parse_shard(text: str) -> tuple[int, int]:
    """'i/N' → (i, N) with 0 ≤ i < N."""
    i, _, n = text.partition("/")
    if not (i.isdigit() and n.isdigit() and 0 <= int(i) < int(n)):
        raise SweepError(f"--shard={text!r} must be i/N with 0 <= i < N, e.g. 0/4")
    return int(i), int(n)


def shard(all_groups: list, index: int, count: int) -> list:
    """Shard `index` of `count` by longest processing time first: groups in descending cost,
    each to the shard with the least so far. Disjoint, complete, balanced to within the largest
    group; every process computes the same deal, so shards need no coordinator."""
    loads, mine = [0.0] * count, []
    for i in sorted(range(len(all_groups)), key=lambda i: (-cost(all_groups[i]), i)):
        target = min(range(count), key=lambda k: (loads[k], k))
        loads[target] += cost(all_groups[i])
        if target == index:
            mine.append(all_groups[i])
    return mine


@dataclasses.dataclass
class Options:
    root: object  # epath.Path of the sweep root
    config_path: str
    arg: str
    overrides: tuple = ()  # extra --config.key=value flags for every run (e.g. cache dir)
    retry_failed: bool = False
    isolation: str = "worker"  # worker | process
    log: object = print


def train_args(run: Run, opts: Options) -> list[str]:
    """The flags of `python -m llm_jax.cli.train` for a run (the worker takes the same)."""
    arg = f"{opts.arg}/{run.name}" if opts.arg else run.name
    runs = opts.root / "runs"
    args = [f"--config={opts.config_path}:{arg}", f"--workdir={runs / run.dir_name}"]
    if run.branch_of:
        trunk, step = run.branch_of
        args.append(f"--config.train.init_from={runs / trunk}:{step}")
    return args + list(opts.overrides)


def command(run: Run, opts: Options) -> list[str]:
    """The exact command line of a run: the installed entry point, never a path into a checkout
    (printed by the dry run; --isolation=process runs it)."""
    return [sys.executable, "-m", TRAIN_MODULE, *train_args(run, opts)]


def fingerprint(run: Run) -> str:
    """Hash of a run's config: a finished run whose study config changed since is reported."""
    text = json.dumps(run.config.to_dict(), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class Stop:
    """SIGTERM or SIGINT (scancel, requeue, preemption, Ctrl-C): take no more runs, and pass
    SIGTERM on, so running ones save a checkpoint and exit (recorded as interrupted). A second
    Ctrl-C stops at once (the children die with the runner)."""

    def __init__(self):
        self.requested = False
        self.executors: set = set()

    def handle(self, signum, frame) -> None:
        if self.requested and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.requested = True
        for executor in list(self.executors):
            executor.terminate()

    def install(self):
        """Handlers in the main thread (the only one Python lets set them); returns an undo."""
        if threading.current_thread() is not threading.main_thread():
            return lambda: None
        old = {s: signal.signal(s, self.handle) for s in (signal.SIGTERM, signal.SIGINT)}
        return lambda: [signal.signal(s, h) for s, h in old.items()]


def execute(run: Run, opts: Options, status: Status, executor, stop: Stop) -> str:
    """Run (or resume) one claimed run; records and returns done | interrupted | failed."""
    start, previous = time.time(), status.get(run.name)
    with run_log(opts.root, run.name) as log_path:
        pid = executor.start(train_args(run, opts), log_path)
        status.beat(run.name, pid=pid)
        while (rc := executor.wait(HEARTBEAT_S)) is None:
            status.beat(run.name)
        with open(log_path, errors="replace") as log:
            tail = log.read().strip().splitlines()[-15:]
    wall = previous.get("wall_s", 0.0) + time.time() - start
    reached = last_step(opts.root / "runs" / run.dir_name)
    extra = {"wall_s": wall, "worker_rss_mb": getattr(executor, "rss_mb", None)}
    if rc == 0 and reached >= run.config.train.steps:
        status.set(run.name, status="done", error="", **extra)
        opts.log(f"done    {run.name} ({time.time() - start:.0f} s)")
        return "done"
    if rc == 0 or stop.requested:  # SIGTERM: saved (or never started); a rerun resumes it
        status.set(run.name, status="interrupted", error=f"stopped at step {reached}", **extra)
        opts.log(f"stopped {run.name} at step {reached}; rerun to resume")
        return "interrupted"
    if getattr(executor, "died", False):
        tail.append(f"the worker process died (exit {rc}); its own output is the runner's")
    error = f"exit {rc}: " + "\n".join(tail)
    status.set(run.name, status="failed", error=error, **extra)
    opts.log(
        f"FAILED  {run.name}: {tail[-1] if tail else rc} (log: {log_file(opts.root, run.name)})"
    )
    return "failed"


def run_group(runs: list[Run], opts: Options, status: Status, executor, stop: Stop) -> None:
    """Runs in order; after a failure the rest of the group (its dependants) is marked failed;
    a run owned by a live process elsewhere leaves the rest of its group to that process."""
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
            if state == "failed":
                opts.log(
                    f"skip    {run.name}: failed before (log: {log_file(opts.root, run.name)})"
                )
            blocked = blocked or (run.name if state == "failed" else "")
            continue
        if blocked:
            status.set(run.name, status="failed", error=f"not run: {blocked} failed")
            continue
        if stop.requested:
            return
        attempts = recorded.get("attempts", 0) + 1
        claimed = status.claim(run.name, attempts=attempts, config_hash=fingerprint(run))
        if claimed is None:
            owner = status.get(run.name).get("owner", {})
            where = f"pid {owner.get('pid')} on {owner.get('host')}"
            opts.log(f"skip    {run.name}: running in {where}; its group waits for it")
            return
        if claimed["status"] == "running":
            opts.log(f"resume  {run.name}: its last owner is gone")
        outcome = execute(run, opts, status, executor, stop)
        if outcome == "interrupted":
            return
        blocked = run.name if outcome == "failed" else ""


def run_all(selected: list[list[Run]], opts: Options, slots: list[Slot]) -> bool:
    """Groups (longest first) on every slot at once; returns False when stopped by a signal."""
    queue, lock, stop = list(selected), threading.Lock(), Stop()
    status, errors = Status(opts.root), []

    def next_group():
        with lock:
            return queue.pop(0) if queue and not stop.requested else None

    def drive(slot: Slot) -> None:
        executor = ISOLATION[opts.isolation](slot)
        stop.executors.add(executor)
        try:
            while (group := next_group()) is not None:
                run_group(group, opts, status, executor, stop)
        except BaseException as e:  # a bug here, not a run's failure: stop and raise it
            errors.append(e)
            stop.handle(signal.SIGTERM, None)
        finally:
            stop.executors.discard(executor)
            executor.close()

    undo = stop.install()
    try:
        threads = [threading.Thread(target=drive, args=(s,), daemon=True) for s in slots]
        for thread in threads:
            thread.start()
        for thread in threads:
            while thread.is_alive():  # a timed join lets the main thread take signals
                thread.join(0.5)
    finally:
        undo()
    if errors:
        raise errors[0]
    return not stop.requested
