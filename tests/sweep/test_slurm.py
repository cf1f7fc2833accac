"""On a real SLURM (tests/sweep/local_slurm.py): the emitted job array runs the tiny sweep to the
end, a task requeued mid-run resumes its run, and the dependent collect job's runs.csv equals a
local sweep's; the README's srun recipe gives each process one GPU and the right JAX set-up."""

import json
import pathlib
import re
import subprocess
import sys
import time

import pytest

from tests.sweep.helpers import FIT_COLUMNS, STUDY, read_csv, run_sweep, statuses
from tests.sweep.local_slurm import LocalSlurm, Unavailable
from tests.train.cli import ROOT, cli_env


@pytest.fixture(scope="module")
def slurm(tmp_path_factory):
    cluster = LocalSlurm(str(tmp_path_factory.mktemp("slurm")))
    try:
        cluster.start()
    except (Unavailable, OSError) as e:
        cluster.stop()
        print(f"SLURM tests skipped: {e}")
        pytest.skip(f"SLURM cannot start here: {e}")
    yield cluster
    cluster.stop()


def wait(condition, timeout, what, cluster):
    deadline = time.time() + timeout
    while not (result := condition()):
        if time.time() > deadline:
            pytest.fail(f"timed out waiting for {what}\n{cluster.logs()}")
        time.sleep(0.5)
    return result


# In the default suite (CI runs it on a real one-node SLURM): ~4.5 min on 2 loaded cores, a
# local sweep, then the array, a requeue mid-run, and the collect job.
def test_the_emitted_array_sweeps_requeues_and_collects(slurm, tmp_path, cache_dir):
    """The study's "slurm" arg: a 600-step run (task 0, the costliest) and a 40-step one."""
    reference = tmp_path / "local"
    local = run_sweep(reference, cache_dir, "slurm", "--threads_per_run=1")
    assert local.returncode == 0, local.stderr[-3000:]
    root = tmp_path / "sweep"
    env = cli_env() | {"SLURM_CONF": slurm.conf}
    emitted = subprocess.run(
        [sys.executable, "-m", "llm_jax.cli.sweep", f"--config={STUDY}:slurm",
         f"--workdir={root}", f"--set=data.cache_dir={cache_dir}", "--emit=slurm",
         "--max_parallel=2", "--threads_per_run=1"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert emitted.returncode == 0, emitted.stderr[-3000:]
    submitted = subprocess.run(
        ["bash", str(root / "slurm" / "submit.sh")], env=env, capture_output=True, text=True
    )
    assert submitted.returncode == 0, submitted.stderr
    array, collect = re.search(r"array job (\d+), collect job (\d+)", submitted.stdout).groups()
    # Task 0 runs the costliest group (tiny-long): requeue it once its run has saved.
    checkpoints = root / "runs" / "tiny-long" / "checkpoints"
    wait(lambda: checkpoints.is_dir() and any(p.name.isdigit() for p in checkpoints.iterdir()),
         600, "tiny-long's first checkpoint", slurm)  # fmt: skip
    slurm.run("scontrol", "requeue", f"{array}_0")
    wait(lambda: slurm.job_state(collect) in ("COMPLETED", "FAILED", "CANCELLED", "GONE"),
         900, "the collect job", slurm)  # fmt: skip
    logs = "\n".join(p.read_text() for p in sorted((root / "slurm" / "logs").glob("*.out")))
    assert slurm.job_state(collect) == "COMPLETED", logs[-4000:]
    state = statuses(root)
    assert {s["status"] for s in state.values()} == {"done"}, state
    assert state["tiny-long"]["attempts"] == 2  # interrupted by the requeue, then resumed
    assert "resumed from step" in (root / "logs" / "tiny-long.log").read_text()
    assert "stopped tiny-long at step" in logs  # the first attempt saved and stopped on SIGTERM
    want, got = read_csv(reference / "runs.csv"), read_csv(root / "runs.csv")
    assert set(got) == set(want)
    for name in want:
        for column in FIT_COLUMNS:
            assert got[name][column] == want[name][column], (name, column)


PROBE = (
    "import json, os; from llm_jax import distributed; from jax._src.clusters import SlurmCluster; "
    "print(json.dumps([int(os.environ['SLURM_PROCID']), os.environ['CUDA_VISIBLE_DEVICES'], "
    "distributed.slurm_arguments(), SlurmCluster.is_env_present()]))"
)


def probe(slurm, *srun_flags) -> list:
    done = slurm.run("srun", "--nodes=1", *srun_flags, sys.executable, "-c", PROBE, timeout=300)
    return sorted(json.loads(line) for line in done.stdout.splitlines() if line.startswith("["))


def test_the_readme_srun_recipes_give_one_gpu_per_process(slurm):
    """`--ntasks-per-node=N --gpus-per-task=1`: each task sees only its GPU and uses it
    (local_device_ids [0]); `--gpus-per-node=N`: each sees all, and JAX pins GPU SLURM_LOCALID.
    Both are multi-task steps JAX's SLURM detection reads."""
    per_task = probe(slurm, "--ntasks-per-node=2", "--gpus-per-task=1", f"--chdir={ROOT}")
    assert [p[0] for p in per_task] == [0, 1]
    assert len({p[1] for p in per_task}) == 2 and all("," not in p[1] for p in per_task)
    assert all(p[2] == {"local_device_ids": [0]} and p[3] for p in per_task)
    per_node = probe(slurm, "--ntasks-per-node=2", "--gpus-per-node=2", f"--chdir={ROOT}")
    assert all(p[1] == "0,1" and p[2] == {} and p[3] for p in per_node)
    assert pathlib.Path(slurm.conf).exists()
