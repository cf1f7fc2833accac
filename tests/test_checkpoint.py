"""The Checkpointer's saver thread: what it saves is the state as it was at save(), even after
the next step donates that state's buffers, and what goes wrong there is raised in the loop."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from orbax.checkpoint.checkpoint_manager import StepAlreadyExistsError

from llm_jax.checkpoint import Checkpointer


def _abstract(tree):
    return jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=x.sharding), tree)


def test_a_save_beside_the_loop_keeps_the_state_of_its_step(tmp_path):
    step = jax.jit(lambda s: jax.tree.map(lambda x: x * 2 + 1, s), donate_argnums=0)
    want = {"w": np.arange(1 << 16, dtype=np.float32), "b": np.ones((3, 5), np.float32)}
    state = {name: jnp.asarray(value) for name, value in want.items()}
    checkpointer = Checkpointer(tmp_path, keep=2, saver_thread=True)
    assert checkpointer._saver is not None  # the CPU default, asserted so the test means it
    checkpointer.save(1, state, {"step": 1})
    later = step(state)  # donates the saved state's buffers while the saver thread may be at work
    assert state["w"].is_deleted()
    checkpointer.save(2, later, {"step": 2})
    checkpointer.close()
    reader = Checkpointer(tmp_path, keep=2, saver_thread=False)
    assert reader.all_steps() == [1, 2]
    restored, extra = reader.restore(1, _abstract(later))
    reader.close()
    assert extra == {"step": 1}
    for name in want:
        np.testing.assert_array_equal(np.asarray(restored[name]), want[name])


def test_a_failed_save_beside_the_loop_is_raised_at_the_next_call(tmp_path):
    checkpointer = Checkpointer(tmp_path, keep=2, saver_thread=True)
    checkpointer.save(1, {"w": jnp.ones(3)}, {"step": 1})
    checkpointer.save(1, {"w": jnp.ones(3)}, {"step": 1})  # Orbax refuses it, in the thread
    with pytest.raises(StepAlreadyExistsError, match="step 1 already exists"):
        checkpointer.latest_step()
    checkpointer.save(2, {"w": jnp.ones(3)}, {"step": 2})  # the next save goes on
    assert checkpointer.all_steps() == [1, 2]
    checkpointer.close()
