"""The sweep root's shared files: concurrent writers never corrupt a table; a run's status names
its owner, so a live owner keeps its run and a dead one's run is taken over."""

import csv
import multiprocessing
import os
import socket
import subprocess
import time

import pytest

from llm_jax.sweep import store
from llm_jax.sweep.runs import write_csv
from llm_jax.sweep.store import Status


def rows_of(writer: int) -> list[dict]:
    """A table only `writer` writes: 300 rows, long enough for writes to interleave."""
    return [
        {"run": f"w{writer}-{i}", "loss": writer + i / 1000, "pad": "x" * 200} for i in range(300)
    ]


def hammer(path, writer: int, times: int) -> None:
    for _ in range(times):
        write_csv(rows_of(writer), path)


def test_concurrent_writers_never_corrupt_a_table(tmp_path):
    """Three processes (three shards finishing at once) rewrite all_runs.csv 60 times each while
    it is read: every read is one writer's whole table, and no writer crashes."""
    path = tmp_path / "all_runs.csv"
    write_csv(rows_of(0), path)
    context = multiprocessing.get_context("fork")  # the writers only write files
    writers = [context.Process(target=hammer, args=(path, w, 60)) for w in (1, 2, 3)]
    for w in writers:
        w.start()
    tables = {w: [r["run"] for r in rows_of(w)] for w in (0, 1, 2, 3)}
    reads = 0
    while any(w.is_alive() for w in writers):
        with open(path) as f:
            names = [r["run"] for r in csv.DictReader(f)]
        assert names in tables.values(), f"a mixed or partial table: {len(names)} rows"
        reads += 1
    assert [w.exitcode for w in writers] == [0, 0, 0]  # none hit another's temporary file
    assert reads > 10
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]  # all renamed


def test_relative_local_roots_are_refused_and_urls_kept():
    with pytest.raises(ValueError, match="must be absolute"):
        store.root_path("runs/sweep")
    assert str(store.root_path("gs://bucket/sweep")) == "gs://bucket/sweep"


@pytest.fixture
def sleeper():
    """A live process on this host that is not this one."""
    process = subprocess.Popen(["sleep", "60"])
    yield process
    process.kill()
    process.wait()


def owner(pid, **fields):
    record = {"host": socket.gethostname(), "pid": pid, "start": store._start_time(pid)}
    return record | {"slurm": "", "heartbeat": time.time()} | fields


def test_a_live_owner_keeps_its_run_and_a_dead_ones_run_is_taken_over(tmp_path, sleeper):
    status = Status(tmp_path)
    status.set("live", status="running", owner=owner(sleeper.pid))
    assert status.claim("live") is None  # a second copy is never started
    assert status.get("live")["owner"]["pid"] == sleeper.pid
    gone = subprocess.Popen(["true"])
    gone.wait()
    status.set("dead", status="running", owner=owner(gone.pid, start="12345"))
    previous = status.claim("dead", attempts=2)
    assert previous["status"] == "running"  # what the caller resumes
    assert status.get("dead")["owner"]["pid"] == os.getpid()
    assert status.get("dead")["attempts"] == 2


def test_a_reused_pid_is_not_its_old_owner(tmp_path, sleeper):
    status = Status(tmp_path)
    status.set("run", status="running", owner=owner(sleeper.pid, start="1"))  # another start
    assert status.claim("run") is not None


def test_owners_on_other_hosts_live_while_their_heartbeat_does(tmp_path):
    status = Status(tmp_path)
    status.set("fresh", status="running", owner=owner(1, host="elsewhere"))
    assert status.claim("fresh") is None
    stale = time.time() - store.STALE_S - 1
    status.set("stale", status="running", owner=owner(1, host="elsewhere", heartbeat=stale))
    assert status.claim("stale") is not None


def test_a_requeued_slurm_task_takes_over_its_own_run(tmp_path, sleeper, monkeypatch):
    """SLURM runs one copy of an array task: a record of the same task is a dead attempt's,
    whatever its host; another live task keeps its run."""
    monkeypatch.setenv("SLURM_ARRAY_JOB_ID", "77")
    monkeypatch.setenv("SLURM_ARRAY_TASK_ID", "3")
    status = Status(tmp_path)
    status.set("mine", status="running", owner=owner(sleeper.pid, slurm="77_3", host="other"))
    assert status.claim("mine") is not None
    status.set("theirs", status="running", owner=owner(sleeper.pid, slurm="77_4"))
    assert status.claim("theirs") is None
