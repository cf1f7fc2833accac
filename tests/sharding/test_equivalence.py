"""Sharded ≡ one device: each mesh shape trains to the same losses and parameters (§3.10)."""

import jax
import numpy as np
import pytest

from tests.sharding.helpers import mesh_id

MESHES = [(8, 1, 1), (1, 8, 1), (2, 4, 1), (2, 2, 2), (1, 1, 8)]


@pytest.mark.parametrize("mesh", MESHES, ids=mesh_id)
def test_mesh_matches_one_device(runs, mesh):
    run, reference = runs[mesh], runs[1, 1, 1]
    assert dict(run.parts.mesh.shape) == dict(zip(("data", "fsdp", "tensor"), mesh, strict=True))
    np.testing.assert_allclose(run.losses, reference.losses, rtol=1e-5)
    assert len(set(run.losses)) > 1  # the steps really trained
    paths = jax.tree_util.tree_leaves_with_path(reference.params)
    for (path, want), got in zip(paths, jax.tree.leaves(run.params), strict=True):
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-5, err_msg=jax.tree_util.keystr(path))
