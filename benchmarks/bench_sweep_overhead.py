"""Per-run overhead of a sweep: each run's wall time minus its training steps.

  .venv/bin/python benchmarks/bench_sweep_overhead.py --workdir=/tmp/overhead [--source=DIR]
      [--budgets=3e10,1e11] [-- --isolation=process ...]

Runs the 3e10-FLOP runs of `make demo` (or those of --budgets; benchmarks/overhead_study.py), in
the sweep's order, one at a time, single-
threaded, through `python -m llm_jax.cli.sweep` of the checkout at --source (default: this one),
then reads the sweep directory: a run's training time is the sum of its logged intervals
(interval steps × tokens per step / tokens/s; the trainer times those without the first, compiling
step, evals and saves), so overhead = status wall_s − training time covers start-up, data,
compilation, evals and checkpoints. The compilation cache starts empty.
"""

import argparse
import json
import os
import pathlib
import subprocess
import sys
import time

HERE = pathlib.Path(__file__).resolve().parents[1]


def training_seconds(run_dir: pathlib.Path) -> float:
    rows = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines() if x]
    config = json.loads((run_dir / "config.json").read_text())
    per_step = config["data"]["batch_size"] * config["data"]["seq_len"]
    total, previous = 0.0, 1  # the first step compiles and is not timed as training
    for row in (r for r in rows if r["split"] == "train"):
        if row["tokens_per_s"] > 0:
            total += (row["step"] - previous) * per_step / row["tokens_per_s"]
        previous = row["step"]
    return total


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--workdir", required=True)
    parser.add_argument("--source", default=str(HERE))
    parser.add_argument("--budgets", default="3e10", help="comma-separated demo budgets")
    parser.add_argument("extra", nargs="*", help="more tools/sweep.py flags (after --)")
    args = parser.parse_args()
    workdir = pathlib.Path(args.workdir).absolute()
    command = [
        sys.executable, "-m", "llm_jax.cli.sweep",
        f"--config={HERE / 'benchmarks' / 'overhead_study.py'}:{args.budgets}",
        f"--workdir={workdir}",
        "--no_fit", "--workers=1", "--threads_per_run=1", *args.extra,
    ]  # fmt: skip
    # A fresh compilation cache: every program is compiled once, as in a first sweep.
    cache = workdir / "jax_compilation_cache"
    env = dict(
        os.environ,
        PYTHONPATH=args.source,
        JAX_PLATFORMS="cpu",
        JAX_COMPILATION_CACHE_DIR=str(cache),
    )
    start = time.time()
    subprocess.run(command, cwd=args.source, env=env, check=True, stdout=subprocess.DEVNULL)
    wall = time.time() - start
    rows, shapes = [], set()
    runs = workdir / "runs"
    # In the order the runs started; a run of a size an earlier run trained reuses its programs.
    for run_dir in sorted(runs.iterdir(), key=lambda d: (d / "config.json").stat().st_mtime):
        state = json.loads((workdir / "status" / f"{run_dir.name}.json").read_text())
        train = training_seconds(run_dir)
        shape = json.loads((run_dir / "run.json").read_text())["params"]["total"]
        repeat = shape in shapes
        shapes.add(shape)
        rows.append((run_dir.name, state["wall_s"], train, state["wall_s"] - train, repeat))
        note = "  (size trained before)" if repeat else ""
        print(f"{run_dir.name:40} wall {rows[-1][1]:6.1f} s  train {train:6.1f} s  "
              f"overhead {rows[-1][3]:5.1f} s{note}")  # fmt: skip
    for repeat, what in ((False, "first run of its size"), (True, "size trained before")):
        chosen = [r[3] for r in rows if r[4] == repeat]
        if chosen:
            print(f"mean per-run overhead, {what}: {sum(chosen) / len(chosen):.1f} s over "
                  f"{len(chosen)} runs")  # fmt: skip
    mean = sum(r[3] for r in rows) / len(rows)
    print(f"sweep wall {wall:.1f} s; mean per-run overhead {mean:.1f} s over {len(rows)} runs; "
          f"load average {os.getloadavg()[0]:.1f}")  # fmt: skip


if __name__ == "__main__":
    main()
