"""A study's spec: the named runs of get_sweep(), how they group, and how a study file loads."""

from __future__ import annotations

import dataclasses
import importlib.util

import ml_collections


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
        runs = {r.name: r for r in get_sweep(sweep_arg or None).runs}
        if name not in runs:
            raise KeyError(f"no run {name!r} in this sweep; runs: {sorted(runs)}")
        return runs[name].config

    return get_config


def load_study(path: str, arg: str | None):
    """The Sweep of experiments/<study>/config.py (path[:arg] split by the caller)."""
    spec = importlib.util.spec_from_file_location(f"study_{abs(hash(path))}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.get_sweep(arg or None)


def groups(sweep: Sweep) -> list[list[Run]]:
    """Runs grouped in sweep order; each group in its own order."""
    out: dict[str, list[Run]] = {}
    for run in sweep.runs:
        out.setdefault(run.group or run.name, []).append(run)
    return list(out.values())
