"""Each worker of a sweep owns its devices and joins no process group: the environments the
runner builds, and what a real child of a sweep started inside a fake SLURM step sees."""

import os
import time

import pytest

from llm_jax.distributed import PARENT_ENV, SINGLE_PROCESS_ENV
from llm_jax.sweep.devices import TPU_PORT, DeviceError, child_env, slots
from tests.sweep.helpers import start_sweep, statuses
from tests.train.cli import cli_env

CLUSTER = {
    "SLURM_JOB_ID": "123",
    "SLURM_STEP_NODELIST": "node[1-2]",
    "SLURM_NTASKS": "2",
    "SLURM_PROCID": "0",
    "SLURM_LOCALID": "0",
    "SLURMD_NODENAME": "node1",
    "PMI_RANK": "0",
    "OMPI_COMM_WORLD_SIZE": "2",
    "JAX_COORDINATOR_ADDRESS": "10.0.0.1:1234",
    "JAX_NUM_PROCESSES": "2",
    "JAX_PROCESS_ID": "0",
}


def test_gpus_are_split_between_workers():
    envs = [child_env(s, {}) for s in slots(4, machine=("gpu", list(range(8))))]
    assert [e["CUDA_VISIBLE_DEVICES"] for e in envs] == ["0,1", "2,3", "4,5", "6,7"]
    three = [child_env(s, {}) for s in slots(3, 1, machine=("gpu", [2, 5, 6, 7]))]
    assert [e["CUDA_VISIBLE_DEVICES"] for e in three] == ["2", "5", "6"]  # SLURM's own list
    alone = child_env(slots(1, machine=("gpu", list(range(8))))[0], {})
    assert "CUDA_VISIBLE_DEVICES" not in alone  # one worker: every GPU, as the process has


def test_tpu_chips_are_split_with_their_bounds_and_ports():
    envs = [child_env(s, {}) for s in slots(4, machine=("tpu", list(range(8))))]
    assert [e["TPU_VISIBLE_CHIPS"] for e in envs] == ["0,1", "2,3", "4,5", "6,7"]
    assert {e["TPU_CHIPS_PER_PROCESS_BOUNDS"] for e in envs} == {"1,2,1"}
    assert {e["TPU_PROCESS_BOUNDS"] for e in envs} == {"1,1,1"}
    ports = [int(e["TPU_PROCESS_PORT"]) for e in envs]
    assert ports == [TPU_PORT + i for i in range(4)]
    assert [e["TPU_PROCESS_ADDRESSES"] for e in envs] == [f"localhost:{p}" for p in ports]
    single = child_env(slots(8, 1, machine=("tpu", list(range(8))))[7], {})
    assert (single["TPU_VISIBLE_CHIPS"], single["TPU_CHIPS_PER_PROCESS_BOUNDS"]) == ("7", "1,1,1")


def test_cpu_workers_get_their_own_cores_only_when_asked():
    pinned = slots(2, 2, machine=("cpu", [0, 1, 2, 3]))
    assert [s.devices for s in pinned] == [(0, 1), (2, 3)]
    assert [s.devices for s in slots(2, machine=("cpu", [0, 1]))] == [(), ()]  # OS-scheduled
    env = child_env(slots(1, 0, threads=1, machine=("cpu", [0]))[0], {"XLA_FLAGS": "--a=1"})
    assert (
        env["XLA_FLAGS"]
        == "--a=1 --xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
    )


def test_too_few_devices_is_a_clear_error():
    with pytest.raises(DeviceError, match="needs 6 gpu devices; this machine has 4"):
        slots(3, 2, machine=("gpu", [0, 1, 2, 3]))
    with pytest.raises(DeviceError, match="needs 5 gpu devices"):
        slots(5, machine=("gpu", [0, 1, 2, 3]))
    with pytest.raises(DeviceError, match="use one of"):
        slots(1, 3, machine=("tpu", list(range(8))))


def test_cluster_variables_never_reach_a_child():
    env = child_env(slots(1, machine=("cpu", [0]))[0], CLUSTER | {"HOME": "/root"})
    assert not set(CLUSTER) & set(env)
    assert env["HOME"] == "/root"
    assert env[SINGLE_PROCESS_ENV] == "1" and env[PARENT_ENV] == str(os.getpid())


@pytest.mark.slow
def test_a_sweep_inside_a_slurm_step_gives_each_child_its_own_core(tmp_path, cache_dir):
    """A sweep started with a 2-task SLURM step's variables (which would make each child join a
    2-process group and wait forever): both workers' children see none of them, run in
    single-process mode on one core each, and the sweep completes."""
    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("needs 2 CPU cores")
    env = cli_env() | CLUSTER
    process = start_sweep(tmp_path, cache_dir, "", "--workers=2", "--devices_per_run=1", env=env)
    seen = {}
    while len(seen) < 2:  # each worker's process, seen while it runs (the first two groups)
        assert process.poll() is None, process.stdout.read()[-3000:]
        for state in statuses(tmp_path).values():
            pid = state.get("pid")
            if state["status"] == "running" and pid and pid not in seen:
                with open(f"/proc/{pid}/environ") as f:
                    child = dict(x.split("=", 1) for x in f.read().split("\0") if "=" in x)
                seen[pid] = (child, os.sched_getaffinity(pid))
        time.sleep(0.05)
    output, _ = process.communicate(timeout=900)
    assert process.returncode == 0, output[-3000:]
    assert {s["status"] for s in statuses(tmp_path).values()} == {"done"}
    cores = []
    for child, affinity in seen.values():
        assert not set(CLUSTER) & set(child), set(CLUSTER) & set(child)
        assert child[SINGLE_PROCESS_ENV] == "1"
        cores.append(affinity)
    assert all(len(c) == 1 for c in cores) and cores[0] != cores[1]
