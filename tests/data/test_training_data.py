"""Training on a mixture: per-source eval rows and TensorBoard tags, run.json facts, bad data."""

import json

import pytest

from llm_jax.config import get_default_config
from llm_jax.data import DataError, Store
from llm_jax.data.dataset import open_training_data
from llm_jax.data.prepare import prepare_store
from llm_jax.metric_writer import MetricWriter
from llm_jax.train.trainer import train
from tests.data.corpora import data_cfg, write_text


def tiny_config(tmp_path, **data):
    config = get_default_config()
    config.model.update(d_model=16, d_ff=32, n_heads=2, n_kv_heads=1, n_layers=1, max_seq_len=16)
    config.data.update(seq_len=16, batch_size=8, eval_tokens=256, cache_dir=str(tmp_path / "c"))
    config.data.update(data)
    config.train.update(steps=2, warmup_steps=0)
    config.eval.every_steps = config.log.every_steps = config.checkpoint.every_steps = 2
    return config


@pytest.mark.slow
def test_mixture_run_logs_each_source_and_records_weights(tmp_path):
    """End to end through train() (~20 s warm, ~60 s with a cold compile cache on 2 cores)."""
    stores = {}
    for name, files in (("web", 3), ("code", 1)):
        stores[name] = str(tmp_path / name)
        corpus = write_text(tmp_path / f"{name}_text", n_files=files)
        prepare_store(data_cfg(tmp_path, corpus=corpus), stores[name])
    mixture = f"web:0.7:{stores['web']},code:0.3:{stores['code']}"
    workdir = tmp_path / "run"
    last = train(tiny_config(tmp_path, mixture=mixture), workdir)
    rows = [json.loads(line) for line in (workdir / "metrics.jsonl").open()]
    (row,) = [r for r in rows if r["split"] == "eval"]
    assert row == last["eval"]
    for key in ("web/loss", "code/loss", "web/bits_per_byte", "code/bits_per_byte"):
        assert row[key] > 0, key
    assert row["loss"] == pytest.approx(0.7 * row["web/loss"] + 0.3 * row["code/loss"])
    info = json.loads((workdir / "run.json").read_text())["data"]
    for name, weight in (("web", 0.7), ("code", 0.3)):
        assert info["mixture"][name]["weight"] == weight
        assert info["mixture"][name]["manifest_sha256"] == Store(stores[name]).manifest_sha256
    assert {"eval/web/loss", "eval/code/loss", "eval/loss"} <= tensorboard_tags(workdir)


def test_per_source_eval_rows_reach_metrics_and_tensorboard(tmp_path):
    corpora = [write_text(tmp_path / name, n_files=1) for name in ("web", "code")]
    mixture = f"web:0.7:{corpora[0]},code:0.3:{corpora[1]}"
    data = open_training_data(data_cfg(tmp_path, mixture=mixture, seq_len=16), steps=2, seed=0)
    writer = MetricWriter(tmp_path / "run")
    writer.write(dict(step=2, split="eval", **data.eval_metrics({"web": 3.0, "code": 5.0})))
    writer.close()
    (row,) = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").open()]
    assert (row["web/loss"], row["code/loss"]) == (3.0, 5.0) and row["loss"] == pytest.approx(3.6)
    assert {"web/bits_per_byte", "code/bits_per_byte", "bits_per_byte"} <= set(row)
    assert {"eval/web/loss", "eval/code/bits_per_byte", "eval/loss"} <= tensorboard_tags(
        tmp_path / "run"
    )


def tensorboard_tags(workdir) -> set[str]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(workdir / "tensorboard"))
    events.Reload()
    return set(events.Tags()["scalars"])


def test_bad_data_stops_the_run_before_any_step(tmp_path):
    config = tiny_config(tmp_path, mixture=f"a:1:stdlib,b:1:{tmp_path}/missing/*.jsonl")
    with pytest.raises(DataError, match="source 'b'.*matched no files"):
        train(config, tmp_path / "run")
    assert not (tmp_path / "run" / "metrics.jsonl").exists()
