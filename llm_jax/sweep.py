"""Sweeps: a study's get_sweep() expanded into named runs, each a tools/train.py process.

Resumable and coordinator-free: every run's state lives in its workdir (DIR/runs/<name>/, so
`tensorboard --logdir=DIR/runs` shows them side by side) and in DIR/status/<name>.json. A finished
run is skipped, a half-finished one resumes from its checkpoint (the trainer does that), a failed
one is recorded and skipped until --retry_failed. Runs of one group (a WSD trunk's segments and
its branches) run in order on one worker; groups are what --shard=i/N splits and --workers=K runs
in parallel, so N machines sharing a workdir need no coordinator.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import hashlib
import importlib.util
import json
import os
import pathlib
import subprocess
import sys
import time

import ml_collections

TRAIN_CLI = pathlib.Path(__file__).resolve().parents[1] / "tools" / "train.py"


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


def parse_shard(text: str) -> tuple[int, int]:
    """'i/N' → (i, N) with 0 ≤ i < N."""
    i, _, n = text.partition("/")
    if not (i.isdigit() and n.isdigit() and 0 <= int(i) < int(n)):
        raise ValueError(f"--shard={text!r} must be i/N with 0 <= i < N, e.g. 0/4")
    return int(i), int(n)


def shard(all_groups: list, index: int, count: int) -> list:
    """Every count-th group starting at index: disjoint over indices, complete together."""
    return all_groups[index::count]


class Status:
    """DIR/status/<run>.json: done | failed | running, with error tail, wall time, attempts."""

    def __init__(self, root: pathlib.Path):
        self.root = root / "status"
        self.root.mkdir(parents=True, exist_ok=True)

    def get(self, name: str) -> dict:
        path = self.root / f"{name}.json"
        return json.loads(path.read_text()) if path.exists() else {"status": "planned"}

    def set(self, name: str, **fields) -> None:
        state = self.get(name) | fields
        tmp = self.root / f".{name}.json.tmp"
        tmp.write_text(json.dumps(state, indent=1))
        tmp.replace(self.root / f"{name}.json")  # atomic: a killed sweep never leaves half a file


@dataclasses.dataclass
class Options:
    root: pathlib.Path
    config_path: str
    arg: str
    overrides: tuple = ()  # extra --config.key=value flags for every run (e.g. cache dir)
    retry_failed: bool = False
    threads_per_run: int = 0  # >0: XLA CPU threads per run (several workers on few cores)
    log: object = print


def command(run: Run, opts: Options) -> list[str]:
    """The exact tools/train.py command line of a run (printed by the dry run, too)."""
    arg = f"{opts.arg}/{run.name}" if opts.arg else run.name
    return [
        sys.executable,
        str(TRAIN_CLI),
        f"--config={opts.config_path}:{arg}",
        f"--workdir={opts.root / 'runs' / run.dir_name}",
        *opts.overrides,
    ] + (
        [f"--config.train.init_from={opts.root / 'runs' / run.branch_of[0]}:{run.branch_of[1]}"]
        if run.branch_of
        else []
    )


def child_env(threads: int) -> dict:
    env = dict(os.environ)
    if threads > 0:  # one-thread XLA CPU runs side by side beat one multi-threaded run
        flags = f"--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads={threads}"
        env["XLA_FLAGS"] = f"{env.get('XLA_FLAGS', '')} {flags}".strip()
    return env


def fingerprint(run: Run) -> str:
    """Hash of a run's config: a finished run whose study config changed since is reported."""
    text = json.dumps(run.config.to_dict(), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def execute(run: Run, opts: Options, status: Status) -> bool:
    """Run (or resume) one run to completion; record done/failed; never raises on failure."""
    previous = status.get(run.name)
    attempts = previous.get("attempts", 0) + 1
    status.set(run.name, status="running", attempts=attempts, config_hash=fingerprint(run))
    log_path = opts.root / "logs" / f"{run.name}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    start = time.time()
    with log_path.open("a") as log_file:
        result = subprocess.run(
            command(run, opts),
            stdout=log_file,
            stderr=subprocess.STDOUT,
            env=child_env(opts.threads_per_run),
        )
    wall = previous.get("wall_s", 0.0) + time.time() - start
    if result.returncode == 0:
        status.set(run.name, status="done", wall_s=wall, error="")
        opts.log(f"done    {run.name} ({time.time() - start:.0f} s)")
        return True
    tail = log_path.read_text().strip().splitlines()[-15:]
    error = f"exit {result.returncode}: " + "\n".join(tail)
    status.set(run.name, status="failed", wall_s=wall, error=error)
    opts.log(f"FAILED  {run.name}: {tail[-1] if tail else result.returncode} (log: {log_path})")
    return False


def run_group(runs: list[Run], opts: Options) -> None:
    """Runs in order; after a failure the rest of the group (its dependants) is marked failed."""
    status = Status(opts.root)
    blocked = ""
    for run in runs:
        recorded = status.get(run.name)
        state = recorded["status"]
        if state == "done" and recorded.get("config_hash") not in (None, fingerprint(run)):
            opts.log(
                f"WARNING {run.name}: its config changed since it ran; kept (delete "
                f"{opts.root}/status/{run.name}.json and its runs/ directory to rerun)"
            )
        if state == "done" or (state == "failed" and not opts.retry_failed):
            blocked = blocked or (run.name if state == "failed" else "")
            continue
        if blocked:
            status.set(run.name, status="failed", error=f"not run: {blocked} failed")
            continue
        if not execute(run, opts, status):
            blocked = run.name


def run_all(selected: list[list[Run]], opts: Options, workers: int = 1) -> None:
    """Run groups on `workers` threads, each driving one train process at a time."""
    if workers <= 1:
        for group in selected:
            run_group(group, opts)
        return
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        for future in [pool.submit(run_group, g, opts) for g in selected]:
            future.result()


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
        from llm_jax.sweep_plan import print_plan

        return print_plan(sweep, selected, opts, workers, assume_flops_per_s)
    run_all(selected, opts, workers)
    from llm_jax.scaling.report import finish

    return finish(sweep, root, Status(root).get, fit=fit, log=log)
