"""llm_jax parameters ↔ Llama safetensors tensors: names, layouts, sharded files.

A Llama weight is a torch Linear's (out, in) matrix; an llm_jax kernel is (in..., out...) with the
heads split out, e.g. query (D, H, K) ↔ q_proj.weight (H·K, D). Each tensor therefore maps by a
reshape and a transpose, recorded as how many leading llm_jax axes make up Llama's `in` axis.
Reading places every parameter straight onto its shardings: each device's block is cut from the
memory-mapped file, and only the rows and columns that block needs are read.
"""

from __future__ import annotations

import dataclasses
import json
import math
import pathlib
from collections.abc import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from llm_jax.checkpoint import CheckpointError

# Inside a block: llm_jax path → (Llama name after "model.layers.{i}.", llm_jax `in` axes).
BLOCK = {
    ("attn_norm", "scale"): ("input_layernorm.weight", None),
    ("attn", "query", "kernel"): ("self_attn.q_proj.weight", 1),
    ("attn", "key", "kernel"): ("self_attn.k_proj.weight", 1),
    ("attn", "value", "kernel"): ("self_attn.v_proj.weight", 1),
    ("attn", "out", "kernel"): ("self_attn.o_proj.weight", 2),
    ("mlp_norm", "scale"): ("post_attention_layernorm.weight", None),
    ("mlp", "wi_gate", "kernel"): ("mlp.gate_proj.weight", 1),
    ("mlp", "wi_up", "kernel"): ("mlp.up_proj.weight", 1),
    ("mlp", "wo", "kernel"): ("mlp.down_proj.weight", 1),
}
TOP = {
    ("embed", "embedding"): ("model.embed_tokens.weight", None),
    ("final_norm", "scale"): ("model.norm.weight", None),
    ("unembed", "kernel"): ("lm_head.weight", 1),
}
INDEX_FILE = "model.safetensors.index.json"
SINGLE_FILE = "model.safetensors"


@dataclasses.dataclass(frozen=True)
class TensorMap:
    """One Llama tensor and the llm_jax parameter (or layer of a scanned one) it is."""

    hf_name: str
    path: tuple[str, ...]  # llm_jax parameter path
    layer: int | None  # index into a scanned parameter's stacked layer axis
    n_in: int | None  # leading llm_jax axes forming Llama's `in` axis; None: same layout
    shape: tuple[int, ...]  # llm_jax shape, without the stacked layer axis

    @property
    def hf_shape(self) -> tuple[int, ...]:
        if self.n_in is None:
            return self.shape
        return math.prod(self.shape[self.n_in :]), math.prod(self.shape[: self.n_in])

    def to_hf(self, x: np.ndarray) -> np.ndarray:
        if self.n_in is None:
            return x
        return x.reshape(self.hf_shape[::-1]).T

    def from_hf(self, w: np.ndarray) -> np.ndarray:
        return w if self.n_in is None else w.T.reshape(self.shape)


def tensor_maps(abstract_params) -> list[TensorMap]:
    """Every Llama tensor of this parameter tree, in Llama's order; unknown parameters refused."""
    maps = []
    for keys, leaf in jax.tree_util.tree_leaves_with_path(nn.meta.unbox(abstract_params)):
        path = tuple(k.key for k in keys)
        head, inner = path[0], path[1:]
        if head == "blocks":  # scanned: one stacked leaf for all layers
            name, n_in = _lookup(BLOCK, inner, path)
            maps += [
                TensorMap(f"model.layers.{i}.{name}", path, i, n_in, tuple(leaf.shape[1:]))
                for i in range(leaf.shape[0])
            ]
        elif head.startswith("block_"):
            name, n_in = _lookup(BLOCK, inner, path)
            maps.append(TensorMap(f"model.layers.{head[6:]}.{name}", path, None, n_in, leaf.shape))
        else:
            name, n_in = _lookup(TOP, path, path)
            maps.append(TensorMap(name, path, None, n_in, tuple(leaf.shape)))
    return sorted(maps, key=_llama_order)


def _lookup(table: dict, key: tuple, path: tuple):
    if key not in table:
        raise CheckpointError(
            f"parameter {'/'.join(path)} has no Llama counterpart; map it in "
            "llm_jax/interop/hf_weights.py before exporting or importing this model"
        )
    return table[key]


def _llama_order(m: TensorMap):
    parts = m.hf_name.split(".")
    if parts[:2] == ["model", "layers"]:
        return 1, int(parts[2]), m.hf_name
    return (0 if "embed" in m.hf_name else 2), 0, m.hf_name


def write_safetensors(
    maps: list[TensorMap],
    get: Callable[[TensorMap], np.ndarray],
    directory,
    dtype,
    max_shard_bytes: int,
) -> list[str]:
    """Write the tensors (get(m): llm_jax layout) in `dtype`, one shard in memory at a time.

    One model.safetensors when the total fits max_shard_bytes, else numbered shards and
    model.safetensors.index.json; returns the file names.
    """
    from safetensors.numpy import save_file

    directory = pathlib.Path(directory)
    dtype = jnp.dtype(dtype)  # knows bfloat16
    sizes = [math.prod(m.hf_shape) * dtype.itemsize for m in maps]
    shards = _plan_shards(sizes, max_shard_bytes)
    n = len(shards)
    files = (
        [SINGLE_FILE] if n == 1 else [f"model-{i + 1:05d}-of-{n:05d}.safetensors" for i in range(n)]
    )
    weight_map = {}
    for file, members in zip(files, shards, strict=True):
        tensors = {}
        for i in members:
            m = maps[i]
            tensors[m.hf_name] = np.ascontiguousarray(m.to_hf(get(m)).astype(dtype))
            weight_map[m.hf_name] = file
        save_file(tensors, directory / file, metadata={"format": "pt"})  # transformers checks it
        del tensors
    if n > 1:
        index = {"metadata": {"total_size": sum(sizes)}, "weight_map": weight_map}
        (directory / INDEX_FILE).write_text(json.dumps(index, indent=2) + "\n")
    return files + ([INDEX_FILE] if n > 1 else [])


def _plan_shards(sizes: list[int], max_bytes: int) -> list[list[int]]:
    """Consecutive tensors, greedily, into shards of at most max_bytes (a bigger one alone)."""
    shards, total = [[]], 0
    for i, size in enumerate(sizes):
        if shards[-1] and total + size > max_bytes:
            shards.append([])
            total = 0
        shards[-1].append(i)
        total += size
    return shards


class SafetensorsFiles:
    """The tensors of a model.safetensors or of a sharded index, opened memory-mapped."""

    def __init__(self, directory):
        from safetensors import safe_open

        directory = pathlib.Path(directory)
        if (directory / INDEX_FILE).is_file():
            weight_map = json.loads((directory / INDEX_FILE).read_text())["weight_map"]
        elif (directory / SINGLE_FILE).is_file():
            weight_map = None
        else:
            raise CheckpointError(
                f"{directory} has neither {SINGLE_FILE} nor {INDEX_FILE}: not a safetensors "
                "Hugging Face checkpoint (convert .bin weights with transformers first)"
            )
        files = sorted(set(weight_map.values())) if weight_map else [SINGLE_FILE]
        missing = [f for f in files if not (directory / f).is_file()]
        if missing:
            raise CheckpointError(f"{directory / INDEX_FILE} names missing files {missing}")
        self.handles = {f: safe_open(directory / f, framework="np") for f in files}
        self.where = weight_map or dict.fromkeys(self.handles[SINGLE_FILE].keys(), SINGLE_FILE)
        self.directory = directory

    def shape(self, name: str) -> tuple[int, ...]:
        return tuple(self.slice(name).get_shape())

    def slice(self, name: str):
        return self.handles[self.where[name]].get_slice(name)


def _ignorable(name: str, tied: bool) -> bool:
    """Tensors Llama checkpoints may carry that are no parameters of the model."""
    return name.endswith("rotary_emb.inv_freq") or (tied and name == "lm_head.weight")


def check_tensors(files: SafetensorsFiles, maps: list[TensorMap], tied: bool) -> None:
    """Every expected tensor present with its shape, nothing unexpected: else one clear error."""
    expected = {m.hf_name: m.hf_shape for m in maps}
    missing = sorted(set(expected) - set(files.where))
    extra = sorted(n for n in set(files.where) - set(expected) if not _ignorable(n, tied))
    wrong = [
        f"{n}: file has {files.shape(n)}, config.json implies {s}"
        for n, s in expected.items()
        if n in files.where and files.shape(n) != s
    ]
    problems = ([f"missing {missing[:5]}"] if missing else []) + wrong[:5]
    if extra:
        problems.append(f"unexpected {extra[:5]}")
    if problems:
        raise CheckpointError(
            f"the safetensors in {files.directory} do not match its config.json: "
            + "; ".join(problems)
        )


def read_params(directory, abstract_params, shardings, tied: bool):
    """The parameter tree from DIR's safetensors, each leaf created on its own shardings."""
    maps = tensor_maps(abstract_params)
    files = SafetensorsFiles(directory)
    check_tensors(files, maps, tied)
    by_path: dict[tuple, list[TensorMap]] = {}
    for m in maps:
        by_path.setdefault(m.path, []).append(m)

    def leaf(keys, abstract, sharding):
        entries = by_path[tuple(k.key for k in keys)]

        def block(index):
            if entries[0].layer is None:
                return _read_block(files, entries[0], index).astype(abstract.dtype, copy=False)
            layers = entries[index[0]]  # scanned: the layers this device holds, filled in place
            out = np.empty(
                (len(layers), *_block_shape(index[1:], entries[0].shape)), abstract.dtype
            )
            for j, m in enumerate(layers):
                out[j] = _read_block(files, m, index[1:])
            return out

        return jax.make_array_from_callback(abstract.shape, sharding, block)

    return jax.tree_util.tree_map_with_path(leaf, nn.meta.unbox(abstract_params), shardings)


def _read_block(files: SafetensorsFiles, m: TensorMap, index: tuple) -> np.ndarray:
    """Block `index` (slices, llm_jax layout) of one tensor, reading only what it covers."""
    tensor = files.slice(m.hf_name)
    index = tuple(slice(*s.indices(n)[:2]) for s, n in zip(index, m.shape, strict=True))
    if m.n_in is None:
        return tensor[index]
    (c0, c1), in_shape, in_local = _span(index[: m.n_in], m.shape[: m.n_in])
    (r0, r1), out_shape, out_local = _span(index[m.n_in :], m.shape[m.n_in :])
    block = tensor[r0:r1, c0:c1].T.reshape(*in_shape, *out_shape)
    return block[(*in_local, *out_local)]


def _block_shape(index: tuple, shape: tuple) -> tuple[int, ...]:
    return tuple(len(range(*s.indices(n))) for s, n in zip(index, shape, strict=True))


def _span(slices: tuple, dims: tuple):
    """Row-major axes `dims`, sliced: the flat range covering them, its shape, and the slices
    that cut the exact block out of that range."""
    first, inner = slices[0], math.prod(dims[1:])
    shape = (first.stop - first.start, *dims[1:])
    return (first.start * inner, first.stop * inner), shape, (slice(None), *slices[1:])
