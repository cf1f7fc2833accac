"""Files that run a sweep on many machines: a SLURM job array, or SkyPilot managed jobs.

Both run shards of `python -m llm_jax.cli.sweep --shard=i/N --no_fit` (groups dealt by cost:
llm_jax.sweep.runner.shard) on one shared root, then one collect step that fits. A shard exits
0 when its runs are settled, failed ones included (they are recorded; the collect step reports
them), so "every shard succeeded" means "every run was attempted". A preempted or requeued shard
reruns the same command: finished runs are skipped, the interrupted one resumes.
"""

from __future__ import annotations

import dataclasses
import os
import shlex
import sys

import yaml

from llm_jax.sweep.spec import SweepError

SETTLED = "|| [ $? -eq 1 ]"  # exit 1: some runs failed and are recorded; not a shard failure


@dataclasses.dataclass
class Job:
    """What every shard runs: the study file[:arg], the shared root, per-run overrides."""

    config: str
    root: str
    overrides: tuple = ()
    python: str = sys.executable
    cwd: str = dataclasses.field(default_factory=os.getcwd)

    def sweep(self, *flags: str) -> str:
        command = [self.python, "-m", "llm_jax.cli.sweep", f"--config={self.config}"]
        return shlex.join([*command, f"--workdir={self.root}", *self.overrides, *flags])


@dataclasses.dataclass
class Slurm:
    tasks: int = 0  # array tasks, each one shard (0: one per group)
    max_parallel: int = 0  # the array's %K throttle (0: none)
    partition: str = ""
    gpus_per_run: int = 0
    cpus_per_run: int = 1
    time_limit: str = ""  # e.g. 04:00:00
    extra: tuple = ()  # more #SBATCH options, e.g. --account=abc


def directive(option: str) -> str:
    """One `#SBATCH` line. sbatch reads these itself, splitting on whitespace with no shell
    quoting, so an option that would split, carry quotes or end the line is refused; every
    shell line of the scripts is shlex-quoted instead."""
    if not option or any(c.isspace() or c in "\"'\\" or not c.isprintable() for c in option):
        raise SweepError(
            f"#SBATCH {option!r}: an sbatch option must be one word without whitespace or "
            "quotes (a path with a space: give --emit_dir without one)"
        )
    return f"#SBATCH {option}"


def _header(name: str, log: str, slurm: Slurm) -> list[str]:
    options = [f"--job-name={name}", f"--output={log}", f"--cpus-per-task={slurm.cpus_per_run}"]
    options += [f"--partition={slurm.partition}"] if slurm.partition else []
    options += [f"--time={slurm.time_limit}"] if slurm.time_limit else []
    return ["#!/bin/bash", *(directive(option) for option in [*options, *slurm.extra])]


def slurm_files(job: Job, study: str, slurm: Slurm, logs: str) -> dict[str, str]:
    """sweep.sbatch (the array), collect.sbatch (the fit) and submit.sh (both, chained)."""
    throttle = f"%{slurm.max_parallel}" if slurm.max_parallel else ""
    array = _header(study, f"{logs}/%A_%a.out", slurm) + [
        directive(f"--array=0-{slurm.tasks - 1}{throttle}"),
        directive("--requeue"),
        directive("--open-mode=append"),
    ]
    array += [directive(f"--gres=gpu:{slurm.gpus_per_run}")] if slurm.gpus_per_run else []
    devices = [f"--devices_per_run={slurm.gpus_per_run}"] if slurm.gpus_per_run else []
    shard = f"--shard=${{SLURM_ARRAY_TASK_ID}}/{slurm.tasks}"  # unquoted: bash expands it
    array += [
        "# One shard (groups dealt by cost) per task. Preempted or requeued, a task reruns",
        "# this line: finished runs are skipped, the interrupted one resumes.",
        f"cd {shlex.quote(job.cwd)}",
        f"{job.sweep('--no_fit', *devices)} {shard} {SETTLED}",
    ]
    collect = _header(f"{study}-collect", f"{logs}/collect_%j.out", slurm)
    collect += [f"cd {shlex.quote(job.cwd)}", job.sweep("--collect")]
    submit = [
        "#!/bin/bash",
        "# The array job, then the collect-and-fit job once every array task has succeeded.",
        "set -euo pipefail",
        'here="$(cd "$(dirname "$0")" && pwd)"',
        f"mkdir -p {shlex.quote(logs)}",
        'array=$(sbatch --parsable "$here/sweep.sbatch")',
        'collect=$(sbatch --parsable --dependency=afterok:"${array%%;*}" "$here/collect.sbatch")',
        'echo "array job ${array%%;*}, collect job ${collect%%;*}"',
    ]
    return {
        "sweep.sbatch": "\n".join(array) + "\n",
        "collect.sbatch": "\n".join(collect) + "\n",
        "submit.sh": "\n".join(submit) + "\n",
    }


def skypilot_files(job: Job, study: str, shards: int, accelerators: str) -> dict[str, str]:
    """One managed-job task YAML per shard (spot, recovered on preemption), plus collect.yaml.
    `sky jobs launch` syncs the current directory (the checkout) as the task's workdir."""
    if "://" not in job.root:
        raise SweepError(
            f"--workdir={job.root}: SkyPilot shards run on machines that share nothing but a "
            "bucket; use a gs:// (or s3://) root"
        )
    jax = "jax[tpu]" if accelerators.startswith("tpu") else "jax[cuda12]"
    setup = f"pip install -U pip && pip install -e '.[gcs]' '{jax}'"
    remote = dataclasses.replace(job, python="python", cwd=".")
    files = {}
    for i in range(shards):
        task = {
            "name": f"{study}-{i}-of-{shards}",
            "workdir": ".",
            "resources": {
                "accelerators": accelerators,
                "use_spot": True,
                "job_recovery": {"strategy": "EAGER_NEXT_REGION", "max_restarts_on_errors": 2},
            },
            "setup": setup,
            "run": f"{remote.sweep(f'--shard={i}/{shards}', '--no_fit')} {SETTLED}\n",
        }
        files[f"shard-{i}-of-{shards}.yaml"] = yaml.safe_dump(task, sort_keys=False)
    collect = {
        "name": f"{study}-collect",
        "workdir": ".",
        "resources": {"cpus": "4+"},
        "setup": "pip install -U pip && pip install -e '.[gcs]'",
        "run": remote.sweep("--collect") + "\n",
    }
    files["collect.yaml"] = yaml.safe_dump(collect, sort_keys=False)
    return files


def write(files: dict[str, str], directory) -> list[str]:
    """The files into a local directory (scripts must be local to sbatch/sky); their paths."""
    os.makedirs(directory, exist_ok=True)
    paths = []
    for name, text in files.items():
        path = os.path.join(directory, name)
        with open(path, "w") as f:
            f.write(text)
        if name.endswith(".sh"):
            os.chmod(path, 0o755)
        paths.append(path)
    return paths
