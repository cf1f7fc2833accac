"""Run tables and the fit CLI end to end: formats, bad input, fits.json contract, figures."""

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from llm_jax.cli.fit_scaling_laws import main
from llm_jax.scaling.fit import fit_table
from llm_jax.scaling.synthetic import isoflop_table, training_curves
from llm_jax.scaling.table import RunTableError, group_budgets, load_runs

ROOT = Path(__file__).resolve().parents[2]
# This checkout's package, not whichever one the environment has installed.
ENV = os.environ | {"PYTHONPATH": str(ROOT)}


def write_csv(path, table, columns):
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(columns)
        writer.writerows(zip(*(table[c] for c in columns), strict=True))
    return path


def test_jsonl_and_default_flops(tmp_path):
    path = tmp_path / "runs.jsonl"
    path.write_text(
        '{"params": 1e6, "tokens": 2e7, "loss": 3.5}\n\n{"params": 2e6, "tokens": 1e7, '
        '"loss": 3.4}\n'
    )
    table = load_runs(path)
    np.testing.assert_allclose(table["flops"], [1.2e14, 1.2e14])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("params,loss\n1,2\n", r"missing required column\(s\) \['tokens'\]"),
        ("params,tokens,loss\n1e6,1e7,3.0\n-1e6,1e7,3.0\n", ":3: column 'params' .* positive"),
        ("params,tokens,loss\n1e6,1e7,abc\n", ":2: column 'loss' is 'abc', not a number"),
        ("params,tokens,loss\n", "no rows"),
    ],
)
def test_bad_tables_name_the_problem(tmp_path, text, message):
    path = tmp_path / "runs.csv"
    path.write_text(text)
    with pytest.raises(RunTableError, match=message):
        load_runs(path)


def test_too_few_points_for_approach(tmp_path):
    table = isoflop_table(budgets=(1e18,), per_budget=5)
    with pytest.raises(RunTableError, match="Approach 3 needs at least 8 runs, got 5"):
        fit_table(table, approaches=(3,))
    with pytest.raises(RunTableError, match="Approach 2 needs at least 2 budgets"):
        fit_table(table, approaches=(2,))
    with pytest.raises(RunTableError, match="Approach 1 needs training curves"):
        fit_table(table, approaches=(1,))


def test_budget_grouping_by_tolerance():
    flops = np.array([1e18, 1.1e18, 0.95e18, 1e19, 1.12e19, 1e20])
    labels = group_budgets(flops, tolerance=0.15)
    assert len(np.unique(labels)) == 3
    assert len(np.unique(group_budgets(flops, tolerance=0.05))) == 6


def test_training_curves_give_approach1():
    results = fit_table(training_curves(), approaches=(1,))
    assert results["approach1"].diagnostics["n_runs"] == 5


def test_cli_end_to_end(tmp_path):
    table = isoflop_table(budgets=(1e18, 1e19, 1e20), per_budget=7, noise=0.005)
    runs = write_csv(tmp_path / "runs.csv", table, ["params", "tokens", "loss", "flops"])
    out = tmp_path / "fit"
    argv = ["fit", f"--runs={runs}", f"--out={out}", "--bootstrap=50", "--approaches=2,3"]
    assert main(argv) == 0
    doc = json.loads((out / "fits.json").read_text())
    assert {"a", "b"} <= set(doc["approach2"])
    assert {"E", "A", "B", "alpha", "beta", "a", "b", "converged"} <= set(doc["approach3"])
    assert doc["approach3"]["outliers"] == [] and doc["skipped"] == {}  # a clean table
    for name in ("E", "A", "B", "alpha", "beta", "a", "b"):
        low, high = doc["approach3"]["ci"][name]
        assert low <= doc["approach3"][name] <= high
    assert doc["n_budgets"] == 3 and "n_opt_rel_error" in doc["extrapolation"]
    for fig in ("isoflops", "optimal_allocation", "isoloss", "residuals"):
        assert (out / f"{fig}.png").stat().st_size > 0 and (out / f"{fig}.svg").is_file()


def test_cli_bad_input_is_a_clear_error(tmp_path):
    runs = tmp_path / "runs.csv"
    runs.write_text("params,loss\n1,2\n")
    cmd = [
        sys.executable,
        str(ROOT / "tools/fit_scaling_laws.py"),
        f"--runs={runs}",
        f"--out={tmp_path / 'fit'}",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=ENV, timeout=120)
    assert proc.returncode == 2
    assert "missing required column(s) ['tokens']" in proc.stderr


def test_default_law_without_curves_is_chinchilla_only(tmp_path):
    table = isoflop_table(budgets=(1e18, 1e19), per_budget=5)
    results = fit_table(table, approaches=(2,))
    assert "kaplan" not in results and "approach2" in results


def test_cli_refuses_unknown_law_and_approach(tmp_path, capsys):
    runs = tmp_path / "runs.csv"
    runs.write_text("params,tokens,loss\n1e6,1e7,3.0\n")
    for flag, message in (("--law=kaplan2", "--law=kaplan2"), ("--approaches=2,4", "'4'")):
        assert main(["fit", f"--runs={runs}", f"--out={tmp_path / 'fit'}", flag]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and message in err, err
    assert not (tmp_path / "fit").exists()  # refused before any work


def test_module_entry_point_runs(tmp_path):
    cmd = [sys.executable, "-m", "llm_jax.cli.fit_scaling_laws", "--help"]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=ENV, timeout=120)
    assert proc.returncode == 0 and "--law" in proc.stdout and "--runs" in proc.stdout
