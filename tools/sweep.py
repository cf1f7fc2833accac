"""Run (or plan) a scaling study: every run of experiments/<study>/config.py:get_sweep().

python tools/sweep.py --config=experiments/chinchilla_cpu/config.py --workdir=runs/chinchilla_cpu
    [--dry_run] [--workers=K] [--shard=i/N] [--retry_failed] [--threads_per_run=T]
    [--set=data.cache_dir=/tmp/cache ...]

Rerun the same command to resume: finished runs are skipped, half-finished ones resume, failed
ones are skipped unless --retry_failed. Writes DIR/runs.csv (tools/fit_scaling_laws.py reads it),
DIR/all_runs.csv, DIR/fits.json, figures and DIR/summary.json. Watch: tensorboard --logdir=DIR/runs
"""

import argparse
import json
import sys

from llm_jax.sweep import run_sweep


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--config", required=True, help="experiments/<study>/config.py[:arg]")
    p.add_argument("--workdir", required=True, help="sweep directory (runs/ under it)")
    p.add_argument("--dry_run", action="store_true", help="print the plan with cost estimates")
    p.add_argument("--workers", type=int, default=1, help="train processes at a time")
    p.add_argument("--shard", default="0/1", help="i/N: run only this machine's share")
    p.add_argument("--retry_failed", action="store_true", help="rerun runs recorded as failed")
    p.add_argument("--threads_per_run", type=int, default=0, help="XLA CPU threads (0: XLA's)")
    p.add_argument("--set", action="append", default=[], help="KEY=VALUE for every run's config")
    p.add_argument("--assume_flops_per_s", type=float, default=0.0, help="dry run: no measuring")
    p.add_argument("--no_fit", action="store_true", help="collect runs.csv but do not fit")
    return p.parse_args(argv)


def main(argv=None) -> int:
    a = parse_args(argv)
    summary = run_sweep(
        a.config, a.workdir, workers=a.workers, shard_spec=a.shard, retry_failed=a.retry_failed,
        dry_run=a.dry_run, threads_per_run=a.threads_per_run, fit=not a.no_fit,
        overrides=[f"--config.{kv}" for kv in a.set], assume_flops_per_s=a.assume_flops_per_s,
    )  # fmt: skip
    if not a.dry_run:
        shown = {k: summary.get(k) for k in ("status", "fit", "bracketing_text")}
        print(json.dumps(shown, indent=1, default=str))
    return 1 if summary.get("failed") else 0


if __name__ == "__main__":
    sys.exit(main())
