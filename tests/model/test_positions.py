"""RoPE and sinusoidal encodings against naive per-element references."""

import math

import jax
import numpy as np
import pytest

from llm_jax.model.positions import apply_rope, rope_lookup, rotate, sinusoidal


def table_rope(x, positions, theta):
    """The model's path: sin/cos looked up in the constant table (positions 0..15)."""
    return rotate(x, rope_lookup(positions, 16, x.shape[-1], theta))


@pytest.mark.parametrize("rope", [apply_rope, table_rope])
def test_rope_matches_naive_rotation(rope):
    b, length, h, k, theta = 2, 5, 3, 8, 10_000.0
    x = np.asarray(jax.random.normal(jax.random.PRNGKey(0), (b, length, h, k)))
    positions = np.array([[0, 1, 2, 3, 4], [7, 3, 9, 0, 2]])
    expected = np.empty_like(x)
    for bi in range(b):
        for li in range(length):
            for hi in range(h):
                for i in range(k // 2):
                    angle = positions[bi, li] * theta ** (-2 * i / k)
                    c, s = math.cos(angle), math.sin(angle)
                    x1, x2 = x[bi, li, hi, i], x[bi, li, hi, i + k // 2]
                    expected[bi, li, hi, i] = x1 * c - x2 * s
                    expected[bi, li, hi, i + k // 2] = x2 * c + x1 * s
    np.testing.assert_allclose(rope(x, positions, theta), expected, rtol=1e-5, atol=1e-5)


def test_rope_scores_depend_only_on_relative_position():
    q = jax.random.normal(jax.random.PRNGKey(1), (1, 1, 1, 16))
    k = jax.random.normal(jax.random.PRNGKey(2), (1, 1, 1, 16))

    def score(pq, pk):
        rq = apply_rope(q, np.array([[pq]]), 10_000.0)
        rk = apply_rope(k, np.array([[pk]]), 10_000.0)
        return float((rq * rk).sum())

    np.testing.assert_allclose(score(3, 1), score(12, 10), rtol=1e-4)
    assert abs(score(3, 1) - score(3, 2)) > 1e-4


def test_sinusoidal_matches_formula():
    d = 10
    positions = np.array([[0, 1, 5, 50]])
    pe = np.asarray(sinusoidal(positions, d))
    for j, p in enumerate(positions[0]):
        for i in range(d // 2):
            angle = p / 10_000 ** (2 * i / d)
            np.testing.assert_allclose(pe[0, j, 2 * i], math.sin(angle), atol=1e-5)
            np.testing.assert_allclose(pe[0, j, 2 * i + 1], math.cos(angle), atol=1e-5)
