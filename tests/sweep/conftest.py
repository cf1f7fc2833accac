"""One finished tiny sweep (the default in-process workers) that several tests read."""

import pytest

from tests.sweep.helpers import run_sweep


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("sweep_cache")


@pytest.fixture(scope="session")
def finished_sweep(tmp_path_factory, cache_dir):
    """The tiny study run to the end by `python -m llm_jax.cli.sweep` (--isolation=worker)."""
    workdir = tmp_path_factory.mktemp("finished_sweep")
    result = run_sweep(workdir, cache_dir)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return workdir
