"""A checkpoint saved on one mesh restores onto another (saved fsdp=8, restored data=2,fsdp=4)."""

import jax
import numpy as np

from llm_jax.checkpoint import Checkpointer
from tests.sharding.conftest import STEPS
from tests.sharding.helpers import batches, train


def test_restore_onto_a_different_mesh_continues_identically(runs, tmp_path):
    saved = runs[1, 8, 1]
    checkpointer = Checkpointer(tmp_path, keep=1, async_save=False)
    checkpointer.save(STEPS, saved.state, {"step": STEPS})
    expected = jax.device_get(saved.state)
    more = batches(STEPS + 3)[STEPS:]  # the next three batches
    continued = {}
    for mesh in ((2, 4, 1), (1, 1, 1)):
        parts = runs[mesh].parts
        state, extra = checkpointer.restore(STEPS, parts.restore_target)
        assert extra == {"step": STEPS}
        for want, got, sharding in zip(
            jax.tree.leaves(expected),
            jax.tree.leaves(state),
            jax.tree.leaves(parts.state_shardings),
            strict=True,
        ):
            assert got.sharding == sharding  # laid out for the new mesh
            np.testing.assert_array_equal(got, want)  # bitwise
        _, continued[mesh] = train(parts, state, more)
    checkpointer.close()
    np.testing.assert_allclose(continued[2, 4, 1], continued[1, 1, 1], rtol=1e-5)
    assert continued[1, 1, 1][-1] < saved.losses[0]
