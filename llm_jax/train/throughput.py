"""What the devices offer: peak FLOP/s per device (for MFU: published dense bf16 peaks, or a
measured matmul on CPU) and memory (for validate's fits-in-memory check)."""

import functools
import os
import time

import jax
import jax.numpy as jnp

# Dense (no sparsity) bf16 peak FLOP/s by device_kind substring, from vendor data sheets.
PUBLISHED_PEAKS = {
    "H200": 989e12,
    "H100": 989e12,
    "A100": 312e12,
    "TPU v6": 918e12,
    "TPU v5p": 459e12,
    "TPU v5": 197e12,  # v5e ("TPU v5 lite")
    "TPU v4": 275e12,
}


@functools.cache
def measured_matmul_flops(n: int = 2048, repeats: int = 5) -> float:
    """Best-of-`repeats` float32 n×n matmul rate: the ceiling an XLA CPU step can approach."""
    a = jnp.ones((n, n), jnp.float32)
    matmul = jax.jit(lambda x: x @ x)
    matmul(a).block_until_ready()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        matmul(a).block_until_ready()
        best = min(best, time.perf_counter() - start)
    return 2 * n**3 / best


def peak_flops_per_device() -> float:
    kind = jax.devices()[0].device_kind
    for name, peak in PUBLISHED_PEAKS.items():
        if name in kind:
            return peak
    return measured_matmul_flops()


def device_memory_bytes() -> int | None:
    """Memory of all devices together: accelerators' limits, else this host's RAM (CPU devices
    share it); None when unknown."""
    local = jax.local_devices()
    if local[0].platform != "cpu":  # only local devices report their memory
        limits = [(d.memory_stats() or {}).get("bytes_limit") for d in local]
        return sum(limits) * jax.process_count() if all(limits) else None
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        return None
