"""Launch tools/train.py as several local processes joined by jax.distributed on 127.0.0.1."""

import os
import socket
import subprocess
import sys
import time

from tests.train.cli import ROOT, TINY


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def env(devices: int) -> dict:
    """CPU with `devices` fake devices per process; collectives across processes go over gloo.
    LLVM optimisation level 0 halves compile time, which dominates these short runs."""
    return dict(
        os.environ,
        JAX_PLATFORMS="cpu",
        JAX_CPU_COLLECTIVES_IMPLEMENTATION="gloo",
        XLA_FLAGS=f"--xla_force_host_platform_device_count={devices} "
        "--xla_backend_optimization_level=0",
    )


def command(workdir, cache_dir, *overrides) -> list[str]:
    return [
        sys.executable,
        "tools/train.py",
        *TINY,
        f"--workdir={workdir}",
        f"--config.data.cache_dir={cache_dir}",
        *overrides,
    ]


def start(workdir, cache_dir, *overrides, processes=2, devices=2) -> list[subprocess.Popen]:
    """Start `processes` trainers of one run; process i logs to workdir/../process_i.log."""
    address = f"127.0.0.1:{free_port()}"
    started = []
    for i in range(processes):
        flags = [
            f"--coordinator_address={address}",
            f"--num_processes={processes}",
            f"--process_id={i}",
        ]
        log = open(workdir.parent / f"{workdir.name}.process_{i}.log", "w")  # noqa: SIM115
        started.append(
            subprocess.Popen(
                command(workdir, cache_dir, *overrides, *flags),
                cwd=ROOT,
                env=env(devices),
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        )
        log.close()  # the child holds its own descriptor
    return started


def wait_all(started, timeout: float) -> list[int]:
    """Return codes of all processes; kills (and reaps) every one still running at the deadline."""
    deadline = time.monotonic() + timeout
    try:
        for process in started:
            process.wait(timeout=max(0.0, deadline - time.monotonic()))
    finally:
        for process in started:
            if process.poll() is None:
                process.kill()
            process.wait()
    return [process.returncode for process in started]


def logs(workdir, processes=2) -> str:
    return "\n".join(
        (workdir.parent / f"{workdir.name}.process_{i}.log").read_text()[-2000:]
        for i in range(processes)
    )
