"""Interop tests run offline; without the [hf] extra they are skipped (CI installs it)."""

import os

import pytest

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from tests.interop.helpers import train_smoke_run  # noqa: E402


@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory):
    """A byte-level configs/smoke.py run, trained for 2 steps (a few seconds)."""
    return train_smoke_run(tmp_path_factory.mktemp("smoke_run"))


@pytest.fixture(scope="session")
def exported_run(smoke_run, tmp_path_factory):
    """smoke_run exported by the library (float32, one file): the Hugging Face directory."""
    from llm_jax.interop.export import export_run

    out = tmp_path_factory.mktemp("exported") / "hf"
    export_run(smoke_run, out)
    return out
