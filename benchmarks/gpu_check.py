"""The GPU check behind benchmarks/gpu_check.sh: correctness, then tokens/s and MFU, then a table.

  python benchmarks/gpu_check.py --out=DIR            # one H100/H200, ≤ 8 minutes
  python benchmarks/gpu_check.py --out=DIR --dry_run  # the same steps on CPU at tiny shapes

(a) attention="cudnn" ≡ "xla" (outputs and gradients, bf16 tolerance) and a 200-step bf16 run of
the 125M model whose loss curve stays within 2% of the float32 run's; (b) for 125M, 350M and 1.3B
at seq 2048, bf16 compute, cuDNN attention and remat none / dots_saveable / full: the largest
batch whose compiled train step fits the GPU (XLA's memory analysis at two batch sizes, fitted
linearly), its tokens/s and MFU against the device's published bf16 peak; (c) DIR/results.md and
DIR/results.json. Throughput runs stop early, marked "skipped", once the time budget is spent.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import pathlib
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks"), str(ROOT / "configs")]

from bench_peer import text_batches  # noqa: E402
from sizes import get_config as size_config  # noqa: E402

from llm_jax.model import Transformer, model_config  # noqa: E402
from llm_jax.model.size import param_counts, train_flops_per_token  # noqa: E402
from llm_jax.train.setup import build  # noqa: E402
from llm_jax.train.state import init_state, with_shardings  # noqa: E402
from llm_jax.train.throughput import peak_flops_per_device  # noqa: E402

GPU = dict(
    sizes=("125m", "350m", "1.3b"),
    seq_len=2048,
    curve_steps=200,
    curve_batch=8,
    timed_steps=10,
    budget_s=420,
    attention="cudnn",
    tiny=None,
)
DRY = dict(
    sizes=("1m",),
    seq_len=64,
    curve_steps=20,
    curve_batch=4,
    timed_steps=2,
    budget_s=120,
    attention="auto",
    tiny=dict(n_layers=2),
)
REMATS = ("none", "dots_saveable", "full")


def check_config(size: str, setting: dict, dtype="bfloat16", remat="none", batch=8):
    c = size_config(size)
    c.model.update(
        dtype=dtype, remat=remat, attention=setting["attention"], max_seq_len=setting["seq_len"]
    )
    if c.model.vocab_size == 0:
        c.model.vocab_size = 320
    if setting["tiny"]:
        c.model.update(**setting["tiny"])
    c.data.update(seq_len=setting["seq_len"], batch_size=batch)
    c.train.update(steps=10_000, warmup_steps=10)
    return c


def attention_agreement(setting) -> dict:
    """Max |cudnn − xla| of a bf16 model's logits and parameter gradients, relative to max |xla|."""
    cfg = model_config(check_config("125m" if not setting["tiny"] else "1m", setting).model)
    tokens = jnp.asarray(text_batches(1, 2, setting["seq_len"] - 1)[0], jnp.int32)
    results = {}
    for impl in ("xla", setting["attention"]):
        model = Transformer(dataclasses.replace(cfg, attention=impl))
        params = jax.jit(model.init)(jax.random.key(0), tokens)["params"]
        loss = lambda p, m=model: m.apply({"params": p}, tokens).astype(jnp.float32).mean()  # noqa: E731
        logits = jax.jit(model.apply)({"params": params}, tokens)
        grads = jax.jit(jax.grad(loss))(params)
        results[impl] = (
            np.asarray(logits, np.float32),
            [np.asarray(g, np.float32) for g in jax.tree.leaves(grads)],
        )
    ref, other = results["xla"], results[setting["attention"]]
    out_err = float(np.abs(ref[0] - other[0]).max() / np.abs(ref[0]).max())
    grad_err = max(
        float(np.abs(a - b).max() / (np.abs(a).max() + 1e-30))
        for a, b in zip(ref[1], other[1], strict=True)
    )
    tolerance = 2e-2  # bf16 has 8 mantissa bits: ~4e-3 per rounding, a few roundings deep
    return dict(
        implementation=setting["attention"],
        output_rel_err=out_err,
        grad_rel_err=grad_err,
        tolerance=tolerance,
        ok=out_err < tolerance and grad_err < tolerance,
    )


def loss_curve(config, batches) -> list[float]:
    parts = build(config, devices=jax.devices()[:1])
    state = init_state(parts.model, parts.tx, config.data.seq_len, 0, parts.state_shardings)
    losses = []
    for batch in batches:
        state, metrics = parts.train_step(state, batch)
        losses.append(metrics["loss"])
    return [float(x) for x in jax.device_get(losses)]


def bf16_matches_fp32(setting) -> dict:
    size = "125m" if not setting["tiny"] else "1m"
    batches = text_batches(setting["curve_steps"], setting["curve_batch"], setting["seq_len"])
    curves = {
        dtype: loss_curve(
            check_config(size, setting, dtype=dtype, batch=setting["curve_batch"]), batches
        )
        for dtype in ("float32", "bfloat16")
    }
    window = max(1, len(batches) // 20)  # compare 5%-window means: single steps are noisy
    smooth = {k: np.convolve(v, np.ones(window) / window, "valid") for k, v in curves.items()}
    rel = np.abs(smooth["bfloat16"] - smooth["float32"]) / smooth["float32"]
    return dict(
        size=size,
        steps=len(batches),
        max_rel_diff=float(rel.max()),
        tolerance=0.02,
        ok=bool(rel.max() < 0.02),
        first=curves["float32"][0],
        last_fp32=curves["float32"][-1],
        last_bf16=curves["bfloat16"][-1],
    )


def compile_step(config):
    parts = build(config, devices=jax.devices()[:1])
    abstract = with_shardings(parts.abstract_state, parts.state_shardings)
    tokens = jax.ShapeDtypeStruct((config.data.batch_size, config.data.seq_len + 1), jnp.int32)
    return parts, parts.train_step.lower(abstract, tokens).compile()


def step_bytes(compiled) -> int:
    """Device bytes the step needs: arguments + outputs + temporaries, less donated buffers."""
    m = compiled.memory_analysis()
    return (
        m.argument_size_in_bytes
        + m.output_size_in_bytes
        + m.temp_size_in_bytes
        - m.alias_size_in_bytes
    )


def largest_batch(size, setting, remat, limit) -> tuple[int, int]:
    """(batch, predicted bytes): bytes(b) = a + s·b from compiles at b = 1, 2; a power of two."""
    b1, b2 = (
        step_bytes(compile_step(check_config(size, setting, remat=remat, batch=b))[1])
        for b in (1, 2)
    )
    per_sequence, fixed = b2 - b1, 2 * b1 - b2
    if b1 > limit:
        return 0, b1
    batch = 1 << int(np.log2(max(1, (limit - fixed) // max(per_sequence, 1))))
    return batch, fixed + per_sequence * batch


def throughput(size, setting, remat, limit, peak) -> dict:
    start = time.perf_counter()
    batch, predicted = largest_batch(size, setting, remat, limit)
    row = dict(size=size, remat=remat, batch=batch, predicted_gib=predicted / 2**30)
    if batch == 0:
        return dict(row, status="does not fit at batch 1")
    config = check_config(size, setting, remat=remat, batch=batch)
    parts, compiled = compile_step(config)
    row["compile_s"] = time.perf_counter() - start
    state = init_state(parts.model, parts.tx, config.data.seq_len, 0, parts.state_shardings)
    tokens = np.random.default_rng(0).integers(
        0, config.model.vocab_size, (batch, config.data.seq_len + 1), np.int32
    )
    schedule = parts.train_step.bound  # the step's inputs after (state, batch): train/setup.py
    for _ in range(2):
        state, metrics = compiled(state, tokens, *schedule)
    jax.block_until_ready(metrics)
    t0 = time.perf_counter()
    for _ in range(setting["timed_steps"]):
        state, metrics = compiled(state, tokens, *schedule)
    jax.block_until_ready(metrics)
    seconds = (time.perf_counter() - t0) / setting["timed_steps"]
    rate = batch * config.data.seq_len / seconds
    flops = train_flops_per_token(config.model, config.data.seq_len)
    return dict(
        row,
        status="ok",
        params=param_counts(config.model)["total"],
        step_s=seconds,
        tokens_per_s=rate,
        mfu=rate * flops / peak,
        loss=float(metrics["loss"]),
    )


MFU_TARGETS = {"125m": 0.35, "1.3b": 0.45}


def _row(r: dict) -> str:
    target, nan = MFU_TARGETS.get(r["size"]), float("nan")
    met = "" if target is None or "mfu" not in r else ("met" if r["mfu"] >= target else "missed")
    cells = [
        r["size"],
        f"{r.get('params', 0) / 1e6:.0f}M",
        r["remat"],
        str(r.get("batch", "")),
        f"{r.get('step_s', nan):.3f}",
        f"{r.get('tokens_per_s', nan):,.0f}",
        f"{100 * r.get('mfu', nan):.1f}%",
        "" if target is None else f"{target:.0%} {met}",
        r["status"],
    ]
    return "| " + " | ".join(cells) + " |"


def markdown(results) -> str:
    lines = [
        f"device: {results['device']}, peak {results['peak_flops'] / 1e12:.3g} TFLOP/s, "
        f"jax {results['jax']}",
        "",
    ]
    a, c = results["attention"], results["bf16_curve"]
    lines.append(
        f"- attention {a['implementation']} vs xla: output {a['output_rel_err']:.2e}, gradients "
        f"{a['grad_rel_err']:.2e} (tolerance {a['tolerance']}): {'ok' if a['ok'] else 'FAIL'}"
    )
    lines.append(
        f"- bf16 vs fp32 loss curve, {c['size']}, {c['steps']} steps: max relative gap "
        f"{c['max_rel_diff']:.2%} (tolerance 2%): {'ok' if c['ok'] else 'FAIL'}"
    )
    lines += [
        "",
        "| size | params | remat | batch | step (s) | tokens/s | MFU | target | status |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    lines += [_row(r) for r in results["throughput"]]
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--dry_run", action="store_true", help="CPU, tiny shapes: tests the script")
    args = parser.parse_args()
    setting = DRY if args.dry_run else GPU
    if not args.dry_run and jax.default_backend() != "gpu":
        sys.exit(f"gpu_check: no GPU (backend {jax.default_backend()!r}); use --dry_run on CPU")
    started = time.perf_counter()
    stats = jax.devices()[0].memory_stats() or {}
    limit = int(0.9 * stats.get("bytes_limit", 2 * 2**30))  # CPU (dry run): pretend 2 GiB
    peak = peak_flops_per_device()
    results = dict(
        device=jax.devices()[0].device_kind,
        jax=jax.__version__,
        peak_flops=peak,
        attention=attention_agreement(setting),
        bf16_curve=bf16_matches_fp32(setting),
        throughput=[],
    )
    for size in setting["sizes"]:
        for remat in REMATS:
            over = time.perf_counter() - started > setting["budget_s"]
            if over and results["throughput"]:  # at least one row, however slow the machine
                results["throughput"].append(
                    dict(size=size, remat=remat, status="skipped: time budget")
                )
                continue
            results["throughput"].append(throughput(size, setting, remat, limit, peak))
            print(json.dumps(results["throughput"][-1]), flush=True)
    results["seconds"] = time.perf_counter() - started
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=1))
    (out / "results.md").write_text(markdown(results) + "\n")
    print(markdown(results))
    checks_ok = results["attention"]["ok"] and results["bf16_curve"]["ok"]
    sys.exit(0 if checks_ok else 1)


if __name__ == "__main__":
    main()
