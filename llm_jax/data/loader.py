"""Deterministic batches: a pure function of (tokens, seed, step), prefetched by a thread.

The token array is cut into non-overlapping windows of seq_len + 1 tokens (stride seq_len, so
each target is the next window's first input). Epoch e visits every window once, in an order
seeded by (seed, e) (order.py). Global row r of step s is window number s * batch_size + r of
that endless sequence of epochs, so any step can be produced directly: resuming is exact, and
each process takes its own rows without coordination.
"""

from __future__ import annotations

import functools
import queue
import threading

import numpy as np

from llm_jax.data.order import window_order
from llm_jax.data.sources import DataError


def n_windows(n_tokens: int, seq_len: int) -> int:
    """How many seq_len+1 windows, at stride seq_len, fit in n_tokens."""
    return max(0, (n_tokens - 1) // seq_len)


def _local_size(batch_size: int, process_count: int, process_index: int) -> int:
    if batch_size % process_count:
        raise DataError(
            f"data.batch_size={batch_size} is not divisible by the process count {process_count}; "
            f"use a multiple of {process_count}"
        )
    if not 0 <= process_index < process_count:
        raise DataError(f"process_index={process_index} is not in [0, {process_count})")
    return batch_size // process_count


def _windows_of(tokens, seq_len: int, what: str) -> int:
    n = n_windows(len(tokens), seq_len)
    if n < 1:
        raise DataError(
            f"the {what} split has {len(tokens)} tokens, fewer than one window of "
            f"data.seq_len+1={seq_len + 1}; use more data or a shorter seq_len"
        )
    return n


def _gather(tokens, starts: np.ndarray, length: int) -> np.ndarray:
    """Rows tokens[start : start + length] as int32 (contiguous slices: cheap on a memmap)."""
    if hasattr(tokens, "gather"):  # a store split: reads just these windows, remote in one call
        return tokens.gather(starts, length)
    out = np.empty((len(starts), length), dtype=np.int32)
    for row, start in enumerate(starts):
        out[row] = tokens[start : start + length]
    return out


def step_items(n, step, *, seed, batch_size, process_index=0, process_count=1) -> np.ndarray:
    """Which of n items (windows, packed rows, ...) are this process's rows of step's batch."""
    local = _local_size(batch_size, process_count, process_index)
    rows = step * batch_size + process_index * local + np.arange(local, dtype=np.int64)
    epochs, positions = np.divmod(rows, n)
    items = np.empty_like(rows)
    for epoch in np.unique(epochs):  # a batch can straddle an epoch boundary
        here = epochs == epoch
        items[here] = window_order(n, int(seed), int(epoch), positions[here])
    return items


def batch_at(
    tokens, step, *, seed, batch_size, seq_len, process_index=0, process_count=1
) -> np.ndarray:
    """This process's rows of the global batch of ``step``: int32 (local batch, seq_len + 1)."""
    _local_size(batch_size, process_count, process_index)
    n = _windows_of(tokens, seq_len, "training")
    slice_args = dict(process_index=process_index, process_count=process_count)
    windows = step_items(n, step, seed=seed, batch_size=batch_size, **slice_args)
    return _gather(tokens, windows * seq_len, seq_len + 1)


class _Failure:
    """An exception raised in the prefetch thread, handed to the consumer."""

    def __init__(self, error: BaseException):
        self.error = error


class BatchIterator:
    """batch_at for consecutive steps, computed ``prefetch`` batches ahead by a background thread.

    ``tokens`` is a token array (or store split), or an object with its own ``batch_at`` (a
    Mixture, fine-tuning rows).

    ``for step, batch in it.iterate(start_step)``; call ``close()`` (or use ``with``) to stop the
    thread. ``prefetch=0`` computes each batch on demand, without a thread.
    """

    def __init__(
        self, tokens, *, seed, batch_size, seq_len, prefetch=2, process_index=0, process_count=1
    ):
        _local_size(batch_size, process_count, process_index)  # fail here, not in the thread
        if hasattr(tokens, "batch_at"):  # a Mixture or fine-tuning rows
            sample = tokens.batch_at
        else:
            _windows_of(tokens, seq_len, "training")
            sample = functools.partial(batch_at, tokens)
        self._batch = functools.partial(
            sample,
            seed=seed,
            batch_size=batch_size,
            seq_len=seq_len,
            process_index=process_index,
            process_count=process_count,
        )
        self._prefetch = prefetch
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def iterate(self, start_step: int = 0):
        """Yield (step, batch) for step = start_step, start_step + 1, ... (restarts the thread)."""
        self.close()
        if self._prefetch <= 0:
            return self._inline(start_step)
        self._stop = threading.Event()
        buffer: queue.Queue = queue.Queue(maxsize=self._prefetch)
        self._thread = threading.Thread(
            target=self._fill, args=(start_step, buffer, self._stop), daemon=True
        )
        self._thread.start()
        return self._drain(buffer, self._stop)

    def _inline(self, step: int):
        while True:
            yield step, self._batch(step)
            step += 1

    def _fill(self, step: int, buffer: queue.Queue, stop: threading.Event) -> None:
        """Producer: put batches until stopped; a failure is passed on, not swallowed."""
        try:
            while not stop.is_set():
                self._put(buffer, stop, (step, self._batch(step)))
                step += 1
        except BaseException as e:  # noqa: BLE001 - re-raised in the consumer
            self._put(buffer, stop, _Failure(e))

    @staticmethod
    def _put(buffer: queue.Queue, stop: threading.Event, item) -> None:
        while not stop.is_set():  # a timeout, so close() never waits on a full queue
            try:
                buffer.put(item, timeout=0.05)
                return
            except queue.Full:
                pass

    @staticmethod
    def _drain(buffer: queue.Queue, stop: threading.Event):
        while not stop.is_set():
            try:
                item = buffer.get(timeout=0.05)
            except queue.Empty:
                continue
            if isinstance(item, _Failure):
                raise item.error
            yield item

    def close(self) -> None:
        """Stop and join the prefetch thread (idempotent)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def eval_batches(
    val_tokens, *, seq_len, batch_size, eval_tokens, process_index=0, process_count=1
) -> list[np.ndarray]:
    """The fixed held-out set: ~eval_tokens in full batches of windows, this process's rows.

    Windows are spread evenly over the validation split (not its first documents), so the
    estimate covers every kind of held-out document; when the split has fewer windows than one
    batch they repeat, so every batch has the full (jit-friendly) shape.
    """
    local = _local_size(batch_size, process_count, process_index)
    n = _windows_of(val_tokens, seq_len, "validation")
    n_batches = max(1, min(eval_tokens // (batch_size * seq_len), n // batch_size))
    k = n_batches * batch_size
    windows = (np.arange(k, dtype=np.int64) * n // k) if k <= n else np.arange(k) % n
    starts = windows.reshape(n_batches, batch_size)[:, process_index * local :][:, :local]
    return [_gather(val_tokens, row * seq_len, seq_len + 1) for row in starts]
