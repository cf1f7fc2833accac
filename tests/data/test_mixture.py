"""Mixtures: rows drawn by weight from (seed, step), per-source eval, refusal, config errors."""

import json
import logging
import math

import numpy as np
import pytest
from scipy import stats

from llm_jax.config import ConfigError, get_default_config, validate
from llm_jax.data import DataError
from llm_jax.data.dataset import open_training_data
from llm_jax.data.mixture import BLOCK, Mixture, apportion
from tests.data.corpora import data_cfg, write_text

SEQ = 8
# Source k's tokens are k * 10_000 + position: a row says which source and window it is.
SIZES = (40, 25, 300)  # windows per source
STREAMS = [k * 10_000 + np.arange(n * SEQ + 1) for k, n in enumerate(SIZES)]
WEIGHTS = (5.0, 3.0, 2.0)
KW = dict(seed=11, batch_size=16, seq_len=SEQ)


def source_and_window(row) -> tuple[int, int]:
    k, position = divmod(int(row[0]), 10_000)
    return k, position // SEQ


def test_apportion_is_exact_and_proportional():
    shares = apportion([5, 3, 2], BLOCK)
    assert shares.sum() == BLOCK and abs(shares[0] / BLOCK - 0.5) < 1 / BLOCK
    assert apportion([1, 1, 1], 10).tolist() in ([4, 3, 3], [3, 4, 3], [3, 3, 4])


def test_row_frequencies_match_the_weights():
    mixture = Mixture("abc", STREAMS, WEIGHTS, SEQ)
    rows = [source_and_window(r)[0] for s in range(600) for r in mixture.batch_at(s, **KW)]
    observed = np.bincount(rows, minlength=3)
    expected = np.array(WEIGHTS) / sum(WEIGHTS) * len(rows)
    assert stats.chisquare(observed, expected).pvalue > 0.01
    assert stats.chisquare(observed, np.full(3, len(rows) / 3)).pvalue < 1e-6  # can fail
    per_step = [
        np.bincount([source_and_window(r)[0] for r in mixture.batch_at(s, **KW)], minlength=3)[0]
        for s in range(50)
    ]
    assert len(set(per_step)) > 2  # drawn, not a fixed pattern per step
    assert np.array_equal(mixture.rows_before(600 * 16, 11), observed)


def test_batches_are_a_pure_function_of_seed_and_step_on_any_process_count():
    mixture = Mixture("abc", STREAMS, WEIGHTS, SEQ)
    forward = [mixture.batch_at(s, **KW) for s in range(0, 900, 37)]
    fresh = Mixture("abc", STREAMS, WEIGHTS, SEQ)
    backward = [fresh.batch_at(s, **KW) for s in reversed(range(0, 900, 37))][::-1]
    for a, b in zip(forward, backward, strict=True):
        np.testing.assert_array_equal(a, b)
    for step in (0, 255, 256, 700):  # 256 × 16 rows = one block: straddles its boundary
        halves = [mixture.batch_at(step, **KW, process_index=i, process_count=2) for i in (0, 1)]
        np.testing.assert_array_equal(np.concatenate(halves), mixture.batch_at(step, **KW))
    assert not np.array_equal(mixture.batch_at(3, **KW), mixture.batch_at(3, **{**KW, "seed": 12}))


def test_each_source_reads_its_windows_once_per_epoch(caplog):
    mixture = Mixture("abc", STREAMS, WEIGHTS, SEQ)
    seen = {k: [] for k in range(3)}
    with caplog.at_level(logging.INFO, logger="llm_jax"):
        for step in range(40):
            for row in mixture.batch_at(step, **KW):
                k, window = source_and_window(row)
                seen[k].append(window)
    epoch0 = seen[1][: SIZES[1]]
    assert sorted(epoch0) == list(range(SIZES[1])) and epoch0 != sorted(epoch0)
    assert sorted(seen[1][SIZES[1] : 2 * SIZES[1]]) == list(range(SIZES[1]))
    assert "data source 'b': epoch 2 begins" in caplog.text


def test_a_source_that_runs_out_is_refused_when_repeat_is_off():
    mixture = Mixture("abc", STREAMS, WEIGHTS, SEQ, repeat=False)
    last = next(s for s in range(40) if mixture.rows_before((s + 1) * 16, 11)[0] > SIZES[0])
    for step in range(last):
        mixture.batch_at(step, **KW)
    with pytest.raises(DataError, match=f"source 'a' ran out at step {last} and data.repeat=False"):
        mixture.batch_at(last, **KW)


def test_tiny_weights_are_refused():
    with pytest.raises(DataError, match="source 'b': its weight is below 1/4096"):
        Mixture("ab", STREAMS[:2], (1.0, 1e-5), SEQ)


@pytest.mark.parametrize(
    "value, fragment",
    [
        ("a:0:stdlib", "weight '0'; weights must be > 0"),
        ("a:-1:stdlib,b:1:x", "weight '-1'"),
        ("a:heavy:stdlib", "weight 'heavy'"),
        ("a:1", "is not NAME:WEIGHT:CORPUS"),
        ("a:1:x,a:2:y", "'a' appears twice"),
        ("a/b:1:x", "is not NAME:WEIGHT:CORPUS"),
    ],
)
def test_bad_mixture_configs_are_config_errors(value, fragment):
    config = get_default_config()
    config.data.mixture = value
    with pytest.raises(ConfigError, match="data.mixture") as error:
        validate(config)
    assert fragment in str(error.value)


@pytest.fixture(scope="module")
def two_corpora(tmp_path_factory):
    root = tmp_path_factory.mktemp("mix")
    return write_text(root / "a", n_files=2), write_text(root / "b", n_files=1, per_file=30)


def test_missing_source_and_bpe_mixture_are_named(tmp_path, two_corpora):
    a, _ = two_corpora
    cfg = data_cfg(tmp_path, mixture=f"a:1:{a},b:1:{tmp_path}/absent.txt", seq_len=16)
    with pytest.raises(
        DataError, match=r"data.mixture source 'b': data.corpus=.*absent.txt.* does not exist"
    ):
        open_training_data(cfg, steps=1, seed=0)
    cfg = data_cfg(tmp_path, mixture=f"a:1:{a},b:1:{a}", tokenizer="bpe:300", seq_len=16)
    with pytest.raises(DataError, match="a mixture needs one tokenizer"):
        open_training_data(cfg, steps=1, seed=0)


def test_mixture_data_eval_metrics_info_and_refusal(tmp_path, two_corpora):
    a, b = two_corpora
    cfg = data_cfg(tmp_path, mixture=f"web:3:{a},code:1:{b}", seq_len=16, batch_size=8)
    data = open_training_data(cfg, steps=10, seed=0)
    sets = data.eval_batches()
    assert set(sets) == {"web", "code"} and all(len(v) for v in sets.values())
    metrics = data.eval_metrics({"web": 2.0, "code": 4.0})
    assert metrics["loss"] == pytest.approx(0.75 * 2 + 0.25 * 4)
    bpt = {s.name: s.store.info()["val_bytes_per_token"] for s in data.sources}
    assert metrics["code/bits_per_byte"] == pytest.approx(4.0 / math.log(2) / bpt["code"])
    assert metrics["bits_per_byte"] == pytest.approx(
        2.5 / math.log(2) / (0.75 * bpt["web"] + 0.25 * bpt["code"])
    )
    info = json.loads(json.dumps(data.info))
    assert (
        info["mixture"]["web"]["weight"] == 3.0
        and len(info["mixture"]["code"]["manifest_sha256"]) == 64
    )
    cfg.repeat = False
    with pytest.raises(
        DataError, match=r"source 'web': train.steps=400 .* read its training windows 4.14 times"
    ):
        open_training_data(cfg, steps=400, seed=0)
