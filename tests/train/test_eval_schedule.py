"""The eval schedules: log-spaced subset steps that end at the last step, a subset spread over the
full eval set, and a FLOPs bound on the curve that config validation enforces."""

import numpy as np
import pytest

from llm_jax.config import ConfigError, get_default_config, subset_cost_fraction, validate
from llm_jax.data.dataset import Source, TrainingData
from llm_jax.data.loader import eval_batches
from llm_jax.train import eval_schedule


def log_config(steps=10_000, warmup=100, points=12, subset_tokens=4096):
    c = get_default_config()
    c.data.update(batch_size=16, seq_len=128, eval_tokens=65_536)  # 2048-token eval batches
    c.train.update(steps=steps, warmup_steps=warmup)
    c.eval.update(schedule="log", log_points=points, subset_tokens=subset_tokens)
    return c


def test_log_steps_are_log_spaced_from_warmup_to_the_last_step():
    steps = sorted(eval_schedule.steps(log_config()))
    assert len(steps) == 12 and steps[0] == 100 and steps[-1] == 10_000
    ratios = np.diff(np.log(steps))
    np.testing.assert_allclose(ratios, np.log(100) / 11, rtol=0.02)  # evenly spaced in log


@pytest.mark.parametrize(("first", "last", "n"), [(1, 7, 12), (3, 40, 6), (10, 11, 5), (5, 5, 3)])
def test_short_runs_keep_distinct_steps_and_end_at_the_last(first, last, n):
    steps = eval_schedule.log_steps(first, last, n)
    assert steps[-1] == last and len(steps) <= n
    assert steps == sorted(set(steps)) and steps[0] >= min(first, last)


def test_every_schedule_has_no_subset_evals_and_full_evals_every_n():
    c = get_default_config()
    c.train.steps, c.eval.every_steps = 120, 50
    assert eval_schedule.steps(c) == frozenset()
    assert [s for s in range(1, 121) if eval_schedule.full_eval_at(c, s)] == [50, 100, 120]
    c.eval.schedule = "log"  # the full set once, at the end
    assert [s for s in range(1, 121) if eval_schedule.full_eval_at(c, s)] == [120]


def window_starts(batches):
    return {int(row[0]) for batch in batches for row in batch}


def one_source(val, c):
    """The run's data with `val` as its held-out split (no store: only eval batches are read)."""
    source = Source(name="", weight=1.0, store=None, train=val, val=val)
    return TrainingData(c.data, None, [source], steps=1, seed=0)


def subset_starts(val, c):
    (rows,) = eval_schedule.subset(one_source(val, c), c).values()
    return window_starts(rows)


def test_subset_is_the_same_spread_windows_whatever_the_batch():
    val = np.arange(100_000, dtype=np.int32)  # token value = position: rows show their start
    c = log_config(subset_tokens=4 * 2048 + 100)  # rounded down to 4 batches of 16 × 128
    c.data.eval_tokens = 128 * 2048  # 128 batches
    full = window_starts(eval_batches(val, seq_len=128, batch_size=16, eval_tokens=128 * 2048))
    subset = subset_starts(val, c)
    assert len(subset) == 64 and subset < full  # 64 of the full set's 2048 windows
    assert min(subset) == 0 and max(subset) > 0.95 * len(val) - 129  # spread over the split
    c.data.batch_size = 4  # 16 batches of 4: the same windows
    assert subset_starts(val, c) == subset
    c.eval.schedule = "every"
    assert eval_schedule.subset(one_source(val, c), c) == {}


def test_cost_bound_is_the_curves_forward_flops_over_training_flops():
    c = log_config(steps=1000, points=10, subset_tokens=3 * 2048)
    # 10 evals × 3 batches, each a forward pass (1/3 of a training step), over 1000 steps.
    assert subset_cost_fraction(c) == pytest.approx(10 * 3 / 3 / 1000)
    validate(c)
    c.train.steps = 199  # 10 / 199 = 5.03% > 5%
    with pytest.raises(ConfigError, match=r"cost 5\.0% .* eval.max_cost_fraction=0.05.*≤ 9"):
        validate(c)
    c.eval.max_cost_fraction = 0.06
    validate(c)
    c.eval.schedule = "every"  # the bound is the log schedule's
    c.eval.max_cost_fraction = 0.05
    validate(c)


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("schedule", "sometimes", "eval.schedule='sometimes' is not one of"),
        ("log_points", 0, "eval.log_points=0 must be ≥ 1"),
        ("subset_tokens", 0, "eval.subset_tokens=0 must be positive"),
        ("max_cost_fraction", 0.0, r"eval.max_cost_fraction must be in \(0, 1\]"),
    ],
)
def test_bad_eval_keys_are_named(key, value, message):
    c = log_config()
    c.eval[key] = value
    with pytest.raises(ConfigError, match=message):
        validate(c)
