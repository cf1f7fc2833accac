"""Joining the process group of a multi-host run (jax.distributed), before any JAX computation.

Sweep children are single processes by contract: the sweep runner sets LLM_JAX_SINGLE_PROCESS=1
(and strips SLURM and coordinator variables), so K runs inside one SLURM allocation never try to
join one another on the job's coordinator port.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import sys

import jax

log = logging.getLogger("llm_jax")

SINGLE_PROCESS_ENV = "LLM_JAX_SINGLE_PROCESS"  # "1": never join a process group
PARENT_ENV = "LLM_JAX_PARENT_PID"  # set by the sweep runner: die with that process
# What jax.distributed's SLURM detection reads; with any one missing it does not apply.
SLURM_STEP = (
    "SLURM_JOB_ID",
    "SLURM_STEP_NODELIST",
    "SLURM_NTASKS",
    "SLURM_PROCID",
    "SLURM_LOCALID",
)
_PR_SET_PDEATHSIG = 1


def single_process(env=os.environ) -> bool:
    return env.get(SINGLE_PROCESS_ENV, "") == "1"


def cluster_detected() -> bool:
    """Whether jax.distributed.initialize() can find its own arguments on a TPU pod, MPI or k8s
    (SLURM is judged by slurm_arguments)."""
    try:  # the same list of environments jax.distributed.initialize() itself walks through
        from jax._src.clusters import ClusterEnv
    except ImportError:  # a future JAX moved it: fall back to explicit flags only
        return False
    return any(
        not env.opt_in_only_method and env.name != "slurm" and env.is_env_present()
        for env in ClusterEnv._cluster_types
    )


def slurm_arguments(env=os.environ) -> dict | None:
    """Extra jax.distributed.initialize arguments inside a multi-task SLURM step; None when this
    is not one (no step, or a single task: nothing to join).

    JAX pins each SLURM task to GPU number SLURM_LOCALID, right when every task sees the node's
    GPUs (`--gpus-per-node=8 --ntasks-per-node=8`). When SLURM binds GPUs to tasks
    (`--gpus-per-task=K`), each task sees only its own, so it must use all of them.
    """
    if not all(name in env for name in SLURM_STEP) or int(env["SLURM_NTASKS"]) <= 1:
        return None
    bound = "per_task" in env.get("SLURMD_TRES_BIND", "") or "SLURM_GPUS_PER_TASK" in env
    visible = [d for d in env.get("CUDA_VISIBLE_DEVICES", "").split(",") if d]
    if bound and visible:
        return {"local_device_ids": list(range(len(visible)))}
    return {}


def initialize(
    coordinator_address: str | None = None,
    num_processes: int | None = None,
    process_id: int | None = None,
) -> None:
    """Explicit coordinator → those arguments; a multi-task SLURM step or a TPU pod → detected;
    LLM_JAX_SINGLE_PROCESS=1 or nothing detected → one process (nothing to do)."""
    if single_process():
        if coordinator_address:
            raise ValueError(
                f"--coordinator_address={coordinator_address} conflicts with "
                f"{SINGLE_PROCESS_ENV}=1 (set by sweeps): unset one of them"
            )
        return
    slurm = slurm_arguments()
    if coordinator_address:
        jax.distributed.initialize(coordinator_address, num_processes, process_id)
    elif slurm is not None:
        jax.distributed.initialize(**slurm)
    elif cluster_detected():
        jax.distributed.initialize()
    else:
        return
    log.info(
        "process %d of %d; %d local of %d devices",
        jax.process_index(),
        jax.process_count(),
        jax.local_device_count(),
        jax.device_count(),
    )


def die_with_parent() -> None:
    """A sweep child: have Linux SIGKILL this process when its runner dies, however it dies."""
    parent = os.environ.get(PARENT_ENV)
    if not parent or not sys.platform.startswith("linux"):
        return
    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != int(parent):  # the runner died before prctl took effect
        os._exit(1)
