"""How long an async checkpoint save holds the training loop, against the step time.

  python benchmarks/bench_checkpoint.py [--saves=4] [--models=d256-L4,d512-L6]

For each model, through the trainer's own Checkpointer (Orbax, async), with Orbax's synchronous
part on the loop's thread and on the saver thread (what CPU runs use), alternated in one process:
  - the time `save()` holds the loop;
  - what a save costs the loop: the wall time of step → fetch → save → step → sync minus the same
    without the save (a save that goes on beside the next step still slows it down on 2 cores);
  - the time the background write then takes.
The target: a save holds the loop < 5% of a step (the cost column says what it takes in all).
"""

from __future__ import annotations

import argparse
import os
import pathlib
import statistics
import sys
import tempfile
import time

import jax
import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]

from bench_train import SIZES, config_for  # noqa: E402

from llm_jax.checkpoint import Checkpointer  # noqa: E402
from llm_jax.model.size import param_counts  # noqa: E402
from llm_jax.train.setup import build  # noqa: E402
from llm_jax.train.state import init_state  # noqa: E402


def measure(config, saves: int) -> dict:
    parts = build(config, devices=jax.devices()[:1])
    state = init_state(parts.model, parts.tx, config.data.seq_len, 0, parts.state_shardings)
    shape = (config.data.batch_size, config.data.seq_len + 1)
    batch = np.random.default_rng(0).integers(0, config.model.vocab_size, shape, np.int32)
    keys = ("step", "none", "loop", "saver", "hold_loop", "hold_saver", "behind")
    times = {key: [] for key in keys}

    def trial(checkpointer, step):
        """Wall of step → fetch → [save] → step → sync, and how long save() held the loop."""
        nonlocal state
        start = time.perf_counter()
        state, metrics = parts.train_step(state, batch)
        float(metrics["loss"])  # the trainer's sync before a save
        held = time.perf_counter()
        if checkpointer:
            checkpointer.save(step, state, {"step": step})
        held = time.perf_counter() - held
        state, _ = parts.train_step(state, batch)
        jax.block_until_ready(state)
        wall = time.perf_counter() - start
        if checkpointer:
            written = time.perf_counter()
            checkpointer.manager.wait_until_finished()  # outside the timing: the write behind
            times["behind"].append(time.perf_counter() - written)
        return wall, held

    with tempfile.TemporaryDirectory() as workdir:
        on = {
            "loop": Checkpointer(workdir + "/loop", keep=2, saver_thread=False),
            "saver": Checkpointer(workdir + "/saver", keep=2, saver_thread=True),
        }
        for checkpointer in on.values():  # compile and warm up Orbax
            trial(checkpointer, 0)
        for i in range(saves):
            order = ["none", "loop", "saver"]
            for name in order[i % 3 :] + order[: i % 3]:
                wall, held = trial(on.get(name), i + 1)
                times[name].append(wall)
                if name != "none":
                    times["hold_" + name].append(held)
                else:
                    times["step"].append(wall / 2)
        for checkpointer in on.values():
            checkpointer.close()
    median = {key: statistics.median(values) for key, values in times.items()}
    return dict(
        median,
        cost_loop=median["loop"] - median["none"],
        cost_saver=median["saver"] - median["none"],
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--saves", type=int, default=4)
    parser.add_argument("--models", default="d256-L4,d512-L6", help="of bench_train.SIZES")
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.1f}, {jax.devices()[0].device_kind}")
    print("| model | state (MB) | step (s) | Orbax's sync part on | save() holds the loop (s) | "
          "a save costs the loop (s) | of a step | write behind (s) |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|")
    for name in args.models.split(","):
        config = config_for(*SIZES[name])
        r = measure(config, args.saves)
        mb = 12 * param_counts(config.model)["total"] / 1e6  # params + two Adam moments, fp32
        for where in ("loop", "saver"):
            cost = r["cost_" + where]
            print(
                f"| {name} | {mb:.0f} | {r['step']:.3f} | {where} thread | "
                f"{r['hold_' + where]:.4f} | {cost:.4f} | {100 * cost / r['step']:.2f}% | "
                f"{r['behind']:.3f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
