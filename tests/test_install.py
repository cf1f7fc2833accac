"""A plain (non-editable) `pip install .` into a fresh venv works from outside the checkout: the
CLIs are installed modules and the sweep launches runs through them, never through tools/."""

import os
import shutil
import subprocess
import sys
import sysconfig

import pytest

from tests.train.cli import ROOT, TINY

# Without the checkout on PYTHONPATH (tests/conftest.py puts it there for CLI tests).
OUTSIDE = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"} | {"JAX_PLATFORMS": "cpu"}


def run(cmd, cwd, env=OUTSIDE):
    done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, f"{' '.join(map(str, cmd))}\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """A venv holding a non-editable install of a copy of this checkout; its dependencies come
    from this interpreter's site-packages (a .pth line); only the build backend is fetched."""
    tmp = tmp_path_factory.mktemp("install")
    source = tmp / "source"
    ignore = shutil.ignore_patterns(".git", ".venv", "runs", "*.egg-info", "build", ".*cache*")
    shutil.copytree(ROOT, source, ignore=ignore)
    venv = tmp / "venv"
    run([sys.executable, "-m", "venv", venv], tmp)
    python = venv / "bin" / "python"
    site = run([python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], tmp)
    with open(os.path.join(site.strip(), "deps.pth"), "w") as pth:
        pth.write(sysconfig.get_path("purelib") + "\n")
    run([python, "-m", "pip", "install", "-q", "--no-deps", source], tmp)
    shutil.rmtree(source)  # nothing may reach back into a checkout
    return python


def test_package_is_installed_not_linked(installed, tmp_path):
    where = run([installed, "-c", "import llm_jax; print(llm_jax.__file__)"], tmp_path)
    assert "site-packages" in where and str(ROOT) not in where


def test_train_and_sweep_dry_run_outside_the_checkout(installed, tmp_path):
    config = [a.replace("configs/", f"{ROOT}/configs/") for a in TINY]
    run(
        [installed, "-m", "llm_jax.cli.train", *config, "--workdir=run", "--config.train.steps=2"]
        + ["--config.train.warmup_steps=1", f"--config.data.cache_dir={tmp_path / 'cache'}"],
        tmp_path,
    )
    assert (tmp_path / "run" / "checkpoints").is_dir()
    out = run(
        [installed, "-m", "llm_jax.cli.sweep", f"--config={ROOT}/tests/sweep/tiny_study.py"]
        + ["--workdir=sweep", "--dry_run", "--assume_flops_per_s=1e9"],
        tmp_path,
    )
    assert f"{installed} -m llm_jax.cli.train" in out
