"""Each concurrent run of a sweep gets its own devices, and none joins a process group.

Without this every child of `--workers=K` sees every accelerator (and a JAX process preallocates
75% of each visible GPU), and inside a SLURM allocation every child finds the job's variables
and tries to join one jax.distributed group on one coordinator port. A worker's environment
therefore names its devices — CUDA_VISIBLE_DEVICES, TPU_VISIBLE_CHIPS and the TPU bounds, or a
set of CPU cores — drops SLURM, MPI and coordinator variables, and sets the single-process mode
llm_jax/distributed.py honours. Nothing here imports JAX: the runner must not grab the devices.
"""

from __future__ import annotations

import dataclasses
import glob
import os

from llm_jax.distributed import PARENT_ENV, SINGLE_PROCESS_ENV
from llm_jax.sweep.spec import SweepError

# Variables through which a child would find (or be told about) a process group to join.
CLUSTER_PREFIXES = ("SLURM_", "SLURMD_", "PMI_", "PMIX_", "OMPI_")
CLUSTER_NAMES = (
    "JAX_COORDINATOR_ADDRESS",
    "JAX_COORDINATOR_BIND_ADDRESS",
    "JAX_NUM_PROCESSES",
    "JAX_PROCESS_ID",
    "JAX_LOCAL_DEVICE_IDS",
)
TPU_PORT = 8476  # libtpu's default process port; worker i uses TPU_PORT + i
# TPU chips per process → chip bounds of that sub-slice (x, y, z).
TPU_BOUNDS = {1: "1,1,1", 2: "1,2,1", 4: "2,2,1", 8: "2,4,1"}


class DeviceError(SweepError):
    """Workers × devices per run do not fit the machine; the message says what does."""


@dataclasses.dataclass(frozen=True)
class Slot:
    """One worker's share of the machine."""

    index: int
    platform: str  # gpu | tpu | cpu
    devices: tuple[int, ...] = ()  # GPU ordinals, TPU chip ids or CPU cores; () = all
    threads: int = 0  # >0: XLA CPU threads per run


def detect(env=os.environ) -> tuple[str, list[int]]:
    """(platform, device ids) of this machine, without starting JAX."""
    platforms = env.get("JAX_PLATFORMS", "")
    if platforms and platforms.split(",")[0] == "cpu":
        return "cpu", sorted(os.sched_getaffinity(0))
    if env.get("CUDA_VISIBLE_DEVICES", "").strip():
        return "gpu", [int(d) for d in env["CUDA_VISIBLE_DEVICES"].split(",") if d.strip()]
    gpus = glob.glob("/proc/driver/nvidia/gpus/*")
    if gpus:
        return "gpu", list(range(len(gpus)))
    chips = glob.glob("/dev/accel[0-9]*") or glob.glob("/dev/vfio/[0-9]*")
    if chips:
        return "tpu", list(range(len(chips)))
    return "cpu", sorted(os.sched_getaffinity(0))


def slots(workers: int, devices_per_run: int = 0, threads: int = 0, machine=None) -> list[Slot]:
    """Disjoint device sets for `workers` runs at a time. devices_per_run 0: accelerators split
    evenly (one worker: all of them, untouched); CPU cores shared as the OS schedules them."""
    platform, ids = machine or detect()
    if platform != "cpu" and workers == 1 and not devices_per_run:
        return [Slot(0, platform, (), threads)]
    per = devices_per_run or (len(ids) // workers if platform != "cpu" else 0)
    if (platform != "cpu" and per == 0) or workers * per > len(ids):
        raise DeviceError(
            f"--workers={workers} × --devices_per_run={per or 1} needs "
            f"{workers * (per or 1)} {platform} devices; this machine has {len(ids)}: "
            "lower --workers or --devices_per_run"
        )
    if platform == "tpu" and per not in TPU_BOUNDS:
        raise DeviceError(f"--devices_per_run={per} TPU chips: use one of {sorted(TPU_BOUNDS)}")
    return [Slot(i, platform, tuple(ids[i * per : (i + 1) * per]), threads) for i in range(workers)]


def child_env(slot: Slot, base=os.environ) -> dict:
    """The environment of every process started in `slot`."""
    env = {
        k: v
        for k, v in base.items()
        if not k.startswith(CLUSTER_PREFIXES) and k not in CLUSTER_NAMES
    }
    env |= {SINGLE_PROCESS_ENV: "1", PARENT_ENV: str(os.getpid())}
    listed = ",".join(map(str, slot.devices))
    if slot.platform == "gpu" and slot.devices:
        env["CUDA_VISIBLE_DEVICES"] = listed
    if slot.platform == "tpu" and slot.devices:
        port = TPU_PORT + slot.index
        env |= {
            "TPU_VISIBLE_CHIPS": listed,
            "TPU_CHIPS_PER_PROCESS_BOUNDS": TPU_BOUNDS[len(slot.devices)],
            "TPU_PROCESS_BOUNDS": "1,1,1",
            "TPU_CHIPS_PER_HOST_BOUNDS": TPU_BOUNDS[len(slot.devices)],  # older libtpu names
            "TPU_HOST_BOUNDS": "1,1,1",
            "TPU_PROCESS_PORT": str(port),
            "TPU_PROCESS_ADDRESSES": f"localhost:{port}",
            "CLOUD_TPU_TASK_ID": "0",
            "ALLOW_MULTIPLE_LIBTPU_LOAD": "1",
        }
    if slot.threads > 0:  # one-thread XLA CPU runs side by side beat one multi-threaded run
        flags = f"--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads={slot.threads}"
        env["XLA_FLAGS"] = f"{env.get('XLA_FLAGS', '')} {flags}".strip()
    return env


def pin(slot: Slot, pid: int) -> None:
    """A CPU slot's cores for a just-started child (its later threads inherit them)."""
    if slot.platform == "cpu" and slot.devices:
        os.sched_setaffinity(pid, slot.devices)
