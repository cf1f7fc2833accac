"""Compiled steps kept across builds (the sweep worker): shared only where the program is the
same, and training through them is bit-identical to each build's own jit."""

import jax
import numpy as np
import pytest

from llm_jax.config import get_default_config
from llm_jax.train import setup
from llm_jax.train.state import init_state


def _config(d_model=32, **train):
    c = get_default_config()
    c.model.update(
        vocab_size=64, d_model=d_model, n_layers=2, n_heads=2, n_kv_heads=2, d_ff=64, max_seq_len=16
    )
    c.data.update(seq_len=16, batch_size=8)
    c.train.update(**{"steps": 50, "warmup_steps": 5, "lr": 1e-2, **train})
    c.log.name = f"run-{d_model}-{train}"  # runs differ in name and cadences, not in program
    return c


def _train(config, steps=4):
    parts = setup.build(config, devices=jax.devices()[:1])
    state = parts.init(jax.random.PRNGKey(0))
    batch = np.random.default_rng(0).integers(0, 64, size=(8, 17), dtype=np.int32)
    for _ in range(steps):
        state, metrics = parts.train_step(state, batch)
    evaluated = parts.eval_step(state.params, batch)
    return parts, jax.device_get((state.params, metrics, evaluated))


@pytest.fixture
def kept():
    setup.keep_compiled(4)
    yield
    setup.keep_compiled(0)


def _same_bits(a, b):
    return all(
        np.array_equal(x, y) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True)
    )


def test_other_schedule_numbers_reuse_the_program_bit_for_bit(kept):
    first, _ = _train(_config(lr=1e-2, steps=50))
    second, kept_result = _train(_config(lr=3e-2, steps=80, seed=3))
    assert second.train_step.executable is first.train_step.executable
    assert second.eval_step.executable is first.eval_step.executable
    assert second.init.executable is first.init.executable
    setup.keep_compiled(0)  # the same run through its own jit
    _, own_result = _train(_config(lr=3e-2, steps=80, seed=3))
    assert _same_bits(kept_result, own_result)
    fresh = init_state(first.model, first.tx, 16, 0, first.state_shardings)  # the plain jit's
    assert _same_bits(first.init(jax.random.PRNGKey(0)), fresh)


def test_another_program_is_compiled_and_the_oldest_dropped(kept):
    a, _ = _train(_config(d_model=32))
    b, _ = _train(_config(d_model=32, z_loss=1e-4))  # z_loss is in the program
    assert b.train_step.executable is not a.train_step.executable
    c, _ = _train(_config(d_model=16))  # 3 programs × (init, train, eval) over a limit of 4
    assert c.train_step.executable is not a.train_step.executable
    assert len(setup._kept) == 4
    again, _ = _train(_config(d_model=32))  # the least recently used (a's) was dropped
    assert again.train_step.executable is not a.train_step.executable
