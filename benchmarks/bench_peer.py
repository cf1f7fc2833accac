"""llm_jax against the same model in PyTorch (eager and torch.compile), alternating in one process.

  pip install -e '.[peer]'      # torch==2.13.0, the CPU wheel
  python benchmarks/bench_peer.py [--rounds=8 --steps=3] [--json=out.json] [--no-compile]
  python benchmarks/bench_peer.py --smoke --json=out.json      # tiny shapes, seconds

The shapes come from one llm_jax config (`reference_config`: d256, 4 layers, 4 heads, SwiGLU
d_ff 1024, seq 256, batch 16, float32, byte vocab 320). Each round times `--steps` steps of every
implementation in turn, so a busy machine slows all of them alike; the report gives the median
tokens/s per implementation, the ratios llm_jax / PyTorch (median of the per-round ratios) and the
load average of every round. All implementations train on the same batches of real text.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import statistics
import sys
import time

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]

from llm_jax.cli.host import reexec_with_host_tunables  # noqa: E402

# XLA CPU sizes its one intra-op pool (Eigen, and the YNNPACK dots' slinky workers) from this;
# XLA_FLAGS=--xla_cpu_multi_thread_eigen=false left four threads busy (per-thread CPU time).
SINGLE_THREAD_ENV = {"PJRT_NPROC": "1"}
SMOKE = dict(d_model=64, n_layers=2, n_heads=4, d_ff=256, seq_len=64, batch_size=8)
REFERENCE = dict(d_model=256, n_layers=4, n_heads=4, d_ff=1024, seq_len=256, batch_size=16)


def reference_config(smoke: bool = False):
    """The one llm_jax config both implementations are built from."""
    from llm_jax.config import get_default_config

    s = SMOKE if smoke else REFERENCE
    c = get_default_config()
    c.model.update(
        vocab_size=320,
        d_model=s["d_model"],
        n_layers=s["n_layers"],
        n_heads=s["n_heads"],
        n_kv_heads=s["n_heads"],
        d_ff=s["d_ff"],
        max_seq_len=s["seq_len"],
    )
    c.data.update(seq_len=s["seq_len"], batch_size=s["batch_size"])
    c.train.update(steps=10_000, schedule="constant", warmup_steps=0, lr=1e-3)
    return c


def text_batches(n: int, batch: int, seq_len: int, seed: int = 0) -> np.ndarray:
    """n batches (n, B, L + 1) of byte tokens from this interpreter's standard library sources."""
    import sysconfig

    files = sorted(pathlib.Path(sysconfig.get_paths()["stdlib"]).glob("*.py"))[:200]
    data = np.frombuffer(b"".join(f.read_bytes() for f in files), np.uint8)
    starts = np.random.default_rng(seed).integers(0, len(data) - seq_len - 1, size=(n, batch))
    return np.stack([data[s : s + seq_len + 1] for s in starts.ravel()]).reshape(n, batch, -1)


class LlmJax:
    """The real trainer's jitted train step (parts.train_step), on one device."""

    name = "llm_jax"

    def __init__(self, config):
        import jax

        from llm_jax.train.setup import build
        from llm_jax.train.state import init_state

        self.jax = jax
        self.parts = build(config, devices=jax.devices()[:1])
        self.state = init_state(
            self.parts.model, self.parts.tx, config.data.seq_len, 0, self.parts.state_shardings
        )

    def step(self, tokens_BL1: np.ndarray):
        self.state, metrics = self.parts.train_step(self.state, tokens_BL1.astype(np.int32))
        return metrics["loss"]

    def sync(self, loss) -> float:
        return float(self.jax.block_until_ready(loss))


class Torch:
    """peer_torch's model and AdamW step, eager or through torch.compile."""

    def __init__(self, config, compiled: bool):
        import peer_torch
        import torch

        from llm_jax.model import model_config

        self.torch, self.name = torch, "torch.compile" if compiled else "torch eager"
        torch.manual_seed(0)
        model = peer_torch.Transformer(model_config(config.model), config.data.seq_len)
        optimizer = peer_torch.make_optimizer(model, config.train)
        self._step = peer_torch.make_train_step(
            torch.compile(model) if compiled else model, optimizer, config.train.grad_clip
        )

    def step(self, tokens_BL1: np.ndarray):
        return self._step(self.torch.from_numpy(tokens_BL1.astype(np.int64)))

    def sync(self, loss) -> float:
        return float(loss)


def _time_steps(impl, batches, first: int, steps: int):
    """Wall and process CPU seconds for `steps` steps from batch `first`, and the losses."""
    start, cpu = time.perf_counter(), time.process_time()
    losses = [impl.step(batches[(first + i) % len(batches)]) for i in range(steps)]
    losses = [impl.sync(loss) for loss in losses]  # llm_jax dispatches ahead; wait for all
    return time.perf_counter() - start, time.process_time() - cpu, losses


def make_impls(config, compile_torch: bool):
    impls, errors = [LlmJax(config), Torch(config, compiled=False)], {}
    if compile_torch:
        try:
            impls.append(Torch(config, compiled=True))
        except Exception as e:  # noqa: BLE001 - a missing compiler must not stop the comparison
            errors["torch.compile"] = f"{type(e).__name__}: {e}"
    return impls, errors


def warm_up(impls, batches, errors):
    """Two steps each (compiles); an implementation that fails here is dropped and reported."""
    kept = []
    for impl in impls:
        try:
            _time_steps(impl, batches, 0, 2)
            kept.append(impl)
        except Exception as e:  # noqa: BLE001 - torch.compile fails at the first call
            errors[impl.name] = f"{type(e).__name__}: {e}"[:500]
    return kept


def run(config, rounds: int, steps: int, compile_torch: bool = True) -> dict:
    d = config.data
    batches = text_batches(rounds * steps + 2, d.batch_size, d.seq_len)
    impls, errors = make_impls(config, compile_torch)
    impls = warm_up(impls, batches, errors)
    rates = {impl.name: [] for impl in impls}
    cpu_rates = {impl.name: [] for impl in impls}  # tokens per CPU-second (spinning included)
    losses = {impl.name: [] for impl in impls}
    load = []
    for r in range(rounds):
        load.append(os.getloadavg()[0])
        for impl in impls:
            seconds, cpu, step_losses = _time_steps(impl, batches, 2 + r * steps, steps)
            rates[impl.name].append(steps * d.batch_size * d.seq_len / seconds)
            cpu_rates[impl.name].append(steps * d.batch_size * d.seq_len / cpu)
            losses[impl.name] += step_losses
    result = report(config, rates, losses, load, errors)
    result["tokens_per_cpu_s"] = {name: statistics.median(r) for name, r in cpu_rates.items()}
    # CPU seconds per wall second while each ran: ≤ 1 confirms --threads=1 (on a loaded machine
    # it is lower for everyone).
    result["cpu_per_wall"] = {
        name: statistics.median(w / c for w, c in zip(rates[name], cpu_rates[name], strict=True))
        for name in rates
    }
    return result


def report(config, rates, losses, load, errors) -> dict:
    from llm_jax.model.size import param_counts, train_flops_per_token
    from llm_jax.train.throughput import measured_matmul_flops

    flops_per_token = train_flops_per_token(config.model, config.data.seq_len)
    peak = measured_matmul_flops()
    ratios = {
        name: statistics.median(a / b for a, b in zip(rates["llm_jax"], rates[name], strict=True))
        for name in rates
        if name != "llm_jax"
    }
    m = config.model
    return {
        "shape": dict(
            d_model=m.d_model,
            n_layers=m.n_layers,
            n_heads=m.n_heads,
            d_ff=m.d_ff,
            vocab_size=m.vocab_size,
            seq_len=config.data.seq_len,
            batch_size=config.data.batch_size,
            dtype=m.dtype,
        ),
        "params": param_counts(m)["total"],
        "flops_per_token": flops_per_token,
        "matmul_peak_flops": peak,
        "tokens_per_s": {name: statistics.median(r) for name, r in rates.items()},
        "mfu": {name: statistics.median(r) * flops_per_token / peak for name, r in rates.items()},
        "ratio": ratios,  # llm_jax tokens/s over each PyTorch implementation's
        "rounds": rates,
        "losses": losses,
        "load_average": load,
        "errors": errors,
    }


def markdown(result: dict) -> str:
    s, tps = result["shape"], result["tokens_per_s"]
    head = f"d{s['d_model']}-L{s['n_layers']} seq{s['seq_len']} b{s['batch_size']}"
    cells = [
        f"{tps.get(n, float('nan')):,.0f}" for n in ("llm_jax", "torch eager", "torch.compile")
    ]
    ratios = [
        f"{result['ratio'].get(n, float('nan')):.2f}" for n in ("torch eager", "torch.compile")
    ]
    load = result["load_average"]
    return (
        "| shape | params | llm_jax | eager | compiled | ratio eager | ratio compiled | load |\n"
        "|---|---|---|---|---|---|---|---|\n"
        f"| {head} | {result['params'] / 1e6:.2f}M | {' | '.join(cells)} | {' | '.join(ratios)} "
        f"| {min(load):.1f}–{max(load):.1f} |"
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny shapes, a few steps")
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--steps", type=int, default=None, help="steps per round per framework")
    parser.add_argument("--no-compile", dest="compile", action="store_false")
    parser.add_argument("--json", default="", help="also write the report here")
    parser.add_argument("--threads", type=int, default=0, help="1: both single-threaded")
    args = parser.parse_args()
    if args.threads == 1:  # before JAX starts its thread pools
        os.environ.update(SINGLE_THREAD_ENV)
        import torch

        torch.set_num_threads(1)
    rounds = args.rounds or (3 if args.smoke else 8)
    steps = args.steps or (4 if args.smoke else 3)
    result = run(reference_config(args.smoke), rounds, steps, args.compile)
    result["threads"] = args.threads or os.cpu_count()
    print(markdown(result))
    keys = ("tokens_per_s", "tokens_per_cpu_s", "cpu_per_wall", "ratio", "mfu", "errors")
    print(json.dumps({k: result[k] for k in keys}, indent=1))
    if args.json:
        pathlib.Path(args.json).write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    reexec_with_host_tunables()
    main()
