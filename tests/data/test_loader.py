"""Loader: batches are a pure function of (tokens, seed, step); per-process slices; prefetch."""

import threading

import numpy as np
import pytest

from llm_jax.data import BatchIterator, DataError, batch_at, eval_batches
from llm_jax.data.loader import n_windows

SEQ = 8
# Token value = its position, so a row tells exactly which window it is.
TOKENS = np.arange(10 * SEQ * 4 + 1, dtype=np.uint16)  # 40 windows of SEQ + 1
KW = dict(seed=3, batch_size=4, seq_len=SEQ)


def window_of(row):
    assert row[0] % SEQ == 0 and np.array_equal(np.diff(row), np.ones(SEQ))
    return int(row[0]) // SEQ


def test_shape_dtype_and_shifted_targets():
    batch = batch_at(TOKENS, 0, **KW)
    assert batch.shape == (4, SEQ + 1) and batch.dtype == np.int32
    for row in batch:
        window_of(row)  # contiguous: inputs row[:-1], targets row[1:]


def test_pure_function_of_step_independent_of_call_order():
    forward = [batch_at(TOKENS, s, **KW) for s in range(25)]
    backward = [batch_at(TOKENS, s, **KW) for s in reversed(range(25))][::-1]
    for a, b in zip(forward, backward, strict=True):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(batch_at(TOKENS, 0, **KW), batch_at(TOKENS, 0, **{**KW, "seed": 4}))


def test_epoch_visits_every_window_once_and_epochs_differ():
    n = n_windows(len(TOKENS), SEQ)
    assert n == 40
    steps_per_epoch = n // KW["batch_size"]
    epoch0 = [window_of(r) for s in range(steps_per_epoch) for r in batch_at(TOKENS, s, **KW)]
    epoch1 = [window_of(r) for s in range(10, 20) for r in batch_at(TOKENS, s, **KW)]
    assert sorted(epoch0) == sorted(epoch1) == list(range(n))
    assert epoch0 != epoch1 and epoch0 != sorted(epoch0)


def test_batch_straddling_an_epoch_boundary():
    # 40 windows, batch 6: step 6 holds rows 36..41, i.e. the last 4 of epoch 0 and 2 of epoch 1.
    kw = {**KW, "batch_size": 6}
    seen = [window_of(r) for s in range(7) for r in batch_at(TOKENS, s, **kw)]
    assert sorted(seen[:40]) == list(range(40)) and len(set(seen[40:])) == 2


@pytest.mark.parametrize("count", [2, 4])
def test_process_slices_concatenate_to_the_global_batch(count):
    for step in (0, 7, 13):
        full = batch_at(TOKENS, step, **KW)
        parts = [
            batch_at(TOKENS, step, **KW, process_index=i, process_count=count) for i in range(count)
        ]
        np.testing.assert_array_equal(np.concatenate(parts), full)


def test_bad_process_layout_and_short_tokens():
    with pytest.raises(DataError, match="not divisible by the process count 3"):
        batch_at(TOKENS, 0, **KW, process_count=3)
    with pytest.raises(DataError, match="fewer than one window"):
        batch_at(TOKENS[:SEQ], 0, **KW)


@pytest.mark.parametrize("prefetch", [0, 1, 3])
def test_iterator_matches_batch_at_from_any_start(prefetch):
    it = BatchIterator(TOKENS, **KW, prefetch=prefetch)
    try:
        for start in (0, 11):
            stream = it.iterate(start)
            for expected in range(start, start + 15):
                step, batch = next(stream)
                assert step == expected
                np.testing.assert_array_equal(batch, batch_at(TOKENS, expected, **KW))
    finally:
        it.close()


def test_iterator_close_stops_the_thread():
    before = threading.active_count()
    with BatchIterator(TOKENS, **KW, prefetch=2) as it:
        stream = it.iterate(0)
        next(stream)
        assert threading.active_count() == before + 1
    assert threading.active_count() == before
    assert list(stream) == []  # a closed stream ends instead of hanging


def test_iterator_passes_worker_errors_to_the_consumer():
    class Exploding(np.ndarray):
        def __getitem__(self, key):
            raise RuntimeError("disk vanished")

    it = BatchIterator(TOKENS.view(Exploding), **KW, prefetch=2)
    with pytest.raises(RuntimeError, match="disk vanished"):
        next(it.iterate(0))
    it.close()


def test_eval_batches_fixed_spread_and_sliced():
    val = np.arange(100 * SEQ + 1, dtype=np.uint16)  # 100 windows
    batches = eval_batches(val, seq_len=SEQ, batch_size=4, eval_tokens=10 * 4 * SEQ)
    assert len(batches) == 10 and all(b.shape == (4, SEQ + 1) for b in batches)
    windows = [window_of(r) for b in batches for r in b]
    assert len(set(windows)) == 40 and max(windows) >= 90  # spread over the whole split
    again = eval_batches(val, seq_len=SEQ, batch_size=4, eval_tokens=10 * 4 * SEQ)
    assert all(np.array_equal(a, b) for a, b in zip(batches, again, strict=True))
    halves = [
        eval_batches(
            val, seq_len=SEQ, batch_size=4, eval_tokens=320, process_index=i, process_count=2
        )
        for i in range(2)
    ]
    for full, a, b in zip(batches, *halves, strict=True):
        np.testing.assert_array_equal(np.concatenate([a, b]), full)


def test_eval_batches_small_split_still_gives_one_full_batch():
    val = np.arange(3 * SEQ + 1, dtype=np.uint16)  # 3 windows, batch of 4
    (batch,) = eval_batches(val, seq_len=SEQ, batch_size=4, eval_tokens=10_000)
    assert [window_of(r) for r in batch] == [0, 1, 2, 0]
    many = eval_batches(np.arange(5000 * SEQ + 1), seq_len=SEQ, batch_size=4, eval_tokens=10_000)
    assert len(many) == 10_000 // (4 * SEQ)  # capped by eval_tokens, not by the split
