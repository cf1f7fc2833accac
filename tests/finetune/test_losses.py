"""The fine-tuning objectives: the SFT mask, packing ≡ one example per row, the segment mask,
and the preference losses against hand computations."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from llm_jax.config import get_default_config
from llm_jax.data import ByteTokenizer
from llm_jax.data.chat import ChatTemplate, render
from llm_jax.data.packing import pack_rows, to_rows
from llm_jax.finetune import losses
from llm_jax.model import Transformer
from tests.model.helpers import tiny_config

TOK, TEMPLATE = ByteTokenizer(), ChatTemplate()
SEQ = 96


def _examples():
    pairs = [
        ("abc", "cba"),
        ("hello there", "x"),
        ("q", "a longer answer"),
        ("", "e"),
        ("zz", "yy"),
    ]
    return [
        render(TEMPLATE, TOK, [{"role": "user", "content": p}, {"role": "assistant", "content": r}])
        for p, r in pairs
    ]


def _model(**overrides):
    cfg = tiny_config(vocab_size=TOK.vocab_size, max_seq_len=SEQ, **overrides)
    model = Transformer(cfg)
    params = jax.jit(model.init)(jax.random.PRNGKey(0), jnp.zeros((1, SEQ), jnp.int32))["params"]
    return model, params


def _train_cfg():
    return get_default_config().train


def test_sft_loss_sees_response_targets_only():
    model, params = _model()
    examples = _examples()
    rows = to_rows(examples, pack_rows([len(e.ids) for e in examples], SEQ, 0), SEQ, TOK.pad_id)
    loss = float(losses.sft_loss(model, _train_cfg(), params, rows)[0])
    prompt = (rows["weights"] == 0) & (rows["positions"] >= 0)
    changed = dict(rows, targets=np.where(prompt, (rows["targets"] + 7) % 256, rows["targets"]))
    assert prompt.sum() > 50 and (changed["targets"] != rows["targets"]).sum() == prompt.sum()
    assert float(losses.sft_loss(model, _train_cfg(), params, changed)[0]) == loss
    response = np.argwhere(rows["weights"] > 0)[3]
    one = rows["targets"].copy()
    one[tuple(response)] = (one[tuple(response)] + 1) % 256
    assert (
        abs(float(losses.sft_loss(model, _train_cfg(), params, dict(rows, targets=one))[0]) - loss)
        > 1e-4
    )


def _per_example_losses(model, params, rows, row_of):
    """Mean response cross-entropy of each example, read off its segment in its row."""
    logits = model.apply({"params": params}, rows["inputs"], rows["positions"], rows["segments"])
    log_p = jax.nn.log_softmax(logits, -1)
    nll = -np.asarray(jnp.take_along_axis(log_p, rows["targets"][..., None], -1)[..., 0])
    out = []
    for row, segment in row_of:
        here = (rows["segments"][row] == segment) * rows["weights"][row]
        out.append((nll[row] * here).sum() / here.sum())
    return np.asarray(out)


@pytest.mark.parametrize(
    "overrides",
    [dict(), dict(pos_encoding="learned", attention="auto"), dict(scan_layers=False, n_kv_heads=1)],
)
def test_packed_rows_equal_one_example_per_row(overrides):
    model, params = _model(**overrides)
    examples = _examples()
    layout = pack_rows([len(e.ids) for e in examples], SEQ, seed=0)
    assert len(layout) < len(examples)  # several examples do share rows
    packed = to_rows(examples, layout, SEQ, TOK.pad_id)
    where = {i: (r, s) for r, row in enumerate(layout) for s, i in enumerate(row, 1)}
    single = to_rows(examples, [[i] for i in range(len(examples))], SEQ, TOK.pad_id)
    a = _per_example_losses(model, params, packed, [where[i] for i in range(len(examples))])
    b = _per_example_losses(model, params, single, [(i, 1) for i in range(len(examples))])
    np.testing.assert_allclose(a, b, atol=1e-5, rtol=0)


@pytest.mark.parametrize("attention", ["xla", "auto"])
def test_segment_mask_blocks_attention_across_examples(attention):
    """d loss(example 2) / d embedded(example 1's tokens) is exactly 0, and not for its own."""
    model, params = _model(attention=attention)
    examples = _examples()
    rows = to_rows(examples, [[0, 1]], SEQ, TOK.pad_id)
    n0, n1 = len(examples[0].ids), len(examples[1].ids)
    variables = model.init(jax.random.PRNGKey(0), rows["inputs"])
    zero = jax.tree.map(jnp.zeros_like, variables["perturbations"])

    def second_example_loss(p):
        logits = model.apply(
            {"params": params, "perturbations": p},
            rows["inputs"], rows["positions"], rows["segments"],
        )  # fmt: skip
        nll = -jnp.take_along_axis(jax.nn.log_softmax(logits, -1), rows["targets"][..., None], -1)
        return (nll[..., 0] * rows["weights"] * (rows["segments"] == 2)).sum()

    grad = np.abs(np.asarray(jax.grad(second_example_loss)(zero)["embedded"])).sum(-1)[0]
    assert (grad[:n0] == 0).all()
    assert (grad[n0 : n0 + n1 - 1] > 0).all()
    without_segments = jax.grad(
        lambda p: (model.apply({"params": params, "perturbations": p}, rows["inputs"])).sum()
    )(zero)["embedded"]
    assert np.abs(np.asarray(without_segments))[0, :n0].sum() > 0  # the mask is what blocks


def test_one_segment_equals_no_segments_and_decoding_refuses_them():
    model, params = _model()
    tokens = jnp.asarray(_examples()[0].ids[None, :])
    plain = model.apply({"params": params}, tokens)
    segmented = model.apply({"params": params}, tokens, None, jnp.ones_like(tokens))
    np.testing.assert_array_equal(plain, segmented)
    decoder = Transformer(model.cfg, decode=True)
    cache = decoder.init(jax.random.PRNGKey(0), tokens)["cache"]
    with pytest.raises(ValueError, match="segment ids"):
        decoder.apply(
            {"params": params, "cache": cache},
            tokens,
            None,
            jnp.ones_like(tokens),
            mutable=["cache"],
        )


def _sigmoid(x):
    return 1 / (1 + math.exp(-x))


def test_dpo_ipo_and_bradley_terry_equal_hand_computations():
    policy_c, policy_r = jnp.array([-10.0, -4.0]), jnp.array([-12.0, -3.0])
    ref_c, ref_r = jnp.array([-11.0, -5.0]), jnp.array([-11.0, -5.0])
    # h = (pc - rc) - (pr - rr): pair 0: 1 - (-1) = 2; pair 1: 1 - 2 = -1.
    loss, margin = losses.dpo(policy_c, policy_r, ref_c, ref_r, beta=0.1, kind="sigmoid")
    np.testing.assert_allclose(
        loss, [-math.log(_sigmoid(0.2)), -math.log(_sigmoid(-0.1))], rtol=1e-6
    )
    np.testing.assert_allclose(margin, [0.2, -0.1], rtol=1e-6)
    loss, _ = losses.dpo(policy_c, policy_r, ref_c, ref_r, beta=0.1, kind="ipo")
    np.testing.assert_allclose(loss, [(2 - 5) ** 2, (-1 - 5) ** 2], rtol=1e-6)  # 1/(2β) = 5
    loss, margin = losses.bradley_terry(jnp.array([1.5, 0.0]), jnp.array([0.5, 2.0]))
    np.testing.assert_allclose(
        loss, [-math.log(_sigmoid(1.0)), -math.log(_sigmoid(-2.0))], rtol=1e-6
    )
    np.testing.assert_array_equal(losses.accuracy(jnp.array([0.3, 0.0, -1e-9])), [1.0, 0.5, 0.0])
    means = losses.weighted_means({"x": jnp.array([1.0, 3.0, 100.0])}, jnp.array([1.0, 1.0, 0.0]))
    assert float(means["x"]) == 2.0  # padding pairs do not count


def test_sequence_logprobs_and_rewards_read_the_response():
    model, params = _model()
    chat = [{"role": "user", "content": "hi"}]
    chosen = render(TEMPLATE, TOK, [*chat, {"role": "assistant", "content": "yes"}])
    rejected = render(TEMPLATE, TOK, [*chat, {"role": "assistant", "content": "no way"}])
    pairs = {
        "chosen": to_rows([chosen], [[0]], SEQ, TOK.pad_id),
        "rejected": to_rows([rejected], [[0]], SEQ, TOK.pad_id),
    }
    logp = np.asarray(losses.sequence_logprobs(model, params, pairs))
    logits = model.apply({"params": params}, jnp.asarray(chosen.ids[None]))
    log_p = np.asarray(jax.nn.log_softmax(logits, -1))[0]
    start = chosen.response_start  # tokens y<eos> predicted from the positions before them
    by_hand = sum(log_p[i - 1, chosen.ids[i]] for i in range(start, len(chosen.ids)))
    np.testing.assert_allclose(logp[0, 0], by_hand, rtol=1e-5)
    reward_model = Transformer(model.cfg, head="reward")
    reward_params = reward_model.init(jax.random.PRNGKey(1), jnp.zeros((1, SEQ), jnp.int32))[
        "params"
    ]
    r = np.asarray(losses.rewards(reward_model, reward_params, pairs))
    alone = reward_model.apply({"params": reward_params}, jnp.asarray(rejected.ids[None]))
    np.testing.assert_allclose(r[0, 1], np.asarray(alone)[0, -1], rtol=1e-5)  # at the final EOS
