"""Sweeps: a study's runs planned (ladder, WSD cooldown branches), run and collected.

spec (Run, Sweep, study files) ← ladder, cooldown ← study (assembly); runner (one process per run)
← plan (the dry run); runs (run dirs → tables) ← report (fits, checks). This module composes them.
"""

from __future__ import annotations

import pathlib

from llm_jax.sweep.plan import print_plan
from llm_jax.sweep.report import finish
from llm_jax.sweep.runner import Options, Status, parse_shard, run_all, shard
from llm_jax.sweep.spec import Run, Sweep, config_getter, groups, load_study

__all__ = ["Run", "Sweep", "config_getter", "run_sweep"]


def run_sweep(
    config: str,
    workdir,
    *,
    workers: int = 1,
    shard_spec: str = "0/1",
    retry_failed=False,
    dry_run=False,
    overrides=(),
    threads_per_run: int = 0,
    fit: bool = True,
    assume_flops_per_s: float = 0.0,
    log=print,
) -> dict:
    """Everything tools/sweep.py does: plan or run this shard, then collect, fit and report."""
    path, _, arg = config.partition(":")
    sweep = load_study(path, arg)
    root = pathlib.Path(workdir).absolute()  # Orbax needs absolute checkpoint paths
    root.mkdir(parents=True, exist_ok=True)
    opts = Options(root, path, arg, tuple(overrides), retry_failed, threads_per_run, log)
    selected = shard(groups(sweep), *parse_shard(shard_spec))
    if dry_run:
        return print_plan(sweep, selected, opts, workers, assume_flops_per_s)
    run_all(selected, opts, workers)
    return finish(sweep, root, Status(root).get, fit=fit, log=log)
