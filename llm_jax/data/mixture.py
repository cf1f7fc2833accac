"""Weighted mixtures: each step's rows drawn from named sources, a pure function of (seed, step).

Global rows (row r of step s is s * batch_size + r, as for one corpus) are cut into blocks of
BLOCK rows. Every block holds a fixed quota of rows per source (the weights apportioned by largest
remainder) in an order shuffled by (seed, block). So how many rows a source received before any
row is a closed form, and a source reads its own rows epoch by epoch in its own permutation,
exactly as a single corpus does: any step is computed directly, on any number of processes.
"""

from __future__ import annotations

import functools
import logging

import numpy as np

from llm_jax.data.inputs import DataError
from llm_jax.data.loader import _gather, _local_size, n_windows
from llm_jax.data.order import window_order

log = logging.getLogger("llm_jax")

BLOCK = 4096  # rows per block; a weight must be ≥ 1/BLOCK of the total to get a row


def apportion(weights, total: int) -> np.ndarray:
    """Integer shares of ``total`` proportional to weights (largest remainder)."""
    exact = np.asarray(weights, dtype=np.float64) / np.sum(weights) * total
    shares = np.floor(exact).astype(np.int64)
    order = np.argsort(-(exact - shares), kind="stable")
    shares[order[: total - shares.sum()]] += 1
    return shares


class Mixture:
    """Sources (TokenStreams) with weights → batches; ``repeat=False`` refuses a second epoch."""

    def __init__(self, names, streams, weights, seq_len: int, repeat: bool = True):
        self.names, self.streams, self.repeat = list(names), list(streams), repeat
        self.shares = np.asarray(weights, dtype=np.float64) / np.sum(weights)
        self.windows = [n_windows(len(s), seq_len) for s in self.streams]
        for name, n in zip(self.names, self.windows, strict=True):
            if n < 1:
                raise DataError(
                    f"data.mixture source {name!r} has fewer than one window of "
                    f"data.seq_len+1={seq_len + 1} training tokens; give it more data"
                )
        self.quota = apportion(self.shares, BLOCK)
        if not self.quota.all():
            small = self.names[int(np.argmin(self.quota))]
            raise DataError(
                f"data.mixture source {small!r}: its weight is below 1/{BLOCK} of the total, so "
                "it would never be drawn; raise it or drop the source"
            )
        self._layout = np.repeat(np.arange(len(self.names)), self.quota)
        self._block = functools.lru_cache(maxsize=4)(self._block_order)
        self._epochs_logged = [0] * len(self.names)

    def _block_order(self, seed: int, block: int) -> tuple[np.ndarray, np.ndarray]:
        """Source of each row of a block, and the row's rank among that source's rows there."""
        order = np.random.default_rng([seed % 2**63, block, 1]).permutation(BLOCK)
        source = self._layout[order]
        rank = np.empty(BLOCK, dtype=np.int64)
        for k in range(len(self.names)):
            here = np.flatnonzero(source == k)
            rank[here] = np.arange(len(here))
        return source, rank

    def rows_before(self, n_rows: int, seed: int) -> np.ndarray:
        """Rows each source received among global rows [0, n_rows)."""
        full, rest = divmod(n_rows, BLOCK)
        source, _ = self._block(int(seed), full)
        return full * self.quota + np.bincount(source[:rest], minlength=len(self.names))

    def epochs(self, n_rows: int, seed: int) -> dict[str, float]:
        """Passes over each source's training windows that n_rows global rows make."""
        rows = self.rows_before(n_rows, seed)
        return {n: float(r / w) for n, r, w in zip(self.names, rows, self.windows, strict=True)}

    def batch_at(
        self, step, *, seed, batch_size, seq_len, process_index=0, process_count=1
    ) -> np.ndarray:
        """This process's rows of the global batch of ``step``: int32 (local batch, seq_len + 1)."""
        local = _local_size(batch_size, process_count, process_index)
        rows = step * batch_size + process_index * local + np.arange(local, dtype=np.int64)
        blocks, positions = np.divmod(rows, BLOCK)
        sources, index = np.empty_like(rows), np.empty_like(rows)
        for block in np.unique(blocks):  # a batch can straddle a block boundary
            here = blocks == block
            source, rank = self._block(int(seed), int(block))
            sources[here] = source[positions[here]]
            index[here] = block * self.quota[sources[here]] + rank[positions[here]]
        out = np.empty((local, seq_len + 1), dtype=np.int32)
        for k in np.unique(sources):
            here = sources == k
            epochs, offsets = np.divmod(index[here], self.windows[k])
            self._note_epoch(int(k), int(epochs.max()), int(step))
            windows = np.empty_like(offsets)
            for epoch in np.unique(epochs):  # each source has its own stream of orders
                mine = epochs == epoch
                order = (self.windows[k], int(seed), int(epoch), offsets[mine], (2, int(k)))
                windows[mine] = window_order(*order)
            out[here] = _gather(self.streams[k], windows * seq_len, seq_len + 1)
        return out

    def _note_epoch(self, k: int, epoch: int, step: int) -> None:
        if epoch <= self._epochs_logged[k]:
            return
        if not self.repeat:
            raise DataError(
                f"data.mixture source {self.names[k]!r} ran out at step {step} and "
                "data.repeat=False; add data, lower its weight, or set data.repeat=True"
            )
        self._epochs_logged[k] = epoch
        log.info("data source %r: epoch %d begins at step %d", self.names[k], epoch + 1, step)
