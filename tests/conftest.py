"""Test set-up: JAX on the CPU with 8 fake devices (for sharding tests), before JAX starts."""

import os
import pathlib

os.environ.setdefault("JAX_PLATFORMS", "cpu")
# Tests (and the CLI runs they start) compile the same tiny steps many times: cache compiled
# executables on disk. Keys hash the program and the JAX version, so a hit is always valid.
_JIT_CACHE = pathlib.Path(__file__).resolve().parents[1] / ".pytest_cache" / "jax_compilation"
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", str(_JIT_CACHE))
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES", "0")
# CLI runs started by tests import this checkout's llm_jax (not whichever one is installed) and
# raise on implicit rank promotion like the tests do.
_ROOT = str(pathlib.Path(__file__).resolve().parents[1])
os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (_ROOT, os.environ.get("PYTHONPATH")) if p)
os.environ["JAX_NUMPY_RANK_PROMOTION"] = "raise"
os.environ["XLA_FLAGS"] = (
    os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=8"
).strip()

import jax  # noqa: E402
import pytest  # noqa: E402

# Shape bugs hide behind implicit broadcasting of a lower-rank operand: make it an error.
jax.config.update("jax_numpy_rank_promotion", "raise")

SHARED_DATA = pathlib.Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture
def shared_data():
    """../shared/data, or skip: the product never requires it."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"{SHARED_DATA} is absent (shared test data lives beside the checkout)")
    return SHARED_DATA
