"""--emit=slurm and --emit=skypilot write the files a cluster runs; their content, parsed."""

import shlex
import subprocess
import sys

import pytest
import yaml

from llm_jax.sweep import emit_sweep
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
