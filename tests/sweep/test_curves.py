"""Learning curves through a sweep: a real tiny sweep's metrics.jsonl, TensorBoard and curves.csv;
collection and fits on synthetic run directories (subset curves beside full-set final evals)."""

import csv
import json
import math
import subprocess
import sys

import numpy as np
import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from llm_jax.model.flops import all_conventions
from llm_jax.scaling.approach3 import law_loss
from llm_jax.scaling.synthetic import DEFAULT_LAW
from llm_jax.sweep import Run, Sweep, ladder
from llm_jax.sweep.report import finish
from llm_jax.sweep.runner import Status
from llm_jax.sweep.spec import load_study
from llm_jax.sweep.study import point_config
from llm_jax.train import eval_schedule
from tests.sweep.tiny_study import base_config
from tests.train.cli import ROOT, cli_env

STUDY = "tests/sweep/curve_study.py"
SUBSET_BIAS = 1.03  # synthetic subset losses sit 3% above the full set's


def read_rows(path):
    with open(path) as f:
        return list(csv.DictReader(f))


def metrics(workdir):
    return [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def tiny_sweep(tmp_path_factory):
    root = tmp_path_factory.mktemp("curve_sweep")
    cache = tmp_path_factory.mktemp("cache")
    command = [sys.executable, "tools/sweep.py", f"--config={STUDY}", f"--workdir={root}"]
    command += [f"--set=data.cache_dir={cache}", "--no_fit", "--workers=2", "--threads_per_run=1"]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, env=cli_env())
    assert done.returncode == 0, done.stderr[-2000:]
    return root


def test_runs_write_subset_curves_and_one_full_eval(tiny_sweep):
    for run in load_study(STUDY, None).runs:
        rows = metrics(tiny_sweep / "runs" / run.name)
        curve = [r for r in rows if r["split"] == "eval_subset"]
        full = [r for r in rows if r["split"] == "eval"]
        assert [r["step"] for r in curve] == sorted(eval_schedule.steps(run.config))
        assert len(curve) == 6 and curve[-1]["step"] == 40
        assert [r["step"] for r in full] == [40]  # the contract: step, loss, tokens, flops
        assert full[0]["tokens"] == 40 * 8 * 32 and full[0]["loss"] > 0 and full[0]["flops"] > 0
        assert curve[0]["eval_tokens"] == 256 and full[0]["eval_tokens"] == 512
        # Measured cost: each subset eval is a forward pass, 1/3 of the training FLOPs per token.
        fpt = json.loads((tiny_sweep / "runs" / run.name / "run.json").read_text())[
            "flops_per_token"
        ]
        eval_flops = sum(r["eval_tokens"] * fpt / 3 for r in curve)
        assert eval_flops <= 0.05 * full[0]["flops"] * (1 + 1e-9)
        losses = [r["loss"] for r in curve]
        assert losses[-1] < losses[0]
        events = EventAccumulator(str(tiny_sweep / "runs" / run.name / "tensorboard")).Reload()
        scalars = events.Scalars("eval_subset/loss")
        assert [s.step for s in scalars] == [r["step"] for r in curve]


def test_curves_csv_has_each_runs_curve(tiny_sweep):
    rows = read_rows(tiny_sweep / "curves.csv")
    runs = {r["run"]: r for r in read_rows(tiny_sweep / "runs.csv")}
    assert set(runs) == {"curve-d16", "curve-d24"}
    for name, run in runs.items():
        curve = [r for r in rows if r["run"] == name]
        assert len(curve) == 6 and {r["split"] for r in curve} == {"eval_subset"}
        steps = [int(r["step"]) for r in curve]
        assert steps == sorted(steps) and steps[-1] == 40
        assert curve[-1]["tokens"] == run["tokens"] and curve[-1]["flops"] == run["flops"]
        assert {(r["params"], r["params_nonembed"], r["budget"], r["role"]) for r in curve} == {
            (run["params"], run["params_non_embedding"], run["budget"], "main")
        }


def synthetic_sweep(root, law=DEFAULT_LAW, budgets=(3e10, 1e11, 3e11)):
    """Run directories as the trainer writes them, with losses from a known law: subset curves at
    log-spaced steps (SUBSET_BIAS above the law) and the full set's loss at the end."""
    base = base_config()
    base.data.update(seq_len=128, batch_size=4)
    base.model.max_seq_len = 128
    sizes = ladder.sizes((8, 16, 24, 32, 48, 64, 80), base.model, 128)
    points = ladder.isoflop_design(budgets, sizes, batch_size=4, seq_len=128, tokens_per_param=20)
    runs = []
    for p in points:
        run = Run(
            f"syn-C{p.budget:.0e}-N{p.n_params}", point_config(base, p), info={"budget": p.budget}
        )
        write_run(root / "runs" / run.name, run.config, law)
        Status(root).set(run.name, status="done")
        runs.append(run)
    return Sweep("syn", runs, bootstrap=20)


def write_run(workdir, config, law):
    workdir.mkdir(parents=True)
    conventions = all_conventions(config.model, config.data.seq_len)
    n = conventions["params_total"]
    fpt, per_step = conventions["flops_per_token_6N"], 512
    info = {"params": {"total": n}, "conventions": conventions, "flops_per_token": fpt, "data": {}}
    (workdir / "config.json").write_text(json.dumps(config.to_dict()))
    (workdir / "run.json").write_text(json.dumps(info))
    lines = []
    for step in sorted(eval_schedule.steps(config)):
        tokens = step * per_step
        loss = law_loss(law, n, tokens) * SUBSET_BIAS
        lines.append(
            dict(step=step, split="eval_subset", loss=loss, tokens=tokens, flops=tokens * fpt)
        )
    tokens = config.train.steps * per_step
    final = dict(
        step=config.train.steps, split="eval", loss=law_loss(law, n, tokens), tokens=tokens
    )
    lines.append(final | {"flops": tokens * fpt, "bits_per_byte": 1.0})
    (workdir / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))


def test_collection_writes_curves_beside_runs(tmp_path):
    sweep = synthetic_sweep(tmp_path)
    finish(sweep, tmp_path, Status(tmp_path).get, fit=False)
    curves, points = read_rows(tmp_path / "curves.csv"), read_rows(tmp_path / "runs.csv")
    assert len(points) == 15
    for p in points:
        curve = [c for c in curves if c["run"] == p["run"]]
        assert len(curve) >= 5 and int(curve[-1]["step"]) == int(p["steps"])
        # the curve is the subset's throughout; runs.csv keeps the full set's final loss
        assert float(curve[-1]["loss"]) == pytest.approx(float(p["loss"]) * SUBSET_BIAS)


@pytest.mark.slow
def test_sweep_fits_use_curves_for_kaplan_and_final_points_for_chinchilla(tmp_path):
    sweep = synthetic_sweep(tmp_path)
    summary = finish(sweep, tmp_path, Status(tmp_path).get, log=print)
    doc = json.loads((tmp_path / "fits.json").read_text())
    assert {"a", "b"} <= set(doc["approach2"])  # the existing keys
    assert {"E", "A", "B", "alpha", "beta", "a", "b", "converged", "ci"} <= set(doc["approach3"])
    # Approaches 2 and 3 fit the full set's final losses, not the 3%-biased subset curves.
    assert doc["approach3"]["E"] == pytest.approx(DEFAULT_LAW["E"], rel=0.01)
    assert {"a", "b"} <= set(doc["approach1"]["ci"])
    kaplan = doc["kaplan"]
    assert kaplan["params_convention"] == "total"
    for name in ("alpha_N", "alpha_D", "alpha_C", "a"):
        low, high = kaplan["ci"][name]
        assert low <= kaplan[name] <= high and math.isfinite(kaplan[name]), name
        assert summary["fit"][f"kaplan_{name}"] == kaplan[name]
    nonembed = json.loads((tmp_path / "non_embedding" / "fits.json").read_text())
    assert nonembed["kaplan"]["params_convention"] == "nonembed"
    assert np.isfinite(summary["fit_non_embedding"]["kaplan_a"])
    assert (tmp_path / "training_curves.png").stat().st_size > 0


def test_a_line_cut_by_a_killed_writer_is_dropped_with_a_warning(tmp_path, caplog):
    """A SIGKILL mid-append leaves half a line: the sweep's readers keep the rest."""
    from llm_jax.sweep.curves import read_curve
    from llm_jax.sweep.runs import last_step

    rows = [{"step": s, "split": "eval_subset", "loss": 3.0 / s, "tokens": s} for s in (1, 2)]
    text = "".join(json.dumps(r) + "\n" for r in rows)
    (tmp_path / "metrics.jsonl").write_text(text + '{"step": 3, "split": "tr')
    assert last_step(tmp_path) == 2
    assert [r["step"] for r in read_curve(tmp_path)] == [1, 2]
    assert "dropped 1 unreadable line(s): [3]" in caplog.text
