"""tools/train.py's process-group set-up: explicit flags, an auto-detected cluster, or nothing."""

import jax
import pytest

from llm_jax import distributed

SLURM = {
    "SLURM_JOB_ID": "123",
    "SLURM_STEP_NODELIST": "node[1-2]",
    "SLURM_NTASKS": "2",
    "SLURM_PROCID": "1",
    "SLURM_LOCALID": "0",
}


@pytest.fixture
def calls(monkeypatch):
    """Record jax.distributed.initialize calls instead of joining anything."""
    made = []
    monkeypatch.setattr(jax.distributed, "initialize", lambda *args: made.append(args))
    for name in SLURM:
        monkeypatch.delenv(name, raising=False)
    return made


def test_explicit_flags_are_passed_through(calls):
    distributed.initialize("127.0.0.1:1234", 2, 1)
    assert calls == [("127.0.0.1:1234", 2, 1)]


def test_a_plain_machine_stays_one_process(calls):
    assert not distributed.cluster_detected()
    distributed.initialize()
    assert calls == []


def test_slurm_is_detected_and_left_to_jax(calls, monkeypatch):
    for name, value in SLURM.items():
        monkeypatch.setenv(name, value)
    assert distributed.cluster_detected()
    distributed.initialize()
    assert calls == [()]  # no arguments: JAX reads the SLURM variables itself
