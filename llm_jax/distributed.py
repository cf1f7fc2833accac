"""Joining the process group of a multi-host run (jax.distributed), before any JAX computation."""

from __future__ import annotations

import logging

import jax

log = logging.getLogger("llm_jax")


def cluster_detected() -> bool:
    """Whether jax.distributed.initialize() can find its own arguments (TPU VM, SLURM, MPI, k8s)."""
    try:  # the same list of environments jax.distributed.initialize() itself walks through
        from jax._src.clusters import ClusterEnv
    except ImportError:  # a future JAX moved it: fall back to explicit flags only
        return False
    return any(
        not env.opt_in_only_method and env.is_env_present() for env in ClusterEnv._cluster_types
    )


def initialize(
    coordinator_address: str | None = None,
    num_processes: int | None = None,
    process_id: int | None = None,
) -> None:
    """Explicit coordinator → those arguments; a detected TPU pod / SLURM job → auto; else one
    process (nothing to do)."""
    if coordinator_address:
        jax.distributed.initialize(coordinator_address, num_processes, process_id)
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
