"""Sweeps: a study's runs planned (ladder, WSD cooldown branches), run and collected.

spec (Run, Sweep, study files, costs) ← ladder, cooldown ← study (assembly); store (the root's
shared files), devices (per-worker environments) ← executors ← runner (slots, shards) ← plan (the
dry run); runs (run dirs → tables) ← report (fits, checks); emit (SLURM, SkyPilot files). This
module composes them.
"""

from __future__ import annotations

from llm_jax.sweep.devices import slots
from llm_jax.sweep.emit import Job, Slurm, skypilot_files, slurm_files, write
from llm_jax.sweep.plan import print_plan
from llm_jax.sweep.report import finish
from llm_jax.sweep.runner import Options, parse_shard, run_all, shard
from llm_jax.sweep.spec import Run, Sweep, SweepError, config_getter, groups, load_study
from llm_jax.sweep.store import Status, root_path

__all__ = ["Run", "Sweep", "SweepError", "config_getter", "emit_sweep", "run_sweep"]


def run_sweep(
    config: str,
    workdir,
    *,
    workers: int = 1,
    shard_spec: str = "0/1",
    retry_failed=False,
    dry_run=False,
    collect_only=False,
    overrides=(),
    threads_per_run: int = 0,
    devices_per_run: int = 0,
    isolation: str = "worker",
    fit: bool = True,
    assume_flops_per_s: float = 0.0,
    log=print,
) -> dict:
    """Everything tools/sweep.py does: plan or run this shard, then collect and report. The fit
    happens once, in the process that sees every run: a single shard, or --collect (shards of
    N > 1 never fit, so concurrent shards never fit on part of the data)."""
    path, _, arg = config.partition(":")
    sweep = load_study(path, arg)
    root = root_path(workdir)  # local paths are absolute already (llm_jax/cli/paths.py)
    root.mkdir(parents=True, exist_ok=True)
    opts = Options(root, path, arg, tuple(overrides), retry_failed, isolation, log)
    index, count = parse_shard(shard_spec)
    selected = shard(groups(sweep), index, count)
    workers_slots = slots(workers, devices_per_run, threads_per_run)
    if dry_run:
        return print_plan(sweep, selected, opts, workers_slots, assume_flops_per_s)
    finished = collect_only or run_all(selected, opts, workers_slots)
    if count > 1 and not collect_only:
        log(f"shard {index}/{count}: not fitting; run --collect once every shard is done")
    fit = fit and (count == 1 or collect_only)
    summary = finish(sweep, root, Status(root).get, fit=fit, log=log)
    return summary | {"stopped": not finished}


def emit_sweep(kind: str, config: str, workdir, *, overrides=(), out_dir="", **options) -> list:
    """Write the SLURM (sweep.sbatch, collect.sbatch, submit.sh) or SkyPilot (a task YAML per
    shard, collect.yaml) files for a study; returns their paths. options: Slurm's fields
    (tasks 0: one array task per group) or shards/accelerators."""
    path, _, arg = config.partition(":")
    sweep = load_study(path, arg)  # the names are checked before anything is submitted
    root, study = str(workdir), sweep.study
    out_dir = out_dir or (f"{root}/{kind}" if "://" not in root else f"{study}-{kind}")
    job = Job(config, root, tuple(overrides))
    if kind == "slurm":
        slurm = Slurm(**options)
        slurm.tasks = slurm.tasks or len(groups(sweep))
        files = slurm_files(job, study, slurm, logs=f"{out_dir}/logs")
    elif kind == "skypilot":
        files = skypilot_files(job, study, options["shards"], options["accelerators"])
    else:
        raise ValueError(f"--emit={kind!r}: use slurm or skypilot")
    return write(files, out_dir)
