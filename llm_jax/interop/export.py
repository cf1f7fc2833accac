"""Write a run (or any params) as a Hugging Face Llama directory that transformers loads alone.

The directory is built beside its target and renamed into place when complete, so an export that
fails or is killed leaves nothing half-written; the config is checked before anything is read.
"""

from __future__ import annotations

import json
import os
import pathlib
import shutil

import flax.linen as nn
import numpy as np

from llm_jax.checkpoint import CheckpointError, load_config, load_params
from llm_jax.data.tokenizer import load_tokenizer_from_dir
from llm_jax.interop.hf_config import check_exportable, generation_config, llama_config
from llm_jax.interop.hf_tokenizer import save_hf_tokenizer
from llm_jax.interop.hf_weights import TensorMap, tensor_maps, write_safetensors

DTYPES = ("float32", "bfloat16")
DEFAULT_SHARD_BYTES = 5 * 10**9  # transformers' own default shard size


def export_run(workdir, out, step=None, dtype="float32", max_shard_bytes=DEFAULT_SHARD_BYTES):
    """Export the run's checkpoint (the latest unless `step`) to `out`; returns the files."""
    config = load_config(workdir)  # cheap checks first: nothing is restored for a refusal
    check_exportable(config.model)
    _check_target(out, dtype)
    tokenizer = load_tokenizer_from_dir(pathlib.Path(workdir) / "tokenizer")
    config, params = load_params(workdir, step)
    return export_params(config.model, params, tokenizer, out, dtype, max_shard_bytes)


def export_params(model_cfg, params, tokenizer, out, dtype="float32", max_shard_bytes=None):
    """Export a parameter tree of arrays (jax or numpy)."""
    check_exportable(model_cfg)  # before the tree is walked: its layout may be inexpressible
    params = nn.meta.unbox(params)
    maps = tensor_maps(params)

    def get(m: TensorMap) -> np.ndarray:
        leaf = params
        for key in m.path:
            leaf = leaf[key]
        return np.asarray(leaf if m.layer is None else leaf[m.layer])

    return export_tensors(model_cfg, maps, get, tokenizer, out, dtype, max_shard_bytes)


def export_tensors(model_cfg, maps, get, tokenizer, out, dtype, max_shard_bytes=None):
    """The export itself, from a tensor source `get(TensorMap) -> llm_jax-layout array`."""
    hf_config = llama_config(model_cfg, tokenizer, dtype)  # refuses before anything is written
    out = pathlib.Path(out)
    _check_target(out, dtype)
    tmp = out.with_name(f".{out.name}.tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        _write_json(tmp / "config.json", hf_config)
        _write_json(tmp / "generation_config.json", generation_config(tokenizer))
        save_hf_tokenizer(tokenizer, tmp, hf_config["max_position_embeddings"])
        write_safetensors(maps, get, tmp, dtype, max_shard_bytes or DEFAULT_SHARD_BYTES)
        if out.exists():  # an empty directory (checked above)
            out.rmdir()
        tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return sorted(os.listdir(out))


def _check_target(out, dtype: str) -> None:
    out = pathlib.Path(out)
    if dtype not in DTYPES:
        raise CheckpointError(f"--dtype={dtype!r}: export as one of {DTYPES}")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise CheckpointError(
            f"--out={out} exists and is not an empty directory; pick a new path (nothing "
            "there is overwritten)"
        )


def _write_json(path: pathlib.Path, value: dict) -> None:
    path.write_text(json.dumps(value, indent=2) + "\n")
