"""Epoch orders: bijections of [0, n) at any positions, stored below MATERIALIZE, Feistel above."""

import numpy as np
import pytest

import llm_jax.data.order as order
from llm_jax.data import batch_at
from llm_jax.data.order import window_order


@pytest.mark.parametrize("n", [1, 2, 3, 1000, 4097, 65_536, 100_003])
def test_feistel_order_is_a_seeded_bijection(monkeypatch, n):
    monkeypatch.setattr(order, "MATERIALIZE", 0)  # the computed order for every n
    everything = window_order(n, 7, 0, np.arange(n))
    assert np.array_equal(np.sort(everything), np.arange(n))
    assert np.array_equal(window_order(n, 7, 0, np.arange(n)[::-1]), everything[::-1])
    if n > 100:
        assert not np.array_equal(everything, np.arange(n))  # shuffled
        for other in (window_order(n, 7, 1, np.arange(n)), window_order(n, 8, 0, np.arange(n))):
            assert np.mean(other == everything) < 0.05  # epochs and seeds differ
        assert not np.array_equal(window_order(n, 7, 0, np.arange(n), (2, 0)), everything)


def test_small_corpora_keep_the_stored_permutation():
    n = 5000
    expected = np.random.default_rng([3, 2]).permutation(n)  # the order runs have always used
    np.testing.assert_array_equal(window_order(n, 3, 2, np.arange(n)), expected)


def test_large_corpus_batches_need_no_stored_order(monkeypatch):
    monkeypatch.setattr(order, "MATERIALIZE", 100)

    def stored(*args):
        raise AssertionError("a stored permutation of every window")

    monkeypatch.setattr(order, "_permutation", stored)
    tokens = np.arange(1000 * 4 + 1)  # 1000 windows of 4 + 1 tokens
    kw = dict(seed=1, batch_size=8, seq_len=4)
    seen = [int(r[0]) // 4 for s in range(250) for r in batch_at(tokens, s, **kw)]
    for epoch in (seen[:1000], seen[1000:]):
        assert sorted(epoch) == list(range(1000)) and epoch != sorted(epoch)
    assert seen[:1000] != seen[1000:]
