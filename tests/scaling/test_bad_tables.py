"""Bad run tables: every table error is one line naming FILE:LINE and the column; duplicate rows
are merged or refused; points off Approach 3's surface are flagged; one-budget sweeps and unknown
approaches get a clear answer instead of a crash or an empty fit."""

import csv
import json

import numpy as np
import pytest

from llm_jax.cli.fit_scaling_laws import main
from llm_jax.scaling.approach3 import Approach3Fit
from llm_jax.scaling.fit import fit_runs, fit_table
from llm_jax.scaling.outliers import off_surface
from llm_jax.scaling.synthetic import DEFAULT_LAW, isoflop_table
from llm_jax.scaling.table import RunTableError, load_runs
from tests.scaling.conftest import all_chinchilla_points

COLUMNS = ["run", "params", "tokens", "loss", "flops", "budget"]


def sweep(budgets=(1e18, 1e19, 1e20), per_budget=7, noise=0.005) -> dict:
    table = isoflop_table(budgets=budgets, per_budget=per_budget, noise=noise)
    table["run"] = np.array([f"r{i:02d}" for i in range(len(table["loss"]))])
    return table


def write(path, table, columns=COLUMNS, extra_rows=()):
    rows = [list(r) for r in zip(*(table[c] for c in columns), strict=True)]
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(columns)
        writer.writerows(rows + list(extra_rows))
    return path


@pytest.mark.parametrize(
    ("name", "text", "line", "fragment"),
    [
        ("runs.jsonl", '{"params": 1e6, "tokens": 1e7, "loss": 3}\n{"params": 2e6,\n', 2, "JSON"),
        ("runs.jsonl", '{"params": 1e6, "tokens": 1e7, "loss": 3}\n[1, 2]\n', 2, "JSON object"),
        (
            "runs.jsonl",
            '{"params": 1, "tokens": 1, "loss": 3}\n{"params": 1, "tokens": 2}\n',
            2,
            "'loss'",
        ),  # fmt: skip
        ("runs.csv", "params,loss\n1,2\n", 1, "missing required column(s) ['tokens']"),
        ("runs.csv", "params,tokens,loss\n1e6,1e7,3.0\n-1e6,1e7,3.0\n", 3, "'params'"),
        ("runs.csv", "params,tokens,loss\n1e6,1e7,3.0\n\n1e6,2e7,abc\n", 4, "'loss' is 'abc'"),
        ("runs.csv", "params,tokens,loss\n1e6,1e7,nan\n", 2, "'loss' is 'nan'; it must be finite"),
        ("runs.csv", "params,tokens,loss,step\n1e6,1e7,3,inf\n", 2, "'step' is 'inf'"),
        ("runs.csv", "params,tokens,loss\n1e6,,3.0\n", 2, "'tokens' is empty"),
        ("runs.csv", "params,tokens,loss\n1e6,1e7\n", 2, "2 fields, but the header"),
        ("runs.csv", "params,tokens,loss,loss\n1,2,3,4\n", 1, "['loss'] appear twice"),
        ("runs.csv", "run,params,tokens,loss\n,1e6,1e7,3\n", 2, "'run' is empty"),
    ],
)
def test_table_errors_name_file_line_and_column(tmp_path, name, text, line, fragment):
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(RunTableError) as err:
        load_runs(path)
    message = str(err.value)
    assert message.startswith(f"{path}:{line}: ") and fragment in message, message
    assert "\n" not in message


@pytest.mark.parametrize("text", ["", "params,tokens,loss\n", "\n\n"])
def test_empty_tables_are_refused(tmp_path, text):
    path = tmp_path / "runs.csv"
    path.write_text(text)
    with pytest.raises(RunTableError, match=f"{path}: no rows"):
        load_runs(path)


def test_binary_table_is_refused(tmp_path):
    path = tmp_path / "runs.csv"
    path.write_bytes(b"\xff\xfe\x00params")
    with pytest.raises(RunTableError, match="not UTF-8 text"):
        load_runs(path)


def test_identical_duplicates_are_merged_with_a_warning(tmp_path):
    table = sweep()
    path = write(tmp_path / "runs.csv", table)
    clean = load_runs(path)
    rows = [list(r) for r in zip(*(table[c] for c in COLUMNS), strict=True)]
    # Two shards' tables concatenated: a second header line, then run r03 again.
    doubled = write(tmp_path / "doubled.csv", table, extra_rows=[COLUMNS, rows[3]])
    warnings = []
    merged = load_runs(doubled, warnings)
    assert len(merged["loss"]) == len(clean["loss"]) and "r03" in merged["run"]
    np.testing.assert_array_equal(merged["loss"], clean["loss"])
    assert any(f"{doubled}:23: repeats the header" in w for w in warnings), warnings
    assert any(f"{doubled}:24: repeats line 5 (run=r03); merged" in w for w in warnings), warnings


def test_identical_duplicates_without_run_names_are_merged(tmp_path):
    table = sweep()
    columns = COLUMNS[1:]
    rows = [list(r) for r in zip(*(table[c] for c in columns), strict=True)]
    warnings = []
    merged = load_runs(write(tmp_path / "runs.csv", table, columns, [rows[0]]), warnings)
    assert len(merged["loss"]) == len(rows) and len(warnings) == 1
    assert ":23: repeats line 2 (params=" in warnings[0]


@pytest.mark.parametrize("named", [True, False])
def test_conflicting_duplicates_are_refused_naming_run_and_rows(tmp_path, named):
    table = sweep()
    columns = COLUMNS if named else COLUMNS[1:]
    rows = [list(r) for r in zip(*(table[c] for c in columns), strict=True)]
    conflict = list(rows[3])
    conflict[columns.index("loss")] = 9.5
    path = write(tmp_path / "runs.csv", table, columns, [conflict])
    with pytest.raises(RunTableError) as err:
        load_runs(path)
    message = str(err.value)
    who = "run=r03" if named else f"params={table['params'][3]:.15g}"
    assert message.startswith(f"{path}:23: run {who}") and "\n" not in message, message
    assert "different 'loss'" in message and "on line 5" in message and "9.5 on line 23" in message


def test_fit_runs_reports_merged_rows_in_fits_json(tmp_path):
    table = sweep()
    rows = [list(r) for r in zip(*(table[c] for c in COLUMNS), strict=True)]
    path = write(tmp_path / "runs.csv", table, extra_rows=[rows[0]])
    doc = fit_runs(path, tmp_path / "fit", approaches=(2,), plots=False)
    assert doc["n_runs"] == len(rows)
    assert any("repeats line 2 (run=r00); merged" in w for w in doc["warnings"])


def law_fit() -> Approach3Fit:
    return Approach3Fit(**DEFAULT_LAW, converged=True)


def test_outlier_rule_flags_absurd_and_diverged_points_only():
    points = sweep(noise=0.005)
    assert off_surface(law_fit(), points)[0] == []
    exact = sweep(noise=0.0)
    exact["loss"][7] *= 1.01  # noise-free: 1% off is under the floor (2.4% of the loss)
    assert off_surface(law_fit(), exact)[0] == []
    for i, loss in ((5, 1e9), (12, 2 * points["loss"][12])):
        bad = points | {"loss": points["loss"].copy(), "line": np.arange(21) + 2}
        bad["loss"][i] = loss
        flagged, _ = off_surface(law_fit(), bad)
        assert [(o["index"], o["line"], o["run"]) for o in flagged] == [(i, i + 2, f"r{i:02d}")]
        assert flagged[0]["residual"] == pytest.approx(np.log(loss / points["loss"][i]), abs=0.02)


@pytest.mark.parametrize(
    "index",
    [0, pytest.param(5, marks=pytest.mark.slow)],  # 0: the grid's corner, a runaway fit absorbs
)
def test_outlier_marks_approach3_unconverged(index):
    """The fit is on all points (as given); the flagged ones are named, and refitted without."""
    points = sweep(budgets=(1e18, 1e20), per_budget=9)  # two budgets: no extrapolation check
    points["loss"][index] = 1e9
    results = fit_table(points, approaches=(3,))
    fit = results["approach3"]
    assert [o["index"] for o in fit.outliers] == [index]
    assert fit.converged is False and any("off the fitted surface" in p
                                          for p in fit.diagnostics["problems"])  # fmt: skip
    assert any(f"run r{index:02d}" in w and "far off" in w for w in results["warnings"])
    assert 0.45 < fit.diagnostics["without_outliers"]["a"] < 0.55  # the law's a is 0.51
    doc = fit.to_dict()
    assert doc["outliers"][0]["residual"] == fit.outliers[0]["residual"]


@pytest.mark.slow  # test_cli_end_to_end checks a clean fit's empty outliers in the default run
def test_clean_fit_is_not_flagged():
    results = fit_table(sweep(), approaches=(3,))
    assert results["approach3"].outliers == [] and results["approach3"].converged
    assert not any("far off" in w for w in results["warnings"])


def test_one_budget_skips_approach2_and_fits_approach3(tmp_path, capsys):
    path = write(tmp_path / "runs.csv", sweep(budgets=(1e19,), per_budget=9))
    out = tmp_path / "fit"
    assert main(["fit", f"--runs={path}", f"--out={out}"]) == 0
    doc = json.loads((out / "fits.json").read_text())
    assert "approach2" not in doc and "needs at least 2 budgets" in doc["skipped"]["approach2"]
    assert "a" in doc["approach3"] and doc["n_budgets"] == 1
    assert "same FLOP budget" in capsys.readouterr().err
    for explicit in ("--approaches=2", "--approaches=2,3"):
        assert main(["fit", f"--runs={path}", f"--out={tmp_path / 'x'}", explicit]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and "Approach 2 needs at least 2 budgets" in err, err
    assert not (tmp_path / "x").exists()


def test_one_budget_too_small_for_any_approach_is_one_line(tmp_path, capsys):
    path = write(tmp_path / "runs.csv", sweep(budgets=(1e19,), per_budget=5))
    assert main(["fit", f"--runs={path}", f"--out={tmp_path / 'fit'}"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: no Chinchilla approach fits this table") and "\n" not in err
    assert "Approach 2 needs" in err and "Approach 3 needs at least 8 runs" in err


@pytest.mark.parametrize(
    ("flags", "fragment"),
    [
        (["--approaches=9"], "unknown approach(es) ['9']; choose from 1, 2, 3"),
        (["--approaches=2,"], "unknown approach(es) ['']"),
        (["--approaches=2", "--law=kaplan"], "--law=kaplan fits none of them"),
    ],
)
def test_unknown_approaches_are_refused(tmp_path, capsys, flags, fragment):
    path = write(tmp_path / "runs.csv", sweep())
    assert main(["fit", f"--runs={path}", f"--out={tmp_path / 'fit'}", *flags]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and fragment in err, err
    assert not (tmp_path / "fit").exists()


def test_fit_table_refuses_unknown_approaches():
    with pytest.raises(ValueError, match=r"unknown approach\(es\) \[9\]; choose from \(1, 2, 3\)"):
        fit_table(sweep(), approaches=(9,))


@pytest.mark.slow
def test_outlier_threshold_on_chinchillas_points():
    """The 240 points Besiroglu et al. kept are not flagged; the 5 they dropped mostly are."""
    n, c, loss = all_chinchilla_points()
    points = {"params": n, "tokens": c / (6 * n), "loss": loss, "flops": c}
    dropped = set(np.argsort(loss)[-5:].tolist())
    kept = {k: v[np.argsort(loss)[:-5]] for k, v in points.items()}
    assert fit_table(kept, approaches=(3,))["approach3"].outliers == []
    flagged = {o["index"] for o in fit_table(points, approaches=(3,))["approach3"].outliers}
    assert len(flagged & dropped) >= 4, (flagged, dropped)
