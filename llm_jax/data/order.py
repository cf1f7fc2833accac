"""Epoch orders: a seeded permutation of [0, n) windows, evaluated at any positions.

Up to MATERIALIZE windows the order is numpy's permutation, stored (and cached) whole: the order
every run has used. Above, storing it would take 8 bytes per window in every process (64 GB for
8G windows), so the order is a keyed Feistel network on the next even power of two, cycle-walked
into [0, n): a bijection computed per position, in chunks of consecutive positions (a batch's
rows are consecutive), in O(1) memory.
"""

from __future__ import annotations

import functools

import numpy as np

MATERIALIZE = 1 << 22  # windows; a stored order of this many takes 32 MB
_CHUNK = 1 << 16  # positions whose computed order is cached together (512 KB)
_ROUNDS = 4


def window_order(n: int, seed: int, epoch: int, positions, stream: tuple = ()) -> np.ndarray:
    """Windows at ``positions`` of epoch ``epoch``'s order of n windows (int64)."""
    if n <= MATERIALIZE:
        return _permutation(n, seed, epoch, stream)[positions]
    chunks, offsets = np.divmod(np.asarray(positions, dtype=np.int64), _CHUNK)
    out = np.empty(len(chunks), dtype=np.int64)
    for chunk in np.unique(chunks):  # consecutive steps read the same chunk: computed once
        here = chunks == chunk
        out[here] = _chunk(n, seed, epoch, stream, int(chunk))[offsets[here]]
    return out


@functools.lru_cache(maxsize=32)
def _chunk(n: int, seed: int, epoch: int, stream: tuple, chunk: int) -> np.ndarray:
    """The order at positions [chunk * _CHUNK, (chunk + 1) * _CHUNK), vectorized at once."""
    positions = np.arange(chunk * _CHUNK, min((chunk + 1) * _CHUNK, n), dtype=np.uint64)
    return _feistel(n, _keys(seed, epoch, stream), positions)


@functools.lru_cache(maxsize=8)
def _permutation(n: int, seed: int, epoch: int, stream: tuple) -> np.ndarray:
    """Window order of one epoch; cached because every step of the epoch needs it."""
    return np.random.default_rng([seed % 2**63, epoch, *stream]).permutation(n)


@functools.lru_cache(maxsize=64)
def _keys(seed: int, epoch: int, stream: tuple) -> np.ndarray:
    rng = np.random.default_rng([seed % 2**63, epoch, *stream, 0xFE15])
    return rng.integers(0, 2**63, size=_ROUNDS, dtype=np.uint64)


def _feistel(n: int, keys: np.ndarray, positions: np.ndarray) -> np.ndarray:
    half = max(1, (int(n - 1).bit_length() + 1) // 2)  # 2 * half bits cover [0, n)
    out, walking = positions.copy(), np.ones(len(positions), dtype=bool)
    while walking.any():  # re-apply until inside [0, n): ≤ 4 times in expectation
        out[walking] = _rounds(out[walking], keys, half)
        walking &= out >= n
    return out.astype(np.int64)


def _rounds(x: np.ndarray, keys: np.ndarray, half: int) -> np.ndarray:
    """A balanced Feistel network on 2 * half bits: a bijection for any round function."""
    shift, mask = np.uint64(half), np.uint64((1 << half) - 1)
    left, right = x >> shift, x & mask
    for key in keys:
        left, right = right, left ^ (_mix(right ^ key) & mask)
    return (left << shift) | right


def _mix(z: np.ndarray) -> np.ndarray:
    """SplitMix64's finalizer: every input bit affects every output bit."""
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))
