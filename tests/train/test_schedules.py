"""Learning-rate schedules at their boundary steps."""

import pytest

from llm_jax.config import get_default_config
from llm_jax.train.schedules import make_schedule


def _schedule(**train):
    t = get_default_config().train
    t.update(lr=1.0, min_lr_ratio=0.1, steps=100, warmup_steps=10, **train)
    return make_schedule(t)


def test_warmup_is_linear_and_reaches_peak():
    lr = _schedule(schedule="constant")
    assert float(lr(0)) == pytest.approx(0.1)
    assert float(lr(4)) == pytest.approx(0.5)
    assert float(lr(9)) == pytest.approx(1.0)
    assert float(lr(99)) == pytest.approx(1.0)


@pytest.mark.parametrize("schedule", ["cosine", "linear"])
def test_decay_ends_at_floor(schedule):
    lr = _schedule(schedule=schedule)
    assert float(lr(10)) == pytest.approx(1.0)
    assert float(lr(99)) == pytest.approx(0.1)
    assert 0.1 < float(lr(50)) < 1.0


def test_cosine_midpoint():
    lr = _schedule(schedule="cosine")
    midpoint = 10 + (99 - 10) / 2
    assert float(lr(midpoint)) == pytest.approx(0.55, abs=1e-6)


@pytest.mark.parametrize("shape, quarter", [("linear", 1 - 0.9 * 0.25), ("sqrt", 1 - 0.9 * 0.5)])
def test_wsd_stable_then_cooldown(shape, quarter):
    lr = _schedule(schedule="wsd", decay_fraction=0.2, decay_shape=shape)  # 20 cooldown steps
    assert float(lr(79)) == pytest.approx(1.0)  # last stable step
    assert float(lr(80)) < 1.0  # first cooldown step already decays
    assert float(lr(84)) == pytest.approx(quarter)  # 5 of 20 cooldown steps done
    assert float(lr(99)) == pytest.approx(0.1)
