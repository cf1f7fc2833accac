"""Ahead-of-time compile of the train step for a target mesh, and its per-device memory.

Everything is abstract (ShapeDtypeStructs carrying shardings), so a 7B model on a 64-device mesh
is lowered and compiled on a laptop's fake CPU devices without allocating it: a user sees an OOM
before paying for a pod. XLA's numbers are for the CPU backend; a TPU/GPU compile differs in
layout and fusion, but parameters and optimizer state are exact and activations are indicative.
"""

from __future__ import annotations

import math
import time

import jax
import numpy as np

from llm_jax.config import ConfigError, validate
from llm_jax.model.size import param_counts
from llm_jax.sharding import MESH_AXES
from llm_jax.train.setup import build


def request_cpu_devices(n: int) -> None:
    """Ask for n fake CPU devices; only works before JAX has initialised its backends."""
    jax.config.update("jax_platforms", "cpu")
    jax.config.update("jax_num_cpu_devices", n)


def parse_mesh(text: str) -> dict[str, int]:
    """'1,64,1' → {'data': 1, 'fsdp': 64, 'tensor': 1} (sizes must be explicit here)."""
    parts = text.split(",")
    if len(parts) != 3 or not all(p.strip().isdigit() and int(p) >= 1 for p in parts):
        raise ConfigError(f"--mesh={text!r}: write three positive sizes data,fsdp,tensor (1,64,1)")
    sizes = [int(p) for p in parts]
    return dict(zip(MESH_AXES, sizes, strict=True))


def per_device_bytes(abstract_tree, shardings) -> int:
    """Bytes one device holds of a tree, from each leaf's shard shape (max over devices)."""
    total = 0
    for leaf, sharding in zip(
        jax.tree.leaves(abstract_tree), jax.tree.leaves(shardings), strict=True
    ):
        total += math.prod(sharding.shard_shape(leaf.shape)) * np.dtype(leaf.dtype).itemsize
    return total


def resolve_vocab(config) -> None:
    """vocab_size 0 is only resolvable here for the byte tokenizer (a BPE would be trained)."""
    if config.model.vocab_size:
        return
    if config.data.tokenizer != "byte":
        raise ConfigError(
            f"model.vocab_size=0 with data.tokenizer={config.data.tokenizer!r}: set "
            "--config.model.vocab_size to the tokenizer's size for a compile check"
        )
    from llm_jax.data.tokenizer import ByteTokenizer
    from llm_jax.train.tasks import resolve_vocab as from_tokenizer

    from_tokenizer(config, ByteTokenizer())


def compile_train_step(config, devices=None) -> dict:
    """Lower and compile the train step for config.mesh; return per-device memory in bytes."""
    devices = jax.devices() if devices is None else devices
    resolve_vocab(config)
    validate(config, n_devices=len(devices))
    # Compile the accelerator's program, not CPU's: one layer per scan iteration, and the causal
    # scores in one block (CPU skips the upper blocks in 64-query pieces).
    if config.model.scan_unroll == 0:
        config.model.scan_unroll = 1
    if config.model.attention_block == 0:
        config.model.attention_block = config.data.seq_len
    parts = build(config, devices=devices)
    d = config.data
    batch = jax.ShapeDtypeStruct(
        (d.batch_size, d.seq_len + 1), np.int32, sharding=parts.batch_sharding
    )
    start = time.perf_counter()
    lowered = parts.train_step.lower(parts.restore_target, batch)
    lowered_at = time.perf_counter()
    compiled = lowered.compile()
    done = time.perf_counter()
    stats = compiled.memory_analysis()
    state, shardings = parts.abstract_state, parts.state_shardings
    return {
        "mesh": dict(parts.mesh.shape),
        "n_devices": len(devices),
        "params": param_counts(config.model)["total"],
        "params_bytes": per_device_bytes(state.params, shardings.params),
        "optimizer_bytes": per_device_bytes(state.opt_state, shardings.opt_state),
        "argument_bytes": stats.argument_size_in_bytes,
        "output_bytes": stats.output_size_in_bytes,
        "alias_bytes": stats.alias_size_in_bytes,
        "temp_bytes": stats.temp_size_in_bytes,
        # Donated state aliases its outputs, so it is counted once.
        "peak_bytes": stats.argument_size_in_bytes
        + stats.output_size_in_bytes
        - stats.alias_size_in_bytes
        + stats.temp_size_in_bytes,
        "lower_s": lowered_at - start,
        "compile_s": done - lowered_at,
    }


def _gib(n: int) -> str:
    return f"{n / 2**30:8.3f} GiB"


def format_report(report: dict) -> str:
    """Human-readable lines for the CLI."""
    mesh = " ".join(f"{k}={v}" for k, v in report["mesh"].items())
    return "\n".join(
        [
            f"mesh: {mesh} ({report['n_devices']} devices); {report['params'] / 1e9:.3f}B params",
            f"compile: lower {report['lower_s']:.1f} s, compile {report['compile_s']:.1f} s",
            "per device, from the shardings:",
            f"  params                      {_gib(report['params_bytes'])}",
            f"  optimizer state             {_gib(report['optimizer_bytes'])}",
            "per device, from XLA's memory analysis of the compiled step:",
            f"  arguments (state + batch)   {_gib(report['argument_bytes'])}",
            f"  outputs                     {_gib(report['output_bytes'])}",
            f"  aliased (donated state)     {_gib(report['alias_bytes'])}",
            f"  temporaries (activations)   {_gib(report['temp_bytes'])}",
            f"  peak ≈ args + outs − aliased + temps {_gib(report['peak_bytes'])}",
        ]
    )
