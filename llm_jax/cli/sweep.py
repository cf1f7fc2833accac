"""Run (or plan) a scaling study: every run of experiments/<study>/config.py:get_sweep().

python -m llm_jax.cli.sweep --config=experiments/chinchilla_cpu/config.py --workdir=runs/cpu
    [--dry_run] [--workers=K] [--devices_per_run=D] [--shard=i/N --no_fit] [--collect]
    [--retry_failed] [--isolation=worker|process] [--threads_per_run=T]
    [--config.data.cache_dir=/tmp/cache ...]   (--set=data.cache_dir=... is an alias)
python -m llm_jax.cli.sweep ... --emit=slurm [--partition=P --gpus_per_run=G --max_parallel=K]
python -m llm_jax.cli.sweep ... --workdir=gs://B/DIR --emit=skypilot --shards=N --accelerators=A

Rerun the same command to resume: finished runs are skipped, half-finished and interrupted ones
resume, failed ones are listed and skipped unless --retry_failed, runs a live process owns are
left to it. --workdir may be local, NFS or gs://. Writes DIR/runs.csv
(llm_jax.cli.fit_scaling_laws reads it), DIR/all_runs.csv, DIR/fits.json, figures and
DIR/summary.json; shards of N > 1 never fit: --collect does, once. Exit status: 0 all done,
1 some runs failed, 2 bad input (one line `error: …`, before anything starts), 143 stopped by
SIGTERM/SIGINT (rerun to resume).
Watch: tensorboard --logdir=DIR/runs
"""

import json
import os
import shlex
import sys

from absl import flags

from llm_jax.cli import errors, host, overrides, paths
from llm_jax.sweep import emit_sweep, run_sweep
from llm_jax.sweep.runner import parse_shard

flags.DEFINE_string("config", None, "Study file: experiments/<study>/config.py[:arg]")
flags.DEFINE_string("workdir", None, "Sweep root (runs/ under it): a path, or gs://...")
flags.DEFINE_bool("dry_run", False, "Print the plan with cost estimates")
flags.DEFINE_integer("workers", 1, "Runs at a time on this machine", 1)
flags.DEFINE_integer("devices_per_run", 0, "GPUs / TPU chips / CPU cores each worker owns", 0)
flags.DEFINE_enum("isolation", "worker", ["worker", "process"], "One process per worker or run")
flags.DEFINE_string("shard", "0/1", "i/N: run only this machine's share (dealt by cost)")
flags.DEFINE_bool("collect", False, "Run nothing: collect every run, write the tables, fit")
flags.DEFINE_bool("retry_failed", False, "Rerun runs recorded as failed")
flags.DEFINE_integer("threads_per_run", 0, "XLA CPU threads per run (0: XLA's)", 0)
flags.DEFINE_float("assume_flops_per_s", 0.0, "Dry run: plan with this throughput, no measuring", 0)
flags.DEFINE_bool("no_fit", False, "Collect runs.csv but do not fit")
flags.DEFINE_enum("emit", "", ["", "slurm", "skypilot"], "Write job files instead of running")
flags.DEFINE_string("emit_dir", "", "Where --emit writes (default: DIR/<emit>)")
flags.DEFINE_integer("array_tasks", 0, "slurm: array tasks (0: one per group)")
flags.DEFINE_integer("max_parallel", 0, "slurm: array tasks at a time (the %K throttle)")
flags.DEFINE_string("partition", "", "slurm: partition")
flags.DEFINE_integer("gpus_per_run", 0, "slurm: GPUs per array task")
flags.DEFINE_integer("cpus_per_run", 1, "slurm: CPUs per array task")
flags.DEFINE_string("time_limit", "", "slurm: --time of each task, e.g. 04:00:00")
flags.DEFINE_multi_string("sbatch", [], "slurm: extra #SBATCH option, e.g. --account=abc")
flags.DEFINE_integer("shards", 1, "skypilot: managed jobs (shards)")
flags.DEFINE_string("accelerators", "H100:1", "skypilot: accelerators, e.g. A100:1, tpu-v5e-8")
flags.mark_flags_as_required(["config", "workdir"])
FLAGS = flags.FLAGS


def emit(f, config_overrides) -> None:
    slurm = dict(
        tasks=f.array_tasks, max_parallel=f.max_parallel, partition=f.partition,
        gpus_per_run=f.gpus_per_run, cpus_per_run=f.cpus_per_run, time_limit=f.time_limit,
        extra=tuple(f.sbatch),
    )  # fmt: skip
    options = slurm if f.emit == "slurm" else dict(shards=f.shards, accelerators=f.accelerators)
    written = emit_sweep(
        f.emit, paths.absolute_spec(f.config), paths.required("workdir", f.workdir),
        overrides=config_overrides,
        out_dir=paths.absolute(f.emit_dir), **options,
    )  # fmt: skip
    print("wrote\n  " + "\n  ".join(written))
    first = (
        ["bash", written[-1]] if f.emit == "slurm" else ["sky", "jobs", "launch", "-y", written[0]]
    )
    print(f"submit: {shlex.join(first)}")


def invocation() -> list[str]:
    """How this tool was started: python -m MODULE, python tools/sweep.py, or llm-jax-sweep."""
    spec = getattr(sys.modules["__main__"], "__spec__", None)
    if spec is not None:
        return [sys.executable, "-m", spec.name]
    return [sys.executable, sys.argv[0]] if sys.argv[0].endswith(".py") else sys.argv[:1]


def report(summary: dict) -> int:
    shown = {k: summary.get(k) for k in ("status", "fit", "bracketing_text")}
    print(json.dumps(shown, indent=1, default=str))
    failed, logs = summary.get("failed", {}), summary.get("failed_logs", {})
    for name, error in failed.items():
        last = error.strip().splitlines()[-1] if error.strip() else ""
        print(f"FAILED {name}: {last} (log: {logs.get(name, 'none: it never started')})")
    if failed:
        again = [a for a in sys.argv[1:] if a not in ("--retry_failed", "--noretry_failed")]
        retry = shlex.join([*invocation(), *again, "--retry_failed"])
        print(f"{len(failed)} run(s) failed; reruns skip them. Retry them: {retry}")
    if summary.get("stopped"):
        print("stopped by a signal: rerun the same command to resume")
        return 143
    return 1 if failed else 0


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
    if f.emit:
        return emit(f, config_overrides)
    # Children inherit glibc's malloc tunable (llm_jax/cli/host.py): a long-lived worker gets it
    # without re-executing, and a train child need not re-execute itself for it.
    os.environ.update(host.host_env(dict(os.environ)))
    summary = run_sweep(
        paths.absolute_spec(f.config), paths.required("workdir", f.workdir), workers=f.workers,
        shard_spec=f.shard, retry_failed=f.retry_failed, dry_run=f.dry_run,
        collect_only=f.collect, threads_per_run=f.threads_per_run,
        devices_per_run=f.devices_per_run, isolation=f.isolation, fit=not f.no_fit,
        overrides=config_overrides,
        assume_flops_per_s=f.assume_flops_per_s,
    )  # fmt: skip
    sys.exit(0 if f.dry_run else report(summary))


def run(argv=None):
    errors.run(main, argv, flags_parser=overrides.parse)


if __name__ == "__main__":
    run()
