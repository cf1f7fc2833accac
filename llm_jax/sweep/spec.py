"""A study's spec: the named runs of get_sweep(), how they group, what they cost, and how a
study file loads (names checked, each run's config stamped with its name, study and role)."""

from __future__ import annotations

import dataclasses
import importlib.util

import ml_collections

from llm_jax.errors import UserError
from llm_jax.model.size import train_flops_per_token


class SweepError(UserError, ValueError):
    """A sweep that cannot run as asked (run names, shard, devices); the message says the fix."""


@dataclasses.dataclass
class Run:
    name: str  # also the workdir name unless `workdir` is set
    config: ml_collections.ConfigDict  # the full config tools/train.py gets
    role: str = "main"  # main (a fit point) | seed | lr | trunk (a WSD segment)
    workdir: str = ""  # trunk segments share their trunk's workdir
    group: str = ""  # runs of one group run in order; default: the run alone
    info: dict = dataclasses.field(default_factory=dict)  # extra runs.csv columns (budget, ...)
    # A WSD branch: (trunk workdir name, step). The runner turns it into train.init_from, since
    # only it knows where DIR is.
    branch_of: tuple | None = None

    @property
    def dir_name(self) -> str:
        return self.workdir or self.name


@dataclasses.dataclass
class Sweep:
    study: str
    runs: list[Run]
    convention: str = "6N"  # FLOPs convention of the design (the runs.csv `flops` column)
    bootstrap: int = 200  # resamples for the fit's intervals
    ladder_params: tuple = ()  # every size the study could use, for the bracketing advice


def config_getter(get_sweep):
    """get_config(arg) for a study file, so tools/train.py can run one run by name:
    --config=experiments/<study>/config.py:[SWEEP_ARG/]RUN_NAME."""

    def get_config(arg: str):
        sweep_arg, _, name = arg.rpartition("/")
        runs = {r.name: r for r in finalize(get_sweep(sweep_arg or None)).runs}
        if name not in runs:
            raise KeyError(f"no run {name!r} in this sweep; runs: {sorted(runs)}")
        return runs[name].config

    return get_config


def load_study(path: str, arg: str | None):
    """The Sweep of experiments/<study>/config.py (path[:arg] split by the caller)."""
    spec = importlib.util.spec_from_file_location(f"study_{abs(hash(path))}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return finalize(module.get_sweep(arg or None))


def name_problem(name: str) -> str:
    """Why `name` cannot name a run's files ('' when it can)."""
    if not name:
        return "empty"
    if "/" in name or "\\" in name or name.startswith(".") or not name.isprintable():
        return "no '/', '\\', leading '.' (as in '..') or control characters: it names files"
    if any(c.isspace() for c in name):
        return "no whitespace: it names files and goes on command lines"
    return ""


def bad_names(sweep: Sweep) -> list[str]:
    """Each offending study or run name, with why: see name_problem; a name used twice."""
    problems = [f"study {sweep.study!r}: {why}" for why in [name_problem(sweep.study)] if why]
    seen = set()
    for run in sweep.runs:
        for name in dict.fromkeys((run.name, run.dir_name)):
            if why := name_problem(name):
                problems.append(f"{name!r}: {why}")
        if run.name in seen:
            problems.append(f"{run.name!r}: used by more than one run")
        seen.add(run.name)
    return problems


def finalize(sweep: Sweep) -> Sweep:
    """Check the names before anything runs; stamp each config's log.{name, study, role,
    budget}, so every tracker names and describes the run the way the sweep does."""
    problems = bad_names(sweep)
    if problems:
        raise SweepError(
            f"study {sweep.study!r}: bad run names: {'; '.join(problems)}; rename them in its "
            "get_sweep() (nothing has run)"
        )
    for run in sweep.runs:
        run.config.log.update(
            name=run.dir_name,  # trunk segments share their trunk's directory and trial
            study=sweep.study,
            role=run.role,
            budget=float(run.info.get("budget", 0.0)),
        )
    return sweep


def groups(sweep: Sweep) -> list[list[Run]]:
    """Runs grouped in sweep order; each group in its own order."""
    out: dict[str, list[Run]] = {}
    for run in sweep.runs:
        out.setdefault(run.group or run.name, []).append(run)
    return list(out.values())


def own_steps(run: Run) -> int:
    """Steps this run itself trains (a branch or trunk segment starts past step 0)."""
    return run.config.train.steps - run.info.get("start_step", 0)


def flops_per_token(run: Run) -> int:
    """FLOPs/token the trainer counts (6N + attention); vocab_size 0 resolves to the byte vocab."""
    cfg = run.config.model.copy_and_resolve_references()
    cfg.vocab_size = cfg.vocab_size or 320
    return train_flops_per_token(cfg, run.config.data.seq_len)


def cost(runs: list[Run]) -> float:
    """Training FLOPs of a group's own steps: what shards and workers balance."""
    return float(
        sum(
            own_steps(r) * r.config.data.batch_size * r.config.data.seq_len * flops_per_token(r)
            for r in runs
        )
    )
