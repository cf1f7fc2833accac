"""How long an async checkpoint save blocks the training loop, against the step time.

  python benchmarks/bench_checkpoint.py [--saves=4]

For each model: the median train-step time, and for `--saves` saves through the trainer's own
Checkpointer (Orbax, async): the time `save()` holds the loop (device → host copy and dispatch of
the write), and the time the background write then takes. The target: blocking < 5% of a step.
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
    steps, blocking, background = [], [], []
    with tempfile.TemporaryDirectory() as workdir:
        checkpointer = Checkpointer(workdir, keep=2)
        for i in range(saves + 2):
            start = time.perf_counter()
            state, metrics = parts.train_step(state, batch)
            jax.block_until_ready(state)
            steps.append(time.perf_counter() - start)
            if i < 2:  # compile and warm up Orbax
                continue
            start = time.perf_counter()
            checkpointer.save(i, state, {"step": i})
            blocking.append(time.perf_counter() - start)
            checkpointer.manager.wait_until_finished()  # the next save would wait for it anyway
            background.append(time.perf_counter() - start - blocking[-1])
        checkpointer.close()
    step = statistics.median(steps[2:])
    block = statistics.median(blocking)
    return dict(
        step_s=step,
        blocking_s=block,
        background_s=statistics.median(background),
        fraction=block / step,
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--saves", type=int, default=4)
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.1f}, {jax.devices()[0].device_kind}")
    print("| model | state (MB) | step (s) | save blocks (s) | of a step | write behind (s) |")
    print("|---|---|---|---|---|---|")
    for name in ("d256-L4", "d512-L6"):
        config = config_for(*SIZES[name])
        r = measure(config, args.saves)
        mb = 12 * param_counts(config.model)["total"] / 1e6  # params + two Adam moments, fp32
        print(
            f"| {name} | {mb:.0f} | {r['step_s']:.3f} | {r['blocking_s']:.4f} | "
            f"{100 * r['fraction']:.2f}% | {r['background_s']:.3f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
