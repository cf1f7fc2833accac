"""Decoding ≡ full forward, strategy filters on hand-made distributions, seeds, EOS, limits."""

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.stats

from llm_jax import sampling
from llm_jax.config import get_default_config
from llm_jax.model import Transformer
from llm_jax.sampling import Sampler

PROMPTS = [[1, 2, 3, 4, 5], [7, 8], [9, 10, 11, 12, 13, 14, 15]]  # different lengths: padding
N_NEW = 10
GREEDY = Sampler(temperature=0.0)


def tiny_cfg(**overrides):
    """A small model whose logits are far from uniform (init_std 0.2), so argmax is meaningful."""
    cfg = get_default_config().model
    cfg.update(vocab_size=61, d_model=32, n_layers=2, n_heads=4, n_kv_heads=4, d_ff=64)
    cfg.update(max_seq_len=32, init_std=0.2, **overrides)
    return cfg


def random_params(cfg, seed: int = 0):
    """Normal(0, init_std) params of the model's shapes, without compiling init (~7 s on CPU)."""
    shapes = jax.eval_shape(Transformer(cfg).init, jax.random.key(0), jnp.zeros((1, 1), jnp.int32))
    rng = np.random.default_rng(seed)
    return jax.tree.map(
        lambda s: rng.normal(0, cfg.init_std, s.shape).astype(s.dtype),
        nn.meta.unbox(shapes["params"]),
    )


@functools.cache
def model_and_params(**overrides):
    cfg = tiny_cfg(**overrides)
    return cfg, random_params(cfg)


def full_forward_logits(cfg, params, prompts, completion):
    """Logits that chose each generated token, from one uncached forward of prompt + completion."""
    seqs = [list(p) + [int(t) for t in row] for p, row in zip(prompts, completion, strict=True)]
    length = max(map(len, seqs))
    # Right padding is harmless: causal attention never lets a real token see it.
    batch = np.zeros((len(seqs), length), np.int32)
    for i, s in enumerate(seqs):
        batch[i, : len(s)] = s
    logits_BLV = np.asarray(jax.jit(Transformer(cfg).apply)({"params": params}, batch))
    return np.stack([logits_BLV[i, len(p) - 1 : len(p) - 1 + N_NEW] for i, p in enumerate(prompts)])


VARIANTS = {
    "rope": {},
    "sinusoidal": {"pos_encoding": "sinusoidal"},
    "learned": {"pos_encoding": "learned"},
    "gqa": {"n_kv_heads": 2},
}
SLOW_VARIANTS = {
    "mqa_none": {"n_kv_heads": 1, "pos_encoding": "none"},
    "layer_loop": {"scan_layers": False, "pos_encoding": "learned"},
}


@functools.cache
def greedy_run(variant):
    cfg, params = model_and_params(**(VARIANTS | SLOW_VARIANTS)[variant])
    out = sampling.generate(
        cfg, params, PROMPTS, max_new_tokens=N_NEW, sampler=GREEDY, return_logits=True
    )
    return out, full_forward_logits(cfg, params, PROMPTS, out.tokens)


@pytest.mark.parametrize(
    "variant", [*VARIANTS, *(pytest.param(v, marks=pytest.mark.slow) for v in SLOW_VARIANTS)]
)
def test_cached_decode_matches_full_forward(variant):
    out, full_BNV = greedy_run(variant)
    assert out.n_tokens.tolist() == [N_NEW] * len(PROMPTS)
    np.testing.assert_allclose(out.logits, full_BNV, rtol=0, atol=1e-5)


@pytest.mark.parametrize("variant", ["rope", "gqa"])
def test_greedy_is_argmax_of_full_forward_and_deterministic(variant):
    out, full_BNV = greedy_run(variant)
    np.testing.assert_array_equal(out.tokens, full_BNV.argmax(-1))
    cfg, params = model_and_params(**VARIANTS[variant])
    again = sampling.generate(cfg, params, PROMPTS, max_new_tokens=N_NEW, sampler=GREEDY, seed=7)
    np.testing.assert_array_equal(again.tokens, out.tokens)


def test_temperature_zero_is_greedy_whatever_the_filters():
    cfg, params = model_and_params()
    cold = Sampler(temperature=0.0, top_k=3, top_p=0.5, min_p=0.2)
    out = sampling.generate(cfg, params, PROMPTS, max_new_tokens=N_NEW, sampler=cold, seed=3)
    np.testing.assert_array_equal(out.tokens, greedy_run("rope")[0].tokens)


WARM = Sampler(temperature=1.5, top_k=40)


def sample(prompts, **kwargs):
    cfg, params = model_and_params()
    return sampling.generate(cfg, params, prompts, max_new_tokens=N_NEW, sampler=WARM, **kwargs)


def test_seeded_sampling_is_reproducible():
    a, b, c = sample(PROMPTS, seed=1), sample(PROMPTS, seed=1), sample(PROMPTS, seed=2)
    np.testing.assert_array_equal(a.tokens, b.tokens)
    assert (a.tokens != c.tokens).any()


@pytest.mark.slow
def test_a_row_samples_the_same_alone_or_in_a_batch():
    alone = sample(PROMPTS[2:], seed=1, first_row=2)  # row 2 on its own draws the same randomness
    np.testing.assert_array_equal(alone.tokens[0], sample(PROMPTS, seed=1).tokens[2])


def test_eos_stops_only_its_row():
    cfg, params = model_and_params()
    base = greedy_run("rope")[0].tokens
    # As EOS, a token that row 0 first emits at some step s ≥ 1 and that rows 1 and 2 never emit.
    s, eos = next(
        (s, int(t))
        for s, t in enumerate(base[0])
        if s > 0 and t not in base[0, :s] and t not in base[1:]
    )
    out = sampling.generate(cfg, params, PROMPTS, max_new_tokens=N_NEW, sampler=GREEDY, eos_id=eos)
    assert out.n_tokens.tolist() == [s + 1, N_NEW, N_NEW]
    assert out.tokens[0].tolist() == base[0, : s + 1].tolist() + [0] * (N_NEW - s - 1)  # then pad
    np.testing.assert_array_equal(out.tokens[1:], base[1:])
    assert out.rows()[0] == base[0, :s].tolist()  # rows() strips the EOS


def test_all_rows_done_ends_the_loop_early():
    cfg, params = model_and_params()
    base = greedy_run("rope")[0].tokens[0]
    s = next(s for s, t in enumerate(base) if t not in base[:s])  # EOS first emitted at step s
    steps = []
    out = sampling.generate(
        cfg,
        params,
        PROMPTS[:1],
        max_new_tokens=N_NEW,
        sampler=GREEDY,
        eos_id=int(base[s]),
        on_step=lambda step, tokens, done: steps.append((step, tokens.tolist(), done.tolist())),
    )
    assert [step for step, _, _ in steps] == list(range(s + 1))  # in order, none after the EOS
    assert [t[0] for _, t, _ in steps] == out.tokens[0, : s + 1].tolist()


def test_streaming_calls_share_one_compiled_loop_and_each_reaches_its_own_on_step():
    cfg, params = model_and_params()
    streamed = ([], [])
    before = sampling._decode_fn.cache_info()
    outs = [
        sampling.generate(
            cfg,
            params,
            PROMPTS,
            max_new_tokens=N_NEW,
            sampler=GREEDY,
            on_step=lambda step, tokens, done, i=i: streamed[i].append(tokens.tolist()),
        )
        for i in (0, 1)
    ]
    after = sampling._decode_fn.cache_info()
    assert after.misses - before.misses <= 1 and after.hits - before.hits >= 1
    for out, steps in zip(outs, streamed, strict=True):
        assert np.array(steps).T.tolist() == out.tokens.tolist()


def test_prompt_plus_new_tokens_beyond_max_seq_len_is_a_clear_error():
    cfg, params = model_and_params()
    with pytest.raises(ValueError, match="exceeds model.max_seq_len=32"):
        sampling.generate(cfg, params, [[1] * 30], max_new_tokens=3)
    with pytest.raises(ValueError, match="at least one token"):
        sampling.generate(cfg, params, [[1], []], max_new_tokens=3)


def test_invalid_sampler_names_the_rule():
    with pytest.raises(ValueError, match="0 < top_p ≤ 1"):
        Sampler(top_p=0.0)


# A hand-made distribution with known filtered values (printed to three decimals).
LOGITS = jnp.array([[2.0, 1.0, 0.1, 1.5, -0.5]])


@pytest.mark.parametrize(
    "temperature, expected",
    [(1.0, [0.453, 0.167, 0.068, 0.275, 0.037]), (0.5, [0.652, 0.088, 0.015, 0.240, 0.004])],
)
def test_temperature_softmax_on_hand_made_logits(temperature, expected):
    probs = jax.nn.softmax(sampling.process_logits(LOGITS, Sampler(temperature=temperature)))[0]
    # The reference values are printed to three decimals (0.6526 appears as 0.652), so agree
    # to within one unit there…
    np.testing.assert_allclose(probs, expected, atol=1e-3)
    # …and to float32 precision with a float64 reference.
    z = np.asarray(LOGITS[0], np.float64) / temperature
    np.testing.assert_allclose(probs, np.exp(z) / np.exp(z).sum(), rtol=1e-6)


def kept(logits_BV):
    return np.flatnonzero(np.isfinite(np.asarray(logits_BV)[0])).tolist()


def test_top_k_keeps_exactly_k_largest():
    assert kept(sampling.top_k_filter(LOGITS, 2)) == [0, 3]
    assert kept(sampling.top_k_filter(jnp.array([[1.0, 3.0, 3.0, 3.0]]), 2)) == [1, 2]  # ties


@pytest.mark.parametrize("p, expected", [(0.5, [0, 1]), (0.6, [0, 1, 2]), (0.75, [0, 1, 2, 3])])
def test_top_p_keeps_smallest_set_reaching_p(p, expected):
    probs = np.array([0.25, 0.25, 0.125, 0.125] + [0.25 / 8] * 8)
    perm = np.random.default_rng(0).permutation(len(probs))  # order must not matter
    logits = jnp.log(jnp.asarray(probs[perm]))[None]
    assert sorted(perm[kept(sampling.top_p_filter(logits, p))].tolist()) == expected


def test_min_p_keeps_tokens_within_ratio_of_the_top():
    # p / p_max = [1, 0.368, 0.150, 0.607, 0.082] (exp of logit differences)
    assert kept(sampling.min_p_filter(LOGITS, 0.3)) == [0, 1, 3]
    assert kept(sampling.min_p_filter(LOGITS, 0.1)) == [0, 1, 2, 3]


def test_repetition_penalty_divides_positive_and_multiplies_negative_seen_logits():
    seen = jnp.array([[True, False, False, True, True]])
    out = sampling.penalize_repetition(LOGITS, seen, 2.0)
    np.testing.assert_allclose(out[0], [1.0, 1.0, 0.1, 0.75, -1.0])


def test_filters_compose_in_order():
    # T=0.5 then top-k 3 leaves [0.652, 0.088, 0.240] renormalised; top-p 0.7 then keeps {0, 3}.
    logits = sampling.process_logits(LOGITS, Sampler(temperature=0.5, top_k=3, top_p=0.7))
    assert kept(logits) == [0, 3]


def test_sampled_frequencies_match_filtered_distribution():
    """Chi-square: 20k draws from T=1, top-k 3 must follow the renormalised survivors."""
    sampler = Sampler(temperature=1.0, top_k=3)
    n = 20_000
    keys = jax.random.split(jax.random.key(0), n)
    draws = sampling.choose(jnp.broadcast_to(LOGITS, (n, 5)), keys, sampler)
    counts = np.bincount(np.asarray(draws), minlength=5)
    assert counts[[2, 4]].sum() == 0  # filtered tokens are never drawn
    survivors = np.exp(np.asarray(LOGITS[0, jnp.array([0, 1, 3])], np.float64))
    expected = survivors / survivors.sum() * n  # float64: scipy needs the sums to agree
    _, p_value = scipy.stats.chisquare(counts[[0, 1, 3]], expected)
    assert p_value > 1e-3
