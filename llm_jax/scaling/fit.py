"""Fit scaling laws to a run table: Chinchilla's Approaches 1–3 and Kaplan's laws, bootstrap
intervals, an extrapolation check.

The maths lives in approach12.py, approach3.py, bootstrap.py and kaplan.py / kaplan_fit.py; this
module chooses what a table supports, names bad input, and assembles fits.json, whose contract is
approach2.{a, b}, approach3.{E, A, B, alpha, beta, a, b, converged, ci, outliers},
kaplan.{alpha_N, alpha_D, N_c, D_c, alpha_C, C_c, a, converged, ci}, skipped (approach → why)
and warnings. approach3.outliers lists the points off its surface (outliers.py); a fit with any
has converged false.
"""

import json
import pathlib

import numpy as np

from llm_jax.scaling.approach3 import Approach3Fit, fit_approach3
from llm_jax.scaling.approach12 import (
    PowerLawFit,
    bootstrap_approach1,
    bootstrap_approach2,
    fit_approach1,
    fit_approach2,
)
from llm_jax.scaling.bootstrap import attach, bootstrap_approach3
from llm_jax.scaling.extrapolation import extrapolation_check
from llm_jax.scaling.kaplan_fit import KaplanFit, fit_kaplan
from llm_jax.scaling.outliers import THRESHOLD, describe, off_surface
from llm_jax.scaling.table import (
    RunTableError,
    final_points,
    group_budgets,
    has_curves,
    load_runs,
    require_curves,
)

MIN_POINTS_APPROACH3 = 8  # five parameters need a few more points than that to be identified
LAWS = ("chinchilla", "kaplan", "both")
APPROACHES = (1, 2, 3)

__all__ = [
    "Approach3Fit",
    "KaplanFit",
    "PowerLawFit",
    "extrapolation_check",
    "fit_runs",
    "fit_table",
    "has_curves",
]


def select_flops(table: dict, convention: str) -> dict:
    """Use FLOPs of a named convention: "6N" is the `flops` column (default 6ND); any other name
    needs a per-run `flops_per_token_<name>` column (flops.all_conventions stores them)."""
    if convention == "6N":
        return table
    column = f"flops_per_token_{convention}"
    if column not in table:
        raise RunTableError(f"--flops_convention={convention} needs a column {column!r}")
    return table | {"flops": table[column] * table["tokens"]}


def _approach3(points, n_bootstrap, budgets, seed, warnings) -> Approach3Fit:
    if len(points["loss"]) < MIN_POINTS_APPROACH3:
        raise RunTableError(
            f"Approach 3 needs at least {MIN_POINTS_APPROACH3} runs, got {len(points['loss'])}"
        )
    fit = fit_approach3(points["params"], points["tokens"], points["loss"])
    if len(np.unique(budgets)) < 2:
        warnings.append(
            "approach3: every run has the same FLOP budget, so N and D move together and a, b "
            "rest on the shape of one IsoFLOP profile; add budgets before trusting them"
        )
    _check_surface(fit, points, warnings)
    if not fit.converged:
        warnings.append(f"approach3 did not converge: {fit.diagnostics['problems']}")
    if n_bootstrap:
        top = int(np.argmax(points["flops"]))
        boot = bootstrap_approach3(
            fit,
            points["params"],
            points["tokens"],
            points["loss"],
            n_bootstrap,
            groups=points.get("run"),
            seed=seed,
            at_flops=(float(np.max(budgets)),),
            at_points=((points["params"][top], points["tokens"][top]),),
        )
        attach(fit, boot)
        warnings.extend(f"approach3 bootstrap: {w}" for w in boot["warnings"])
    return fit


def _check_surface(fit: Approach3Fit, points: dict, warnings: list) -> None:
    """Flag points far off the fitted surface (outliers.py); a fit with any is not converged,
    and the fit without them is reported beside it for comparison."""
    flagged, scale = off_surface(fit, points)
    fit.diagnostics["residual_scale"] = scale
    if not flagged:
        return
    fit.outliers, fit.converged = flagged, False
    fit.diagnostics["problems"].append(
        f"{len(flagged)} point(s) off the fitted surface (> {THRESHOLD:g} robust SDs in log loss)"
    )
    keep = np.ones(len(points["loss"]), bool)
    keep[[o["index"] for o in flagged]] = False
    note = ""
    if keep.sum() >= MIN_POINTS_APPROACH3:
        clean = fit_approach3(points["params"][keep], points["tokens"][keep], points["loss"][keep])
        fit.diagnostics["without_outliers"] = clean.to_dict()
        note = f"; without them a = {clean.a:.4f} (with them {fit.a:.4f})"
    warnings.append(
        f"approach3: {len(flagged)} point(s) far off the fitted surface, so the fit is not "
        f"trustworthy: {describe(flagged)}{note}; check those runs, or drop them from the table"
    )


def _approach2(points, budgets, n_bootstrap, seed) -> PowerLawFit:
    try:
        fit = fit_approach2(points["params"], points["tokens"], points["loss"], budgets)
    except ValueError as err:
        raise RunTableError(str(err)) from err
    if n_bootstrap:
        fit.ci, fit.diagnostics["bootstrap"] = bootstrap_approach2(
            points["params"], points["tokens"], points["loss"], budgets, n_bootstrap, seed
        )
    return fit


def _approach1(table, n_bootstrap, seed) -> PowerLawFit:
    require_curves(table, "Approach 1")
    data = (table["flops"], table["loss"], table["params"], table["tokens"], table["run"])
    try:
        fit = fit_approach1(*data)
    except ValueError as err:
        raise RunTableError(str(err)) from err
    if n_bootstrap:
        fit.ci, fit.diagnostics["bootstrap"] = bootstrap_approach1(*data, n_bootstrap, seed)
    return fit


def default_law(table: dict) -> str:
    """Both families when the table has training curves (Kaplan's need them), else Chinchilla's."""
    return "both" if has_curves(table) else "chinchilla"


def fit_table(
    table: dict,
    approaches=None,
    n_bootstrap: int = 0,
    budget_tolerance: float = 0.15,
    seed=0,
    law: str | None = None,
    kaplan_params: str = "auto",
    curves: dict | None = None,
) -> dict:
    """Fit `law` ("chinchilla", "kaplan" or "both"; None: default_law). Chinchilla's approaches:
    None means 2 and 3, plus 1 when there are training curves; of those, any the table cannot
    support (one FLOP budget: no Approach 2) is skipped with its reason in results["skipped"],
    while approaches asked for by name are refused instead. Approaches 2 and 3 take each
    run's last row of `table`; Approach 1 and Kaplan's laws the curves, which are `table` itself
    unless a separate curve table is given (e.g. curves on a cheap eval subset beside final
    points on the full eval set)."""
    curves = table if curves is None else curves
    law = law or default_law(curves)
    if law not in LAWS:
        raise ValueError(f"law must be one of {', '.join(LAWS)}, got {law!r}")
    if unknown := [a for a in approaches or () if a not in APPROACHES]:
        raise ValueError(f"unknown approach(es) {unknown}; choose from {APPROACHES}")
    if law != "chinchilla":
        require_curves(curves, "Kaplan's fits (their L(D) and compute frontier)")
    explicit = bool(approaches)
    approaches = tuple(approaches or ((1, 2, 3) if has_curves(curves) else (2, 3)))
    points = final_points(table)
    budgets = group_budgets(points["flops"], points.get("budget"), budget_tolerance)
    results, warnings, skipped = {"budgets": budgets, "points": points}, [], {}
    chinchilla = {
        1: lambda: _approach1(curves, n_bootstrap, seed),
        2: lambda: _approach2(points, budgets, n_bootstrap, seed),
        3: lambda: _approach3(points, n_bootstrap, budgets, seed, warnings),
    }
    for k in approaches if law != "kaplan" else ():
        try:
            results[f"approach{k}"] = chinchilla[k]()
        except RunTableError as err:
            if explicit:  # asked for by name: refused, not quietly left out
                raise
            skipped[f"approach{k}"] = str(err)
            warnings.append(f"approach{k} skipped: {err}")
    if law == "chinchilla" and len(skipped) == len(approaches):  # with "both", Kaplan's may
        reasons = "; ".join(skipped.values())
        raise RunTableError(f"no Chinchilla approach fits this table: {reasons}")
    if "approach2" in results and getattr(results.get("approach3"), "outliers", None):
        warnings.append("approach2 fitted the same points, including those flagged by approach3")
    if "approach3" in results and len(np.unique(budgets)) >= 3:
        results["extrapolation"] = extrapolation_check(points, budgets, n_bootstrap, seed)
    if law != "chinchilla":
        results["kaplan"] = fit_kaplan(curves, n_bootstrap, seed, kaplan_params)
        warnings.extend(results["kaplan"].warnings)
        if not results["kaplan"].converged:
            warnings.append("kaplan: not every fit converged (see kaplan.*.diagnostics.problems)")
    results["skipped"], results["warnings"] = skipped, warnings
    return results


def to_json(results: dict, **meta) -> dict:
    """The fits.json document."""
    doc = dict(meta)
    doc["n_runs"] = len(results["points"]["loss"])
    doc["n_budgets"] = len(np.unique(results["budgets"]))
    for key in ("approach1", "approach2", "approach3", "kaplan"):
        if key in results:
            doc[key] = results[key].to_dict()
    if "extrapolation" in results:
        doc["extrapolation"] = results["extrapolation"]
    doc["skipped"] = results.get("skipped", {})
    doc["warnings"] = results["warnings"]
    return doc


def fit_runs(
    runs,
    out,
    n_bootstrap=0,
    approaches=None,
    flops_convention="6N",
    budget_tolerance=0.15,
    seed=0,
    plots=True,
    law=None,
    kaplan_params="auto",
    curves=None,
) -> dict:
    """Load a run table (and a separate curve table, if given: see fit_table), fit, write
    out/fits.json (+ PNG/SVG figures); returns the JSON doc."""
    table_warnings = []  # merged duplicate rows, a repeated header: reported in fits.json
    table = select_flops(load_runs(runs, table_warnings), flops_convention)
    curve_table = table
    if curves:
        curve_table = select_flops(load_runs(curves, table_warnings), flops_convention)
    law = law or default_law(curve_table)
    results = fit_table(
        table,
        approaches,
        n_bootstrap,
        budget_tolerance,
        seed,
        law=law,
        kaplan_params=kaplan_params,
        curves=curve_table,
    )
    results["warnings"][:0] = table_warnings
    doc = to_json(
        results,
        runs=str(runs),
        curves=str(curves or runs),
        law=law,
        flops_convention=flops_convention,
        budget_tolerance=budget_tolerance,
        bootstrap=n_bootstrap,
    )
    out = pathlib.Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "fits.json").write_text(json.dumps(doc, indent=2, default=_json_default) + "\n")
    if plots:
        from llm_jax.scaling.plots import plot_all

        doc["figures"] = plot_all(results, curve_table, out, flops_convention)
    return doc


def _json_default(value):
    if isinstance(value, np.generic | np.ndarray):
        return value.tolist()
    raise TypeError(f"not JSON-serialisable: {type(value).__name__}")
