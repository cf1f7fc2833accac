"""Tables of training curves: reading and checking them, the clear refusal without curves, both
law families through the CLI (fits.json keys, figures), Approach 1/2 intervals, plotting hygiene."""

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from llm_jax.cli.fit_scaling_laws import main
from llm_jax.scaling.approach12 import bootstrap_approach2, fit_approach2
from llm_jax.scaling.fit import fit_runs, fit_table
from llm_jax.scaling.synthetic import isoflop_table, kaplan_curves, training_curves
from llm_jax.scaling.table import RunTableError, final_points, has_curves, load_runs

ROOT = Path(__file__).resolve().parents[2]
CURVE_COLUMNS = ["run", "step", "tokens", "flops", "loss", "params", "params_nonembed"]
KAPLAN_KEYS = {"alpha_N", "alpha_D", "N_c", "D_c", "alpha_C", "C_c", "a", "converged", "ci"}


def write_curves(path, table, columns=CURVE_COLUMNS):
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(columns)
        writer.writerows(zip(*(table[c] for c in columns), strict=True))
    return path


@pytest.fixture(scope="module")
def curves():
    table = kaplan_curves(per_budget=5, points=12, noise=0.003, run_noise=0.003)
    table["params_nonembed"] = table["params"].copy()
    table["params"] = table["params"] + 1e6  # a vocabulary table on top
    return table


def test_curve_table_is_read_and_checked(tmp_path, curves):
    table = load_runs(write_curves(tmp_path / "curves.csv", curves))
    assert has_curves(table) and len(np.unique(table["run"])) == 15
    np.testing.assert_allclose(table["params_nonembed"], curves["params_nonembed"])
    mixed = dict(curves, params=curves["params"].copy())
    mixed["params"][3] *= 2
    with pytest.raises(RunTableError, match="run 'run000' has more than one value of 'params'"):
        load_runs(write_curves(tmp_path / "mixed.csv", mixed))
    backwards = dict(curves, tokens=curves["tokens"][::-1].copy())
    with pytest.raises(RunTableError, match="tokens that decrease as its step grows"):
        load_runs(write_curves(tmp_path / "backwards.csv", backwards))


def test_sweep_tables_nonembedding_column_is_understood(tmp_path, curves):
    columns = [c if c != "params_nonembed" else "params_non_embedding" for c in CURVE_COLUMNS]
    renamed = curves | {"params_non_embedding": curves["params_nonembed"]}
    table = load_runs(write_curves(tmp_path / "curves.csv", renamed, columns))
    np.testing.assert_allclose(table["params_nonembed"], curves["params_nonembed"])


def test_table_without_curves_gets_one_clear_line(tmp_path, capsys):
    table = isoflop_table(budgets=(1e18, 1e19), per_budget=5)
    for law in ("kaplan", "both"):
        with pytest.raises(RunTableError, match="Kaplan's fits .* needs training curves"):
            fit_table(table, law=law)
    runs = tmp_path / "runs.csv"
    columns = ["params", "tokens", "loss", "flops"]
    write_curves(runs, table, columns)
    assert main(["fit", f"--runs={runs}", f"--out={tmp_path / 'fit'}", "--law=kaplan"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "one row per run" in err, err


def test_cli_both_laws_on_curves(tmp_path, curves):
    runs = write_curves(tmp_path / "curves.csv", curves)
    out = tmp_path / "fit"
    argv = ["fit", f"--runs={runs}", f"--out={out}", "--bootstrap=100", "--approaches=1,2"]
    assert main(argv) == 0
    doc = json.loads((out / "fits.json").read_text())
    assert doc["law"] == "both"
    assert {"a", "b"} <= set(doc["approach2"]) and {"a", "b"} <= set(doc["approach1"])
    kaplan = doc["kaplan"]
    assert set(kaplan) >= KAPLAN_KEYS
    assert kaplan["params_convention"] == "nonembed"
    for name in ("alpha_N", "alpha_D", "N_c", "D_c", "alpha_C", "C_c", "a"):
        low, high = kaplan["ci"][name]
        assert low <= kaplan[name] <= high, name
    assert {"alpha_N", "N_c"} <= set(kaplan["L_N"]["ci"]) and "alpha_D" in kaplan["L_D"]["ci"]
    assert kaplan["joint"]["bootstrap"]["n_valid"] > 90
    assert kaplan["joint"]["diagnostics"]["grad_rel"] < 1e-6
    for name in ("a", "b", "n_coef", "d_coef"):
        assert name in doc["approach1"]["ci"] and name in doc["approach2"]["ci"]
    figures = ("kaplan_compute", "kaplan_dataset", "kaplan_params", "kaplan_joint")
    for fig in figures + ("training_curves", "isoflops", "optimal_allocation"):
        assert (out / f"{fig}.png").stat().st_size > 0 and (out / f"{fig}.svg").is_file()


def test_approach2_intervals_cover_every_reported_number():
    table = isoflop_table(noise=0.01, per_budget=9)
    data = (table["params"], table["tokens"], table["loss"], table["budget"])
    fit = fit_approach2(*data)
    ci, info = bootstrap_approach2(*data, n_resamples=100)
    assert info["n_valid"] > 90
    expected = {"a", "b", "n_coef", "d_coef", "a_plus_b"}
    for o in fit.optima:
        expected |= {f"{k}@C={o['flops']:.3g}" for k in ("n_opt", "d_opt", "loss_opt")}
    assert set(ci) == expected
    for name in ("a", "b", "n_coef", "d_coef"):
        assert ci[name][0] <= getattr(fit, name) <= ci[name][1], name


def test_approach1_intervals_resample_curves():
    results = fit_table(training_curves(), approaches=(1,), law="chinchilla", n_bootstrap=100)
    fit = results["approach1"]
    assert fit.diagnostics["bootstrap"]["n_valid"] > 50
    low, high = fit.ci["a"]
    assert low <= fit.a <= high and high > low


def test_plotting_leaves_the_callers_backend_alone():
    code = (
        "import sys, matplotlib; matplotlib.use('svg');"
        "import llm_jax.scaling.plots, llm_jax.scaling.kaplan_plots;"
        "assert matplotlib.get_backend() == 'svg', matplotlib.get_backend();"
        "assert 'matplotlib.pyplot' not in sys.modules"
    )
    env = os.environ | {"PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr


def test_separate_curve_table_feeds_approach1_and_kaplan_only(tmp_path, curves):
    """--curves: Approaches 2/3 read each run's row of --runs (here 2% below the curves' last
    rows, as a full eval set beside a subset's curves), Approach 1 and Kaplan the curves."""
    ends = final_points(curves)
    finals = ends | {"loss": ends["loss"] * 0.98, "step": ends["step"] + 1}
    runs = write_curves(tmp_path / "runs.csv", finals)
    curve_file = write_curves(tmp_path / "curves.csv", curves)
    out = tmp_path / "fit"
    argv = ["fit", f"--runs={runs}", f"--curves={curve_file}", f"--out={out}", "--approaches=1,2"]
    assert main(argv) == 0
    doc = json.loads((out / "fits.json").read_text())
    assert doc["curves"] == str(curve_file) and doc["law"] == "both"
    alone = fit_runs(runs, tmp_path / "runs_alone", approaches=(2,), plots=False)
    on_curves = fit_runs(curve_file, tmp_path / "curves_alone", approaches=(1, 2), plots=False)
    assert doc["approach2"]["optima"] == alone["approach2"]["optima"]  # the final points
    assert doc["approach2"]["optima"] != on_curves["approach2"]["optima"]  # not the curves' ends
    assert doc["approach1"]["a"] == on_curves["approach1"]["a"]
    assert doc["kaplan"]["alpha_N"] == on_curves["kaplan"]["alpha_N"]
