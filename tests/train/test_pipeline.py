"""The pipelined loop: step n's metrics are fetched after step n+1 is dispatched, rows are the
metrics of their own step, and the profile window writes a trace the TensorBoard plugin lists."""

import argparse

import jax
import numpy as np
import pytest

from llm_jax.config import ConfigError, get_default_config, validate
from llm_jax.train import pipeline, trainer
from llm_jax.train.pipeline import StepClock, TrainRows
from tests.train.cli import read_metrics


def tiny_config(cache_dir, steps=8):
    c = get_default_config()
    c.model.update(d_model=32, d_ff=64, n_heads=2, n_kv_heads=1, max_seq_len=32)
    c.data.update(
        seq_len=32, batch_size=8, max_bytes=200_000, eval_tokens=1024, cache_dir=str(cache_dir)
    )
    c.train.update(steps=steps, warmup_steps=1)
    c.log.every_steps = 1
    c.eval.every_steps = 4
    c.checkpoint.every_steps = 4
    return c


def test_step_clock_counts_steps_between_marks(monkeypatch):
    now = iter([10.0, 12.0, 13.0, 13.0])
    monkeypatch.setattr(pipeline.time, "perf_counter", lambda: next(now))
    clock = StepClock(3)  # 10.0
    assert clock.rate(7) == 2.0  # 4 steps in 2 s
    assert clock.rate(8) == 1.0  # 1 step in 1 s, from the mark at 12.0
    assert clock.rate(8) == 1.0  # no step since the last mark: nothing new, the last rate


class Ready:
    """A device value that has (or has not) finished."""

    def __init__(self, ready):
        self.ready = ready

    def is_ready(self):
        return self.ready


def test_a_step_that_finished_inside_its_dispatch_counts_for_the_row_before(monkeypatch):
    """Small CPU programs run inside the dispatch call: when row n is taken after dispatch n+1,
    step n+1 may be done already; the clock must count it there, not give row n+1 an empty
    interval (which read 5-25× the true tokens/s on every synced step)."""
    now = iter([0.0, 1.0, 1.001, 2.0, 2.001])
    monkeypatch.setattr(pipeline.time, "perf_counter", lambda: next(now))
    rows = TrainRows(lambda m, step: {"loss": 1.0}, lambda step: 0.1, 0, 100, 10.0, 1e9)  # 0.0
    rows.defer(1, {}, {})
    assert rows.take(in_flight=(2, {"loss": Ready(True)}))["tokens_per_s"] == 200.0  # at 1.0
    rows.defer(2, {}, {})  # an eval step: its row is taken at once, step 2 long finished
    assert rows.take()["tokens_per_s"] == 200.0  # the last rate (1.001), not 1 step in 1 ms
    rows.defer(3, {}, {})
    assert rows.take(in_flight=(4, {"loss": Ready(False)}))["tokens_per_s"] == 100.0  # 2.0
    rows.defer(4, {}, {})
    assert rows.take()["tokens_per_s"] == pytest.approx(1e5)  # step 4 ran in 1 ms, in flight


def test_train_rows_fetch_late_and_propagate_divergence():
    fetched = []

    def fetch(metrics, step):
        fetched.append(step)
        if not np.isfinite(metrics["loss"]):
            raise trainer.TrainingDiverged(f"step {step}")
        return {k: float(v) for k, v in metrics.items()}

    rows = TrainRows(fetch, lambda step: 0.5 * step, 0, 64, 10.0, 1e9)
    assert rows.take() is None
    rows.defer(2, {"loss": np.float32(1.5), "grad_norm": np.float32(0.1)}, {"tokens": 128})
    assert fetched == []  # nothing waits until the row is taken
    row = rows.take()
    assert fetched == [2] and rows.take() is None
    assert row["step"] == 2 and row["loss"] == 1.5 and row["tokens"] == 128
    assert row["lr"] == 0.5  # the rate step 2 used: schedule(1)
    rows.defer(3, {"loss": np.float32("nan"), "grad_norm": np.float32(0.1)}, {})
    with pytest.raises(trainer.TrainingDiverged, match="step 3"):
        rows.take()


def test_metrics_are_fetched_one_step_late_and_match_their_step(tmp_path, monkeypatch):
    """Step n is fetched between dispatches n+1 and n+2, except where eval or a save syncs."""
    events, dispatched = [], {}
    real_build, real_fetch = trainer.build, trainer._fetch_finite

    def build(config, **kwargs):
        parts = real_build(config, **kwargs)
        step_fn = parts.train_step

        def train_step(state, batch):
            new_state, metrics = step_fn(state, batch)
            n = len(dispatched) + 1
            dispatched[n] = metrics
            events.append(("dispatch", n))
            return new_state, metrics

        parts.train_step = train_step
        return parts

    def fetch(metrics, step, checkpointer):
        events.append(("fetch", step))
        return real_fetch(metrics, step, checkpointer)

    monkeypatch.setattr(trainer, "build", build)
    monkeypatch.setattr(trainer, "_fetch_finite", fetch)
    config = tiny_config(tmp_path / "cache")
    trainer.train(config, tmp_path / "run")
    position = {event: i for i, event in reversed(list(enumerate(events)))}  # first occurrence
    for n in range(1, 8):
        fetched = position[("fetch", n)]
        if n % 4 == 0:  # eval and checkpoint steps fetch before the next dispatch
            assert position[("dispatch", n)] < fetched < position[("dispatch", n + 1)], events
        else:
            after = position.get(("dispatch", n + 2), len(events))
            assert position[("dispatch", n + 1)] < fetched < after, events
    rows = read_metrics(tmp_path / "run")
    assert [r["step"] for r in rows] == list(range(1, 9))
    for row in rows:  # each row holds the metrics its own step returned
        assert row["loss"] == float(jax.device_get(dispatched[row["step"]]["loss"]))


def test_profile_window_writes_a_trace_the_plugin_lists(tmp_path):
    from tensorboard.plugins import base_plugin
    from xprof.profile_plugin import ProfilePlugin

    config = tiny_config(tmp_path / "cache", steps=5)
    config.log.profile_steps = (2, 4)
    trainer.train(config, tmp_path / "run")
    traces = list((tmp_path / "run" / "tensorboard" / "plugins" / "profile").glob("*/*.xplane.pb"))
    assert len(traces) == 1 and traces[0].stat().st_size > 0
    flags = argparse.Namespace(master_tpu_unsecure_channel="")
    plugin = ProfilePlugin(base_plugin.TBContext(logdir=str(tmp_path / "run"), flags=flags))
    runs = plugin.runs_imp()
    assert runs == [f"tensorboard/{traces[0].parent.name}"]
    tools = plugin.run_tools_imp(runs[0])
    assert any(tool.startswith("trace_viewer") for tool in tools), tools


@pytest.mark.parametrize("window", [(3,), (4, 2), (0, 11), (-1, 2), ("a", 3)])
def test_profile_steps_validation_names_the_key(window):
    config = get_default_config()
    config.train.steps = 10
    config.log.profile_steps = window
    with pytest.raises(ConfigError, match="log.profile_steps"):
        validate(config)
