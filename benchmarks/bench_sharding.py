"""Sharding benchmarks: step time on 1 vs 2 fake CPU devices, and FSDP vs data-parallel memory.

    .venv/bin/python benchmarks/bench_sharding.py [--steps=5] [--size=1.3b]

1. The d256/4-layer/seq256/batch16 float32 model (docs/design.md §4) on one device, then on 2
   fake CPU devices as data=2 and as fsdp=2. Fake devices share the same cores, so this measures the
   cost of partitioning (collectives, smaller matmuls), not a speed-up.
2. tools/compile_check.py for configs/sizes.py:<size> on 8 fake devices, fsdp=8 vs data=8:
   per-device parameter + optimizer bytes and XLA's temporaries, without and with remat.
   Nothing is allocated.
"""

import argparse
import itertools
import json
import subprocess
import sys
import time

from llm_jax.train.compile_check import request_cpu_devices

MESHES = [(1, 1, 1), (2, 1, 1), (1, 2, 1)]  # (data, fsdp, tensor)


def d256_config(data, fsdp, tensor):
    from llm_jax.config import get_default_config

    c = get_default_config()
    c.model.update(
        vocab_size=320, d_model=256, n_layers=4, n_heads=4, n_kv_heads=4, d_ff=1024, max_seq_len=256
    )
    c.data.update(seq_len=256, batch_size=16)
    c.mesh.update(data=data, fsdp=fsdp, tensor=tensor)
    return c


def step_time(mesh, steps: int) -> dict:
    """Seconds per train step (median of `steps`, after one compiling step) on a mesh."""
    import jax
    import numpy as np

    from llm_jax.train.setup import build
    from llm_jax.train.state import init_state

    c = d256_config(*mesh)
    parts = build(c, devices=jax.devices()[: int(np.prod(mesh))])
    state = init_state(parts.model, parts.tx, c.data.seq_len, 0, parts.state_shardings)
    tokens = np.random.default_rng(0).integers(0, 320, size=(16, 257), dtype=np.int32)
    batch = jax.device_put(tokens, parts.batch_sharding)
    start = time.perf_counter()
    state, metrics = parts.train_step(state, batch)
    jax.block_until_ready(metrics)
    compile_s = time.perf_counter() - start
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        state, metrics = parts.train_step(state, batch)
        jax.block_until_ready(metrics)
        times.append(time.perf_counter() - start)
    step_s = float(np.median(times))
    return {
        "mesh": mesh,
        "first_step_s": compile_s,
        "step_s": step_s,
        "tokens_per_s": 16 * 256 / step_s,
    }


def compile_check(size: str, mesh: str, remat: str) -> dict:
    """tools/compile_check.py in its own process (it needs 8 fake devices; this one has 2)."""
    result = subprocess.run(
        [
            sys.executable,
            "tools/compile_check.py",
            f"--config=configs/sizes.py:{size}",
            f"--mesh={mesh}",
            f"--config.model.remat={remat}",
            "--json",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=5, help="timed steps per mesh")
    parser.add_argument("--size", default="1.3b", help="configs/sizes.py preset for part 2")
    args = parser.parse_args()
    request_cpu_devices(2)  # before JAX starts
    print("| mesh (data, fsdp, tensor) | devices | step (s) | tokens/s | first step (s) |")
    print("|---|---|---|---|---|")
    for mesh in MESHES:
        r = step_time(mesh, args.steps)
        n = mesh[0] * mesh[1] * mesh[2]
        print(
            f"| {mesh} | {n} | {r['step_s']:.2f} | {r['tokens_per_s']:.0f} "
            f"| {r['first_step_s']:.1f} |",
            flush=True,
        )
    gib = 2**30
    print(
        f"\n| {args.size} on 8 devices | model.remat | params/device | optimizer/device "
        "| params+opt | temporaries | compile (s) |"
    )
    print("|---|---|---|---|---|---|---|")
    for remat, (name, mesh) in itertools.product(
        ("none", "full"), (("data=8", "8,1,1"), ("fsdp=8", "1,8,1"))
    ):
        r = compile_check(args.size, mesh, remat)
        held = r["params_bytes"] + r["optimizer_bytes"]
        print(
            f"| {name} | {remat} | {r['params_bytes'] / gib:.3f} GiB "
            f"| {r['optimizer_bytes'] / gib:.3f} GiB"
            f" | {held / gib:.3f} GiB | {r['temp_bytes'] / gib:.1f} GiB "
            f"| {r['compile_s']:.1f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
