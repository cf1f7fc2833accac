"""Mesh from the config, logical-axis rules, and shardings for parameters, optimizer state, batches.

Parameters carry logical axis names (embed, mlp, heads, ...); the config's `mesh.rules` table maps
them to the mesh axes data / fsdp / tensor. XLA's SPMD partitioner does the rest.
"""

from __future__ import annotations

import contextlib
import math

import flax.linen as nn
import jax
import numpy as np
from jax.sharding import AxisType, Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from llm_jax.errors import UserError

MESH_AXES = ("data", "fsdp", "tensor")


class ShardingError(UserError, ValueError):
    """A mesh or rules table that does not fit the devices or the model; names the fix."""


def mesh_shape(mesh_cfg, n_devices: int) -> dict[str, int]:
    """Resolve the one allowed -1 to the devices left over; the product must equal n_devices."""
    sizes = {axis: int(mesh_cfg[axis]) for axis in MESH_AXES}
    fill = [axis for axis, size in sizes.items() if size == -1]
    if len(fill) > 1 or any(size == 0 or size < -1 for size in sizes.values()):
        raise ShardingError(
            f"mesh {sizes}: each of mesh.data/fsdp/tensor must be positive, and at most one -1 "
            "(fill with the remaining devices)"
        )
    known = math.prod(size for size in sizes.values() if size != -1)
    if fill:
        if n_devices % known:
            raise ShardingError(
                f"mesh {sizes}: the fixed axes ({known} devices) do not divide the "
                f"{n_devices} devices available; pick sizes whose product divides {n_devices}"
            )
        sizes[fill[0]] = n_devices // known
    if math.prod(sizes.values()) != n_devices:
        raise ShardingError(
            f"mesh {sizes} has {math.prod(sizes.values())} devices but {n_devices} are available; "
            "make mesh.data × mesh.fsdp × mesh.tensor equal the device count (or set one to -1)"
        )
    return sizes


def make_mesh(mesh_cfg, devices=None) -> Mesh:
    """A (data, fsdp, tensor) mesh with Auto axes, as Linen logical partitioning needs."""
    sizes = mesh_shape(mesh_cfg, len(devices) if devices is not None else jax.device_count())
    shape = tuple(sizes[axis] for axis in MESH_AXES)
    if devices is None:  # let JAX order the devices for the physical topology (TPU torus)
        return jax.make_mesh(shape, MESH_AXES, axis_types=(AxisType.Auto,) * 3)
    return Mesh(np.asarray(devices).reshape(shape), MESH_AXES, axis_types=(AxisType.Auto,) * 3)


def logical_rules(mesh_cfg) -> tuple[tuple[str, tuple[str, ...] | None], ...]:
    """The config's rules table as Flax wants it: (logical name, mesh axes or None)."""
    rules = []
    for name, axes in mesh_cfg.rules.items():
        parts = tuple(a.strip() for a in axes.split(",") if a.strip())
        unknown = [a for a in parts if a not in MESH_AXES]
        if unknown:
            raise ShardingError(f"mesh.rules.{name}={axes!r}: {unknown} not among {MESH_AXES}")
        rules.append((name, parts or None))
    return tuple(rules)


def tree_shardings(logical_specs, mesh: Mesh, rules):
    """NamedShardings for a tree of logical PartitionSpecs (from nn.get_partition_spec)."""
    return nn.logical_to_mesh_sharding(logical_specs, mesh, rules)


def batch_sharding(mesh: Mesh, rules, ndim: int = 2) -> NamedSharding:
    """Batches (B, L) are split over the batch rule's axes and replicated over the rest; other
    ranks (a (B,) column, say) are split on their first axis alike."""
    names = ("batch", "length", *(None,) * max(0, ndim - 2))[:ndim]
    return NamedSharding(mesh, nn.logical_to_mesh_axes(names, rules))


def replicated(mesh: Mesh) -> NamedSharding:
    return NamedSharding(mesh, P())


def check_divisible(abstract_tree, shardings) -> None:
    """Every sharded dimension must split evenly; name the parameter and the fix if not."""
    problems = []
    for (path, leaf), sharding in zip(
        jax.tree_util.tree_leaves_with_path(abstract_tree),
        jax.tree.leaves(shardings, is_leaf=lambda s: isinstance(s, NamedSharding)),
        strict=True,
    ):
        mesh_sizes = dict(sharding.mesh.shape)
        for dim, (size, axes) in enumerate(zip(leaf.shape, sharding.spec, strict=False)):
            axes = (axes,) if isinstance(axes, str) else axes or ()
            parts = math.prod(mesh_sizes[a] for a in axes)
            if size % parts:
                problems.append(
                    f"{jax.tree_util.keystr(path)} dim {dim} of size {size} is sharded over "
                    f"{axes} = {parts} devices, which does not divide it"
                )
    if problems:
        raise ShardingError(
            "indivisible sharding (change the model size or the mesh, or map that logical axis "
            "to fewer mesh axes in mesh.rules):\n  " + "\n  ".join(problems)
        )


@contextlib.contextmanager
def activate(mesh: Mesh, rules):
    """Make `mesh` and the logical rules current, so the model's activation constraints apply."""
    with jax.set_mesh(mesh), nn.logical_axis_rules(rules):
        yield


def strip_boxes(tree):
    """Drop the logical-axis boxes without applying sharding constraints (abstract trees)."""
    return jax.tree.map(
        lambda x: x.unbox(apply_constraint=False) if isinstance(x, nn.Partitioned) else x,
        tree,
        is_leaf=lambda x: isinstance(x, nn.Partitioned),
    )
