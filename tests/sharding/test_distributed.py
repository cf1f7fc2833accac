"""tools/train.py's process-group set-up: explicit flags, an auto-detected cluster, or nothing;
a multi-task SLURM step only; never inside a sweep's children (single-process mode)."""

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
    monkeypatch.setattr(jax.distributed, "initialize", lambda *a, **k: made.append((a, k)))
    for name in [
        *SLURM,
        "SLURMD_TRES_BIND",
        "CUDA_VISIBLE_DEVICES",
        distributed.SINGLE_PROCESS_ENV,
    ]:
        monkeypatch.delenv(name, raising=False)
    return made


def test_explicit_flags_are_passed_through(calls):
    distributed.initialize("127.0.0.1:1234", 2, 1)
    assert calls == [(("127.0.0.1:1234", 2, 1), {})]


def test_a_plain_machine_stays_one_process(calls):
    assert not distributed.cluster_detected()
    distributed.initialize()
    assert calls == []


def test_a_multi_task_slurm_step_is_joined_by_jax(calls, monkeypatch):
    for name, value in SLURM.items():
        monkeypatch.setenv(name, value)
    distributed.initialize()
    assert calls == [((), {})]  # no arguments: JAX reads the SLURM variables itself


def test_one_slurm_task_or_a_partial_step_is_one_process(calls, monkeypatch):
    for name, value in SLURM.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("SLURM_NTASKS", "1")  # e.g. python run directly in an sbatch script
    distributed.initialize()
    monkeypatch.setenv("SLURM_NTASKS", "2")
    monkeypatch.delenv("SLURM_STEP_NODELIST")  # a batch step: no srun step variables
    distributed.initialize()
    assert calls == []


def test_single_process_mode_never_joins(calls, monkeypatch):
    for name, value in SLURM.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv(distributed.SINGLE_PROCESS_ENV, "1")
    distributed.initialize()
    assert calls == []
    with pytest.raises(ValueError, match="conflicts with LLM_JAX_SINGLE_PROCESS=1"):
        distributed.initialize("127.0.0.1:1234", 2, 1)


def test_gpus_bound_per_task_are_all_this_process_uses():
    """`--gpus-per-task=1`: task 5 sees one GPU (its own), which JAX's default (GPU number
    SLURM_LOCALID) would miss; `--gpus-per-node=8`: every task sees all, JAX pins one."""
    step = SLURM | {"SLURM_LOCALID": "5", "SLURM_NTASKS": "8"}
    bound = step | {"SLURMD_TRES_BIND": "gpu:per_task:1", "CUDA_VISIBLE_DEVICES": "5"}
    assert distributed.slurm_arguments(bound) == {"local_device_ids": [0]}
    two = bound | {"SLURMD_TRES_BIND": "gpu:per_task:2", "CUDA_VISIBLE_DEVICES": "2,3"}
    assert distributed.slurm_arguments(two) == {"local_device_ids": [0, 1]}
    shared = step | {"CUDA_VISIBLE_DEVICES": "0,1,2,3,4,5,6,7"}
    assert distributed.slurm_arguments(shared) == {}
    assert distributed.slurm_arguments({}) is None
