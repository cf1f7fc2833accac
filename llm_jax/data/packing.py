"""Fine-tuning examples → fixed-length rows, batched as a pure function of (seed, step).

An example of n tokens fills n slots of a row: inputs are its ids, targets the ids shifted by one
(the last slot has none), weights 1 where the target is a response token, positions 0..n-1,
segment k (1, 2, ...) for the row's k-th example. Padding has weight 0, position -1 and segment
0. SFT rows hold several examples (best fit, in a seeded order), so attention is masked by
segment; preference pairs take one row each, chosen and rejected in two aligned row sets.

Rows are built once; epoch e visits them in a permutation seeded by (seed, e), exactly as token
windows are visited in pretraining (loader.step_items), so resuming is exact.
"""

from __future__ import annotations

import bisect
import dataclasses

import jax
import numpy as np

from llm_jax.data.chat import Rendered
from llm_jax.data.loader import step_items
from llm_jax.data.sources import DataError


@dataclasses.dataclass
class Fitted:
    """What fitting to data.seq_len did to a set of examples."""

    kept: list  # the examples' index in the input, for those kept
    truncated: int  # prompts cut from the left
    skipped: int  # examples dropped (too_long=skip, or a response alone too long)

    def describe(self, what: str, seq_len: int) -> str:
        total = len(self.kept) + self.skipped
        return (
            f"{what}: {total} examples, {self.truncated} longer than data.seq_len={seq_len} "
            f"truncated (the prompt's left cut), {self.skipped} skipped"
        )


def fit(groups: list[tuple[Rendered, ...]], seq_len: int, too_long: str) -> tuple[list, Fitted]:
    """Fit each group (an example, or a pair sharing its prompt) into seq_len tokens.

    too_long="truncate" drops prompt tokens after the leading EOS, as many as the longest member
    needs (so a pair keeps one prompt); an example whose response alone does not fit, or any
    example too long with too_long="skip", is skipped. Both are counted.
    """
    out, kept, truncated = [], [], 0
    for i, group in enumerate(groups):
        excess = max(len(r.ids) for r in group) - seq_len
        if excess > 0 and (too_long == "skip" or excess > group[0].response_start - 1):
            continue
        if excess > 0:
            group = tuple(_cut_prompt(r, excess) for r in group)
            truncated += 1
        out.append(group)
        kept.append(i)
    return out, Fitted(kept, truncated, len(groups) - len(kept))


def _cut_prompt(r: Rendered, n: int) -> Rendered:
    keep = np.r_[0, np.arange(1 + n, len(r.ids))]  # the document-start EOS stays first
    return Rendered(r.ids[keep], r.trained[keep], r.response_start - n)


def pack_rows(lengths, seq_len: int, seed: int) -> list[list[int]]:
    """Examples per row: best fit (the fullest row with room) in a seeded order."""
    order = np.random.default_rng([seed % 2**63, 1]).permutation(len(lengths))
    rows: list[list[int]] = []
    free: list[tuple[int, int]] = []  # (room left, row), sorted
    for i in order:
        n = int(lengths[i])
        j = bisect.bisect_left(free, (n, -1))
        if j == len(free):
            rows.append([])
            room, row = seq_len, len(rows) - 1
        else:
            room, row = free.pop(j)
        rows[row].append(int(i))
        if room > n:
            bisect.insort(free, (room - n, row))
    return rows


def to_rows(examples: list[Rendered], rows: list[list[int]], seq_len: int, pad_id: int) -> dict:
    """Arrays (R, L): inputs, targets, weights, positions, segments (see the module doc)."""
    r = len(rows)
    out = empty_rows(r, seq_len, pad_id)
    for row, members in enumerate(rows):
        start = 0
        for segment, i in enumerate(members, 1):
            ids, trained, n = examples[i].ids, examples[i].trained, len(examples[i].ids)
            end = start + n
            out["inputs"][row, start:end] = ids
            out["targets"][row, start : end - 1] = ids[1:]
            out["weights"][row, start : end - 1] = trained[1:]
            out["positions"][row, start:end] = np.arange(n)
            out["segments"][row, start:end] = segment
            start = end
    return out


def empty_rows(n: int, seq_len: int, pad_id: int) -> dict:
    """n rows of padding only."""
    return {
        "inputs": np.full((n, seq_len), pad_id, np.int32),
        "targets": np.full((n, seq_len), pad_id, np.int32),
        "weights": np.zeros((n, seq_len), np.float32),
        "positions": np.full((n, seq_len), -1, np.int32),
        "segments": np.zeros((n, seq_len), np.int32),
    }


def non_pad_fraction(rows: dict) -> float:
    return float((rows["positions"] >= 0).mean())


class RowSet:
    """A pytree of arrays with R rows on axis 0, batched like token windows (a BatchIterator
    source: it has batch_at)."""

    def __init__(self, arrays, what: str):
        self.arrays = arrays
        self.n = len(jax.tree.leaves(arrays)[0])
        if self.n == 0:
            raise DataError(f"{what}: no examples left to train on (see the counts logged above)")

    def take(self, idx: np.ndarray):
        return jax.tree.map(lambda a: a[idx], self.arrays)

    def batch_at(self, step, *, seed, batch_size, seq_len=None, process_index=0, process_count=1):
        """This process's rows of step's global batch."""
        del seq_len  # rows have their length already
        slice_args = dict(process_index=process_index, process_count=process_count)
        return self.take(step_items(self.n, step, seed=seed, batch_size=batch_size, **slice_args))

    def fixed_batches(self, batch_size, empty, *, process_index=0, process_count=1) -> list:
        """Every row once, in order, in full batches (the last filled up with `empty` rows, which
        carry no weight); this process's rows of each."""
        local = batch_size // process_count
        n_batches = -(-self.n // batch_size)
        fill = n_batches * batch_size - self.n
        padded = jax.tree.map(lambda a, e: np.concatenate([a, e[:fill]]), self.arrays, empty)
        start = process_index * local
        return [
            jax.tree.map(lambda a, b=b: a[b * batch_size + start :][:local], padded)
            for b in range(n_batches)
        ]
