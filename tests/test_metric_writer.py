"""metrics.jsonl (appended locally, rewritten on gs:// only at checkpoints), the study facts as
hyperparameters, and Weights & Biases offline runs that a resumed run continues."""

import json
import os
import struct

import pytest
from etils import epath

from llm_jax.config import get_default_config
from llm_jax.metric_writer import MetricWriter, study_hparams
from llm_jax.train.trainer import train
from tests.fake_gcs import memory_gcs

RUN_INFO = {"params": {"total": 1000, "embedding": 200, "non_embedding": 800}}


def config_dict(**log):
    c = get_default_config()
    c.log.update(log)
    return c.to_dict()


def row(step, loss=1.0):
    return {"step": step, "split": "train", "loss": loss, "tokens": step * 10}


def lines(path) -> list[int]:
    return [json.loads(x)["step"] for x in epath.Path(path).read_text().splitlines()]


def test_local_rows_are_appended_not_rewritten(tmp_path):
    writer = MetricWriter(tmp_path)
    writer.write_config(config_dict(), RUN_INFO)
    writer.drop_after(0)
    writer.write(row(1))
    writer.flush()
    inode, size = (
        os.stat(tmp_path / "metrics.jsonl").st_ino,
        (tmp_path / "metrics.jsonl").stat().st_size,
    )
    writer.write(row(2))
    writer.flush()
    assert os.stat(tmp_path / "metrics.jsonl").st_ino == inode  # the same file, grown
    assert (tmp_path / "metrics.jsonl").stat().st_size > size
    writer.close()
    assert lines(tmp_path / "metrics.jsonl") == [1, 2]


def test_a_resumed_run_drops_rows_past_its_checkpoint_then_appends(tmp_path):
    first = MetricWriter(tmp_path)
    for step in (1, 2, 3, 4):
        first.write(row(step))
    first.close()
    resumed = MetricWriter(tmp_path)
    resumed.drop_after(2)
    resumed.write(row(3, loss=0.5))
    resumed.close()
    assert lines(tmp_path / "metrics.jsonl") == [1, 2, 3]


def test_remote_metrics_are_rewritten_only_at_checkpoints_and_the_end():
    with memory_gcs():
        workdir = epath.Path("gs://bucket/run")
        writer = MetricWriter(workdir)
        writer.write_config(config_dict(), RUN_INFO)
        writer.drop_after(0)
        writer.write(row(1))
        writer.flush()
        assert not (workdir / "metrics.jsonl").exists()  # no per-row rewrite of an object
        writer.write(row(2))
        writer.flush(durable=True)  # a checkpoint
        assert lines(workdir / "metrics.jsonl") == [1, 2]
        writer.write(row(3))
        writer.flush()
        assert lines(workdir / "metrics.jsonl") == [1, 2]
        writer.close()
        assert lines(workdir / "metrics.jsonl") == [1, 2, 3]
        assert list((workdir / "tensorboard").iterdir())  # events went to the bucket too


def test_study_facts_lead_the_hparams():
    config = config_dict(study="s", role="main", budget=3e10)
    config["train"].update(steps=100, lr=0.01, seed=2)
    config["data"].update(batch_size=4, seq_len=8)
    facts = study_hparams(config, RUN_INFO)
    assert facts["study"] == "s" and facts["role"] == "main" and facts["budget"] == 3e10
    assert (facts["N"], facts["N_nonembed"], facts["D"]) == (1000, 800, 100 * 4 * 8)
    assert facts["tokens_per_param"] == 3.2 and (facts["lr"], facts["seed"]) == (0.01, 2)
    assert not any(k.startswith(("checkpoint.", "log.", "data.cache")) for k in facts)


def wandb_records(directory) -> list:
    """Every record of the W&B offline transaction logs (run-*.wandb) under `directory`: a
    7-byte header, then LevelDB-style 32 KiB blocks of records (crc, length, type, payload)."""
    from wandb.proto import wandb_internal_pb2

    records = []
    for path in sorted(directory.rglob("run-*.wandb")):
        data, position, pending = path.read_bytes(), 7, b""
        assert data[:4] == b":W&B", path
        while position + 7 <= len(data):
            block_left = 32768 - position % 32768
            if block_left < 7:
                position += block_left
                continue
            length, kind = struct.unpack("<HB", data[position + 4 : position + 7])
            pending += data[position + 7 : position + 7 + length]
            position += 7 + length
            if kind in (1, 4):  # a full record, or the last piece of one
                records.append((path, wandb_internal_pb2.Record.FromString(pending)))
                pending = b""
            elif kind == 0:
                break
    return records


def tiny(steps, **log):
    c = get_default_config()
    c.model.update(d_model=16, n_layers=1, n_heads=1, n_kv_heads=1, d_ff=32, max_seq_len=32)
    c.data.update(seq_len=32, batch_size=8, eval_tokens=256, max_bytes=100_000)
    c.train.update(steps=steps, warmup_steps=1)
    c.eval.every_steps = c.checkpoint.every_steps = 3
    c.log.update(every_steps=1, **log)
    return c


def test_wandb_offline_run_holds_the_metrics_and_is_resumed(tmp_path, monkeypatch):
    pytest.importorskip("wandb")
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    workdir, cache = tmp_path / "run", tmp_path / "cache"
    log = dict(wandb_project="llm-jax-test", name="tiny-N1K", study="tiny", role="main")
    first = tiny(3, **log)
    first.data.cache_dir = str(cache)
    train(first, workdir)
    resumed = tiny(6, **log)
    resumed.data.cache_dir = str(cache)
    train(resumed, workdir)
    run_id = (workdir / "wandb_id").read_text().strip()
    records = wandb_records(workdir / "wandb")
    runs = {r.run.run_id: r.run for _, r in records if r.HasField("run")}
    assert set(runs) == {run_id} and runs[run_id].display_name == "tiny-N1K"
    assert runs[run_id].run_group == "tiny"
    assert len({path for path, _ in records}) == 2  # two attempts, one W&B run
    logged = {}
    for _, record in records:
        if record.HasField("history"):
            items = {i.nested_key[0] if i.nested_key else i.key: i for i in record.history.item}
            if "train/loss" in items:
                logged[int(items["_step"].value_json)] = float(items["train/loss"].value_json)
    metrics = [json.loads(x) for x in (workdir / "metrics.jsonl").read_text().splitlines()]
    want = {r["step"]: r["loss"] for r in metrics if r["split"] == "train"}
    assert logged == pytest.approx(want, rel=1e-6) and sorted(logged) == [1, 2, 3, 4, 5, 6]
