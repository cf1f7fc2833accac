"""The dry run: a sweep's plan with FLOPs, tokens and wall time estimated from a measured
throughput (a short real training run of the smallest and the largest model, cached; side by side
on the sweep's slots, so they share the machine as the sweep's runs will)."""

from __future__ import annotations

import concurrent.futures
import itertools
import json
import math
import subprocess
import time

import numpy as np

from llm_jax.sweep.devices import child_env, pin
from llm_jax.sweep.runner import command
from llm_jax.sweep.spec import flops_per_token, own_steps
from llm_jax.sweep.store import Status, write_atomic

MEASURE_STEPS = 30


def measure(run, opts, slot) -> dict:
    """tokens/s and start-up seconds of `run`'s model, from MEASURE_STEPS real steps."""
    cache = opts.root / "throughput" / f"{run.name}.json"
    if cache.exists():
        return json.loads(cache.read_text())
    workdir = opts.root / "throughput" / run.name
    cmd = command(run, opts)
    cmd = [c for c in cmd if not c.startswith("--workdir=")] + [
        f"--workdir={workdir}",
        f"--config.train.steps={MEASURE_STEPS}",
        "--config.train.warmup_steps=1",
        "--config.train.init_from=",
        "--config.log.every_steps=1",
        "--config.checkpoint.every_steps=1000000",
        "--config.eval.schedule=every",
        f"--config.eval.every_steps={MEASURE_STEPS}",
    ]
    start = time.time()
    child = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=child_env(slot)
    )
    pin(slot, child.pid)
    _, stderr = child.communicate()
    if child.returncode:
        raise RuntimeError(f"throughput run failed: {' '.join(cmd)}\n{stderr[-2000:]}")
    end = time.time()
    wall = end - start
    rows = [json.loads(x) for x in (workdir / "metrics.jsonl").read_text().splitlines()]
    # the median step: the first rows hold warm-up, any single row the host's jitter
    rate = float(np.median([r["tokens_per_s"] for r in rows if r["split"] == "train"][2:]))
    tokens = MEASURE_STEPS * run.config.data.batch_size * run.config.data.seq_len
    result = {
        "tokens_per_s": rate,
        "flops_per_token": flops_per_token(run),
        "startup_s": max(0.0, wall - tokens / rate),
        "measured": [start, end],
    }
    cache.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(cache, json.dumps(result))
    return result


def rate_model(samples: list[dict]):
    """FLOP/s as a function of FLOPs/token: linear in log FLOPs/token between the samples."""
    pts = sorted(
        (math.log(s["flops_per_token"]), s["tokens_per_s"] * s["flops_per_token"]) for s in samples
    )

    def flops_per_s(fpt: float) -> float:
        x = math.log(fpt)
        if len(pts) == 1 or x <= pts[0][0]:
            return pts[0][1]
        if x >= pts[-1][0]:
            return pts[-1][1]
        (x0, y0), (x1, y1) = pts
        return y0 + (y1 - y0) * (x - x0) / (x1 - x0)

    return flops_per_s


def assumed(flops_per_s: float, run) -> dict:
    """A throughput given by hand (planning for a machine one does not have), 60 s start-up."""
    fpt = flops_per_token(run)
    return {"tokens_per_s": flops_per_s / fpt, "flops_per_token": fpt, "startup_s": 60.0}


def print_plan(sweep, selected, opts, slots: list, assume_flops_per_s: float = 0.0) -> dict:
    """Print one line per run and the totals; returns them."""
    workers = len(slots)
    runs = [r for g in selected for r in g]
    ends = sorted({min(runs, key=flops_per_token).name, max(runs, key=flops_per_token).name})
    if assume_flops_per_s:
        samples = [assumed(assume_flops_per_s, r) for r in runs if r.name in ends]
    else:
        ends_runs = [r for r in runs if r.name in ends]
        jobs = zip(ends_runs, itertools.cycle(slots), strict=False)  # at once, as the sweep's runs
        with concurrent.futures.ThreadPoolExecutor(len(slots)) as pool:
            samples = list(pool.map(lambda job: measure(job[0], opts, job[1]), jobs))
    flops_per_s = rate_model(samples)
    startup = sum(s["startup_s"] for s in samples) / len(samples)
    status, total = Status(opts.root), {"flops": 0.0, "tokens": 0, "seconds": 0.0, "runs": 0}
    opts.log(f"{'run':58} {'role':5} {'params':>8} {'tokens':>9} {'FLOPs':>9} {'est s':>6} status")
    for run in runs:
        fpt = flops_per_token(run)
        tokens = own_steps(run) * run.config.data.batch_size * run.config.data.seq_len
        seconds = startup + tokens * fpt / flops_per_s(fpt)
        state = status.get(run.name)["status"]
        opts.log(
            f"{run.name:58} {run.role:5} {run.info.get('params', 0):8.3g} {tokens:9.3g} "
            f"{tokens * fpt:9.3g} {seconds:6.0f} {state}"
        )
        if state != "done":
            total = {
                "flops": total["flops"] + tokens * fpt,
                "tokens": total["tokens"] + tokens,
                "seconds": total["seconds"] + seconds,
                "runs": total["runs"] + 1,
            }
    total["wall_s_estimate"] = total["seconds"] / max(1, min(workers, len(selected)))
    opts.log(
        f"to run: {total['runs']} runs, {total['tokens']:.3g} tokens, {total['flops']:.3g} "
        f"FLOPs (6N+attention), ~{total['seconds'] / 60:.1f} min of one worker, "
        f"~{total['wall_s_estimate'] / 60:.1f} min with {workers} worker(s); throughput "
        + ", ".join(
            f"{s['tokens_per_s']:.0f} tok/s at {s['flops_per_token']:.3g} FLOP/tok" for s in samples
        )
        + f", start-up {startup:.0f} s/run"
    )
    opts.log("first command: " + " ".join(command(runs[0], opts)) if runs else "no runs")
    return total
