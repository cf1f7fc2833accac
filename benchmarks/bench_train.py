"""Train-step throughput and MFU for three sizes, and compile time vs depth (scan vs loop).

  .venv/bin/python benchmarks/bench_train.py [--steps=10]

MFU is against the measured float32 matmul ceiling of this machine (llm_jax/train/throughput.py)
on CPU, or the device's published bf16 peak on GPU/TPU.
"""

import argparse
import os
import time

import jax
import numpy as np

from llm_jax.config import get_default_config
from llm_jax.model.size import param_counts, train_flops_per_token
from llm_jax.train.setup import build
from llm_jax.train.state import init_state, with_shardings
from llm_jax.train.throughput import peak_flops_per_device

SIZES = {  # name: (d_model, n_layers, n_heads, d_ff, seq_len, batch)
    "d128-L4": (128, 4, 4, 512, 128, 16),
    "d256-L4": (256, 4, 4, 1024, 256, 16),  # docs/design.md §4's reference shape
    "d512-L6": (512, 6, 8, 2048, 256, 16),
}


def config_for(d_model, n_layers, n_heads, d_ff, seq_len, batch, scan=True):
    c = get_default_config()
    c.model.update(
        vocab_size=320,
        d_model=d_model,
        n_layers=n_layers,
        n_heads=n_heads,
        n_kv_heads=n_heads,
        d_ff=d_ff,
        max_seq_len=seq_len,
        scan_layers=scan,
    )
    c.data.update(seq_len=seq_len, batch_size=batch)
    c.train.update(steps=1000, warmup_steps=10)
    return c


def step_rate(config, steps):
    parts = build(config, devices=jax.devices()[:1])
    state = init_state(parts.model, parts.tx, config.data.seq_len, 0, parts.state_shardings)
    rng = np.random.default_rng(0)
    shape = (config.data.batch_size, config.data.seq_len + 1)
    batch = rng.integers(0, config.model.vocab_size, size=shape, dtype=np.int32)
    for _ in range(2):  # compile and warm up
        state, metrics = parts.train_step(state, batch)
    jax.block_until_ready(metrics)
    start = time.perf_counter()
    for _ in range(steps):
        state, metrics = parts.train_step(state, batch)
    jax.block_until_ready(metrics)
    seconds = (time.perf_counter() - start) / steps
    return seconds, config.data.batch_size * config.data.seq_len / seconds


def compile_seconds(config):
    parts = build(config, devices=jax.devices()[:1])
    batch = jax.ShapeDtypeStruct((config.data.batch_size, config.data.seq_len + 1), np.int32)
    start = time.perf_counter()
    parts.train_step.lower(
        with_shardings(parts.abstract_state, parts.state_shardings), batch
    ).compile()
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=10)
    args = parser.parse_args()
    peak = peak_flops_per_device()
    print(
        f"device {jax.devices()[0].device_kind}, peak {peak / 1e9:.0f} GFLOP/s, "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    print("| model | params | step (s) | tokens/s | MFU |\n|---|---|---|---|---|")
    for name, shape in SIZES.items():
        config = config_for(*shape)
        seconds, rate = step_rate(config, args.steps)
        mfu = rate * train_flops_per_token(config.model, config.data.seq_len) / peak
        n = param_counts(config.model)["total"]
        print(
            f"| {name} seq{shape[4]} b{shape[5]} | {n / 1e6:.2f}M | {seconds:.3f} | {rate:.0f} "
            f"| {100 * mfu:.1f}% |"
        )
    print(
        "\n| layers | scan_layers=True compile (s) | scan_layers=False compile (s) |\n|---|---|---|"
    )
    for n_layers in (4, 32):
        times = [
            compile_seconds(config_for(256, n_layers, 4, 1024, 256, 16, scan=scan))
            for scan in (True, False)
        ]
        print(f"| {n_layers} | {times[0]:.1f} | {times[1]:.1f} |")


if __name__ == "__main__":
    main()
