"""One writer per run directory (the lock), and a run directory is nobody else's."""

import json
import logging
import socket
import subprocess
import sys

import pytest

from llm_jax.train.workdir import LockError, WorkdirError, WorkdirLock, check_run_dir

HOST = socket.gethostname()


def held_by(workdir, pid, host=HOST):
    workdir.mkdir(exist_ok=True)
    (workdir / "lock").write_text(json.dumps({"host": host, "pid": pid}))


def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_a_live_owner_is_named_and_keeps_the_lock(tmp_path):
    held_by(tmp_path, 1)  # PID 1 is alive on every Linux host
    with pytest.raises(LockError, match=f"in use by process 1 on {HOST}"):
        WorkdirLock(tmp_path).acquire()
    assert json.loads((tmp_path / "lock").read_text())["pid"] == 1


def test_a_lock_from_another_host_is_never_taken(tmp_path):
    held_by(tmp_path, dead_pid(), host="elsewhere")
    with pytest.raises(LockError, match="delete the lock file"):
        WorkdirLock(tmp_path).acquire()


def test_a_dead_owner_is_taken_over_with_a_warning(tmp_path, caplog):
    pid = dead_pid()
    held_by(tmp_path, pid)
    with caplog.at_level(logging.WARNING, logger="llm_jax"), WorkdirLock(tmp_path) as lock:
        assert json.loads((tmp_path / "lock").read_text())["pid"] == lock.owner["pid"]
    assert f"dead process {pid}" in caplog.text
    assert not (tmp_path / "lock").exists()  # released on exit


def test_release_leaves_another_owners_lock(tmp_path):
    lock = WorkdirLock(tmp_path)
    lock.acquire()
    held_by(tmp_path, 1)  # e.g. taken over after this process was judged dead
    lock.release()
    assert json.loads((tmp_path / "lock").read_text())["pid"] == 1


def test_a_refused_new_run_leaves_no_directory(tmp_path):
    workdir = tmp_path / "new"
    with pytest.raises(RuntimeError), WorkdirLock(workdir):
        (workdir / "checkpoints").mkdir()  # created, still empty, then the run fails
        raise RuntimeError("refused")
    assert not workdir.exists()


def test_a_directory_of_other_files_is_not_a_run_directory(tmp_path):
    (tmp_path / "thesis.tex").write_text("...")
    with pytest.raises(WorkdirError, match="thesis.tex"):
        check_run_dir(tmp_path)
    with pytest.raises(WorkdirError, match="is a file"):
        check_run_dir(tmp_path / "thesis.tex")
    (tmp_path / "config.json").write_text("{}")
    check_run_dir(tmp_path)  # a run's directory (its other files are the user's business)
