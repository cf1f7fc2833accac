"""Peak FLOP/s per device, for MFU: published dense bf16 peaks, or a measured matmul on CPU."""

import functools
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
