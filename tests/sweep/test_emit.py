"""--emit=slurm and --emit=skypilot write the files a cluster runs; their content, parsed."""

import os
import shlex
import subprocess
import sys

import pytest
import yaml

from llm_jax.sweep import SweepError, emit_sweep
from tests.sweep.helpers import STUDY
from tests.train.cli import ROOT, cli_env


def read(path) -> str:
    with open(path) as f:
        return f.read()


def sbatch_options(text: str) -> dict:
    options = {}
    for line in text.splitlines():
        if line.startswith("#SBATCH "):
            key, _, value = line.removeprefix("#SBATCH ").strip().partition("=")
            options[key] = value
    return options


def test_slurm_array_has_one_task_per_group_a_throttle_and_a_dependent_collect(tmp_path):
    paths = emit_sweep(
        "slurm", STUDY, str(tmp_path / "root"), overrides=("--config.data.cache_dir=/c",),
        max_parallel=2, partition="gpu", gpus_per_run=2, cpus_per_run=4, time_limit="01:00:00",
        extra=("--account=lab",),
    )  # fmt: skip
    files = {p.rsplit("/", 1)[1]: read(p) for p in paths}
    array, collect, submit = files["sweep.sbatch"], files["collect.sbatch"], files["submit.sh"]
    options = sbatch_options(array)
    assert options["--array"] == "0-2%2"  # the tiny study has 3 groups
    assert options["--partition"] == "gpu" and options["--gres"] == "gpu:2"
    assert options["--cpus-per-task"] == "4" and options["--time"] == "01:00:00"
    assert "--requeue" in options and options["--account"] == "lab"
    command = shlex.split(array.strip().splitlines()[-1].split(" || ")[0])
    assert command[1:3] == ["-m", "llm_jax.cli.sweep"]
    assert "--shard=${SLURM_ARRAY_TASK_ID}/3" in command and "--no_fit" in command
    assert "--devices_per_run=2" in command and "--config.data.cache_dir=/c" in command
    assert array.rstrip().endswith("|| [ $? -eq 1 ]")  # recorded failures do not fail a task
    assert f"--workdir={tmp_path / 'root'}" in command
    last = shlex.split(collect.strip().splitlines()[-1])
    assert "--collect" in last and "--no_fit" not in last and "--array" not in collect
    assert "--dependency=afterok:" in submit and "sweep.sbatch" in submit
    subprocess.run(["bash", "-n", paths[-1]], check=True)  # valid bash
    for script in paths[:2]:
        subprocess.run(["bash", "-n", script], check=True)


def test_slurm_array_tasks_can_be_fewer_than_groups(tmp_path):
    (array, *_) = emit_sweep("slurm", STUDY, str(tmp_path), tasks=2)
    assert sbatch_options(read(array))["--array"] == "0-1"
    assert "--shard=${SLURM_ARRAY_TASK_ID}/2" in read(array)


def test_skypilot_yaml_per_shard_on_spot_with_recovery(tmp_path):
    paths = emit_sweep(
        "skypilot", STUDY, "gs://bucket/sweep", out_dir=str(tmp_path), shards=3,
        accelerators="tpu-v5e-8",
    )  # fmt: skip
    tasks = {p.rsplit("/", 1)[1]: yaml.safe_load(read(p)) for p in paths}
    assert set(tasks) == {f"shard-{i}-of-3.yaml" for i in range(3)} | {"collect.yaml"}
    for i in range(3):
        task = tasks[f"shard-{i}-of-3.yaml"]
        resources = task["resources"]
        assert resources["accelerators"] == "tpu-v5e-8" and resources["use_spot"] is True
        assert resources["job_recovery"]["max_restarts_on_errors"] >= 1
        assert task["workdir"] == "."
        assert "jax[tpu]" in task["setup"] and ".[gcs]" in task["setup"]
        run = shlex.split(task["run"].split(" || ")[0])
        assert run[:3] == ["python", "-m", "llm_jax.cli.sweep"]
        assert f"--shard={i}/3" in run and "--no_fit" in run
        assert "--workdir=gs://bucket/sweep" in run and f"--config={STUDY}" in run
    collect = shlex.split(tasks["collect.yaml"]["run"])
    assert "--collect" in collect and "--workdir=gs://bucket/sweep" in collect
    gpu = emit_sweep("skypilot", STUDY, "gs://b/s", out_dir=str(tmp_path / "g"), shards=1,
                     accelerators="H100:8")  # fmt: skip
    assert "jax[cuda12]" in yaml.safe_load(read(gpu[0]))["setup"]


def test_skypilot_needs_a_bucket_root(tmp_path):
    with pytest.raises(ValueError, match="gs://"):
        emit_sweep("skypilot", STUDY, str(tmp_path), shards=2, accelerators="H100:1")


def test_the_cli_writes_and_names_the_submit_command(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "llm_jax.cli.sweep", f"--config={STUDY}",
         f"--workdir={tmp_path}", "--emit=slurm", "--max_parallel=1"],
        cwd=ROOT, capture_output=True, text=True, env=cli_env(), timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"submit: bash {tmp_path}/slurm/submit.sh" in done.stdout
    assert (tmp_path / "slurm" / "sweep.sbatch").exists()


# What a shell must not split or run: a command separator, substitutions, quotes, globs.
HOSTILE = "a b; touch {marker}; $(touch {marker}) `touch {marker}` 'q' \"d\" ~ *"


def fake_python(directory, record):
    """A `python` that records its arguments, one per line, and runs nothing."""
    path = directory / "python"
    path.write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" > {shlex.quote(str(record))}\n')
    path.chmod(0o755)
    return path


def test_strings_reach_the_shell_whole_and_run_nothing(tmp_path):
    """Study file, root, overrides and directory with spaces, `;`, $(), backticks and quotes:
    the SLURM scripts and SkyPilot run lines, run by bash, pass each as one argument."""
    from llm_jax.sweep.emit import Job, Slurm, skypilot_files, slurm_files

    marker = tmp_path / "ran"
    hostile = HOSTILE.format(marker=marker)
    cwd = tmp_path / hostile.replace("/", "_")
    cwd.mkdir()
    record = tmp_path / "argv"
    python = fake_python(tmp_path, record)
    config, override = f"{cwd}/study.py:{hostile}", f"--config.data.corpus={hostile}"
    job = Job(config, f"gs://b/{hostile}", (override,), python=str(python), cwd=str(cwd))
    expected = ["-m", "llm_jax.cli.sweep", f"--config={config}", f"--workdir=gs://b/{hostile}"]
    expected.append(override)
    slurm = slurm_files(job, "tiny", Slurm(tasks=2), logs=str(tmp_path / "logs"))
    shell = dict(os.environ, SLURM_ARRAY_TASK_ID="1", PATH=f"{tmp_path}:{os.environ['PATH']}")
    sky = skypilot_files(job, "tiny", 2, "H100:1")
    runs = [
        (["bash", "-c", slurm["sweep.sbatch"]], ["--no_fit", "--shard=1/2"]),
        (["bash", "-c", slurm["collect.sbatch"]], ["--collect"]),
        (
            ["bash", "-c", yaml.safe_load(sky["shard-1-of-2.yaml"])["run"]],
            ["--shard=1/2", "--no_fit"],
        ),
        (["bash", "-c", yaml.safe_load(sky["collect.yaml"])["run"]], ["--collect"]),
    ]
    for command, flags in runs:
        subprocess.run(command, cwd=tmp_path, env=shell, check=True, timeout=60)
        assert record.read_text().splitlines() == expected + flags
        assert not marker.exists()  # nothing split out of a string ran


@pytest.mark.parametrize(
    "option",
    [
        dict(partition="gpu; rm -rf ~"),
        dict(time_limit="1:00 x"),
        dict(extra=("--account=a\nrm x",)),
    ],
)
def test_an_sbatch_option_that_would_split_is_refused(tmp_path, option):
    """#SBATCH lines are read by sbatch, not a shell: nothing can be quoted there."""
    with pytest.raises(SweepError, match="one word without whitespace or quotes"):
        emit_sweep("slurm", STUDY, str(tmp_path), **option)
