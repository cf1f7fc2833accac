"""Run (or plan) a scaling study: every run of experiments/<study>/config.py:get_sweep().

python -m llm_jax.cli.sweep --config=experiments/chinchilla_cpu/config.py --workdir=runs/cpu
    [--dry_run] [--workers=K] [--shard=i/N] [--retry_failed] [--threads_per_run=T]
    [--config.data.cache_dir=/tmp/cache ...]   (--set=data.cache_dir=... is an alias)

Rerun the same command to resume: finished runs are skipped, half-finished ones resume, failed
ones are skipped unless --retry_failed. Writes DIR/runs.csv (llm_jax.cli.fit_scaling_laws reads
it), DIR/all_runs.csv, DIR/fits.json, figures and DIR/summary.json.
Watch: tensorboard --logdir=DIR/runs
"""

import json
import sys

from absl import flags

from llm_jax.cli import errors, overrides, paths
from llm_jax.sweep import run_sweep
from llm_jax.sweep.runner import parse_shard

flags.DEFINE_string("config", None, "Study file: experiments/<study>/config.py[:arg]")
flags.DEFINE_string("workdir", None, "Sweep directory (runs/ under it)")
flags.DEFINE_bool("dry_run", False, "Print the plan with cost estimates")
flags.DEFINE_integer("workers", 1, "Train processes at a time", 1)
flags.DEFINE_string("shard", "0/1", "i/N: run only this machine's share")
flags.DEFINE_bool("retry_failed", False, "Rerun runs recorded as failed")
flags.DEFINE_integer("threads_per_run", 0, "XLA CPU threads per run (0: XLA's)", 0)
flags.DEFINE_float("assume_flops_per_s", 0.0, "Dry run: plan with this throughput, no measuring", 0)
flags.DEFINE_bool("no_fit", False, "Collect runs.csv but do not fit")
flags.mark_flags_as_required(["config", "workdir"])
FLAGS = flags.FLAGS


def _valid_shard(text: str) -> bool:
    try:
        parse_shard(text)
    except ValueError:
        return False
    return True


errors.require("shard", _valid_shard, "must be i/N with 0 <= i < N, e.g. 0/4")


def main(parsed):
    _, config_overrides = parsed
    f = FLAGS
    summary = run_sweep(
        paths.absolute_spec(f.config), paths.required("workdir", f.workdir), workers=f.workers,
        shard_spec=f.shard, retry_failed=f.retry_failed, dry_run=f.dry_run,
        threads_per_run=f.threads_per_run, fit=not f.no_fit, overrides=config_overrides,
        assume_flops_per_s=f.assume_flops_per_s,
    )  # fmt: skip
    if not f.dry_run:
        shown = {k: summary.get(k) for k in ("status", "fit", "bracketing_text")}
        print(json.dumps(shown, indent=1, default=str))
    sys.exit(1 if summary.get("failed") else 0)


def run(argv=None):
    errors.run(main, argv, flags_parser=overrides.parse)


if __name__ == "__main__":
    run()
