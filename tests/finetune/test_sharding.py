"""Fine-tuning batches (pytrees with (B, L) and (B,) leaves) shard over a (2, 2, 2) mesh and
train to the same losses as on one device, for every objective."""

import jax
import numpy as np
import pytest

from llm_jax.data.chat import Rendered
from llm_jax.data.packing import RowSet, pack_rows, to_rows
from llm_jax.finetune.preference import RewardModeling, dpo_objective
from llm_jax.finetune.sft import SupervisedFineTuning
from llm_jax.train.setup import build
from llm_jax.train.state import init_state
from tests.sharding.helpers import SEQ, config

VOCAB = 320
BATCH = 8


def _examples(n, seed):
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        length = int(rng.integers(4, SEQ + 1))
        ids = rng.integers(0, 256, size=length).astype(np.int32)
        trained = np.arange(length) >= rng.integers(1, length)
        out.append(Rendered(ids, trained, int(np.argmax(trained))))
    return out


def _rows(mode):
    if mode == "sft":
        examples = _examples(64, 0)
        return RowSet(
            to_rows(examples, pack_rows([len(e.ids) for e in examples], SEQ, 0), SEQ, 0), ""
        )
    one = [[i] for i in range(32)]
    arrays = {
        "chosen": to_rows(_examples(32, 1), one, SEQ, 0),
        "rejected": to_rows(_examples(32, 2), one, SEQ, 0),
        "valid": np.ones(32, np.float32),
    }
    if mode == "dpo":
        rng = np.random.default_rng(3)
        arrays.update(ref_chosen=-rng.uniform(5, 20, 32).astype(np.float32))
        arrays.update(ref_rejected=-rng.uniform(5, 20, 32).astype(np.float32))
    return RowSet(arrays, "")


OBJECTIVES = {
    "sft": lambda c: SupervisedFineTuning.objective,
    "reward": lambda c: RewardModeling.objective,
    "dpo": lambda c: dpo_objective(c.train),
}


def _train(mode, mesh, n_devices):
    c = config(*mesh, vocab_size=VOCAB)
    c.data.batch_size = BATCH
    parts = build(c, devices=jax.devices()[:n_devices], objective=OBJECTIVES[mode](c))
    state = init_state(parts.model, parts.tx, SEQ, c.train.seed, parts.state_shardings)
    rows, out = _rows(mode), []
    for step in range(3):
        batch = parts.global_batch(rows.batch_at(step, seed=0, batch_size=BATCH))
        state, metrics = parts.train_step(state, batch)
        out.append({k: float(v) for k, v in jax.device_get(metrics).items()})
    evals = jax.device_get(parts.eval_step(state.params, batch))
    return out, {k: float(v) for k, v in evals.items()}


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["sft", "reward", "dpo"])
def test_a_2x2x2_mesh_trains_like_one_device(mode):
    sharded, single = _train(mode, (2, 2, 2), 8), _train(mode, (1, 1, 1), 1)
    for key in sharded[0][0]:
        np.testing.assert_allclose(
            [m[key] for m in sharded[0]], [m[key] for m in single[0]], rtol=1e-4, atol=1e-6,
            err_msg=key,
        )  # fmt: skip
    assert len({m["loss"] for m in single[0]}) > 1  # it trained
    for key in single[1]:
        np.testing.assert_allclose(sharded[1][key], single[1][key], rtol=1e-4, err_msg=key)
