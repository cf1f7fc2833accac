"""train.init_from: a cooldown branch starts from exactly the trunk's state; FLOPs count both."""

import json

import jax
import numpy as np
import pytest

from llm_jax.checkpoint import CheckpointError, load_params
from llm_jax.config import get_default_config, validate
from llm_jax.train.trainer import train


def tiny(steps, schedule="constant", **train):
    c = get_default_config()
    c.model.update(d_model=16, n_layers=1, n_heads=1, n_kv_heads=1, d_ff=32, max_seq_len=32)
    c.data.update(seq_len=32, batch_size=8, eval_tokens=256, max_bytes=100_000)
    c.train.update(steps=steps, warmup_steps=2, schedule=schedule, **train)
    c.eval.every_steps = c.checkpoint.every_steps = 10
    c.log.every_steps = 1
    return c


@pytest.fixture(scope="module")
def trunk(tmp_path_factory):
    """A 20-step warmup–stable trunk saved at steps 10 and 20."""
    cache = tmp_path_factory.mktemp("cache")
    workdir = tmp_path_factory.mktemp("trunk")
    config = tiny(20)
    config.data.cache_dir = str(cache)
    train(config, workdir)
    return workdir, str(cache)


def rows(workdir, split="train"):
    lines = (workdir / "metrics.jsonl").read_text().splitlines()
    return [r for r in map(json.loads, lines) if r["split"] == split]


def test_continuation_from_a_trunk_checkpoint_is_exactly_the_trunk(trunk, tmp_path):
    trunk_dir, cache = trunk
    config = tiny(20, init_from=f"{trunk_dir}:10")
    config.data.cache_dir = cache
    train(config, tmp_path)
    _, want = load_params(trunk_dir, 20)
    _, got = load_params(tmp_path, 20)
    for a, b in zip(jax.tree.leaves(want), jax.tree.leaves(got), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))  # same params, bit for bit
    assert rows(tmp_path)[0]["step"] == 11


def test_cooldown_branch_flops_are_trunk_plus_branch(trunk, tmp_path):
    trunk_dir, cache = trunk
    config = tiny(14, schedule="wsd", init_from=f"{trunk_dir}:10", decay_fraction=4 / 14)
    config.data.cache_dir = cache
    train(config, tmp_path)
    fpt = json.loads((tmp_path / "run.json").read_text())["flops_per_token"]
    tokens_per_step = 8 * 32
    last = rows(tmp_path, "eval")[-1]
    assert last["step"] == 14
    assert last["tokens"] == 14 * tokens_per_step  # 10 trunk steps + 4 cooldown steps
    assert last["flops"] == (10 + 4) * tokens_per_step * fpt
    lrs = [r["lr"] for r in rows(tmp_path)]
    assert lrs[0] < 3e-3 and lrs[-1] == pytest.approx(3e-3 * 0.1)  # cools from the first step


def test_init_from_refuses_a_shape_change_and_a_missing_step(trunk, tmp_path):
    trunk_dir, cache = trunk
    wider = tiny(20, init_from=f"{trunk_dir}:10")
    wider.model.update(d_model=32, n_heads=2, n_kv_heads=2)
    wider.data.cache_dir = cache
    with pytest.raises(CheckpointError, match="d_model"):
        train(wider, tmp_path / "wider")
    missing = tiny(20, init_from=f"{trunk_dir}:7")
    missing.data.cache_dir = cache
    with pytest.raises(CheckpointError, match="no checkpoint at step 7"):
        train(missing, tmp_path / "missing")


def test_init_from_must_name_a_step():
    config = tiny(20, init_from="runs/trunk")
    with pytest.raises(ValueError, match="WORKDIR:STEP"):
        validate(config)
