"""After a sweep: runs.csv (fit points), curves.csv (their learning curves) and all_runs.csv
(every run), fits and figures, and the checks a study reports (bracketing, seed noise, LR rule,
non-embedding refit, WSD FLOPs saved)."""

from __future__ import annotations

import json
import os
import pathlib
import pickle
import subprocess
import sys
import tempfile
from collections import defaultdict

import numpy as np
from etils import epath

import llm_jax.sweep.ladder as ladder
from llm_jax.scaling.table import RunTableError
from llm_jax.sweep.curves import collect_curves, fit_curves
from llm_jax.sweep.runs import collect, fit_rows, recount, write_csv
from llm_jax.sweep.store import log_file, write_atomic


def seed_noise(rows: list[dict]) -> list[dict]:
    """Relative eval-loss difference between each seed rerun and its main run."""
    main = {(r["budget"], r["params"]): r for r in fit_rows(rows)}
    out = []
    for r in fit_rows(rows, roles=("seed",)):
        ref = main.get((r["budget"], r["params"]))
        if ref:
            diff = abs(r["loss"] - ref["loss"]) / ref["loss"]
            out.append(
                {
                    "budget": r["budget"],
                    "params": r["params"],
                    "seeds": [ref["seed"], r["seed"]],
                    "losses": [ref["loss"], r["loss"]],
                    "rel_diff": diff,
                }
            )
    return out


def lr_check(rows: list[dict]) -> list[dict]:
    """Per size at the LR-sweep budget: loss at each LR multiplier, and the best multiplier."""
    by_size = defaultdict(dict)
    swept = fit_rows(rows, roles=("lr",))
    budgets = {r["budget"] for r in swept}
    for r in fit_rows(rows, roles=("main", "lr")):
        if r["budget"] in budgets:
            by_size[r["params"]][float(r.get("lr_mult", 1.0))] = r["loss"]
    return [
        {"params": n, "loss_by_lr_mult": dict(sorted(v.items())), "best_lr_mult": min(v, key=v.get)}
        for n, v in sorted(by_size.items())
    ]


def wsd_flops(rows: list[dict]) -> dict | None:
    """Trained FLOPs of trunks (to their last save) + cooldowns vs the branches as independent
    runs; None without trunks."""
    trunks = defaultdict(float)
    for r in rows:
        if r["role"] == "trunk" and "flops_trained" in r:
            trunks[r["trunk"]] = max(trunks[r["trunk"]], r["flops_trained"])
    branches = [r for r in fit_rows(rows) if r.get("trunk")]
    if not trunks or not branches:
        return None
    spent = sum(trunks.values()) + sum(r["own_flops"] for r in branches)
    independent = sum(r["flops_trained"] for r in branches)
    return {
        "wsd_flops": spent,
        "independent_flops": independent,
        "ratio": spent / independent,
        "saved_fraction": 1 - spent / independent,
    }


def _fit_all(fits: list[tuple], log, parallel: bool) -> list[dict | None]:
    """Each (rows, curves, out, bootstrap, kaplan_params) fitted and logged in order. With
    `parallel` and a core for each, the later fits run at the same time in child interpreters
    (the total-N and non-embedding fits with their figures took 20-25 s each on one core of the
    2-core VM). A remote root stays in this process (an in-memory filesystem is per process)."""
    if not parallel or (os.cpu_count() or 1) < len(fits):
        return [_fit(*f, log) for f in fits]
    children = [_start_fit(f) for f in fits[1:]]
    docs = [_fit(*fits[0], log)]
    for fit, child in zip(fits[1:], children, strict=True):
        out, _ = child.communicate()
        if child.returncode:
            raise RuntimeError(f"the {fit[-1]} fit failed (exit {child.returncode}): see above")
        doc, lines = pickle.loads(out)
        for line in lines:
            log(line)
        docs.append(doc)
    return docs


def _start_fit(fit: tuple) -> subprocess.Popen:
    """`fit` in a child interpreter: its arguments pickled in through a file, (doc, log lines)
    pickled out on stdout; its warnings and errors reach stderr."""
    with tempfile.TemporaryFile() as arguments:
        arguments.write(pickle.dumps(fit))
        arguments.seek(0)
        code = "from llm_jax.sweep.report import fit_child; fit_child()"
        command = [sys.executable, "-c", code]
        return subprocess.Popen(command, stdin=arguments, stdout=subprocess.PIPE)


def fit_child() -> None:
    """The child side of _start_fit."""
    fit = pickle.load(sys.stdin.buffer)
    out, sys.stdout = sys.stdout.buffer, sys.stderr  # prints must not mix into the result
    lines = []
    out.write(pickle.dumps((_fit(*fit, lines.append), lines)))


def _fit(rows, curves, out: epath.Path, bootstrap: int, kaplan_params, log) -> dict | None:
    """Chinchilla's approaches on runs.csv, Approach 1 and Kaplan's laws on curves.csv; when the
    curves cannot be fitted (too few sizes, no overlap) the rest still is. The fit itself writes
    local files only (llm_jax.scaling is pure), so a remote `out` gets them copied up afterwards."""
    from llm_jax.scaling.fit import fit_runs

    fit = (rows, curves, bootstrap, log, kaplan_params, fit_runs)
    if "://" not in str(out):
        return _fit_in(pathlib.Path(out), *fit)
    with tempfile.TemporaryDirectory() as local:
        doc = _fit_in(pathlib.Path(local), *fit)
        if doc:  # fits.json names its run tables: the ones in `out`
            fits = pathlib.Path(local) / "fits.json"
            tables = {
                k: str(out / pathlib.Path(doc[k]).name) for k in ("runs", "curves") if doc.get(k)
            }
            fits.write_text(json.dumps(json.loads(fits.read_text()) | tables, indent=2) + "\n")
            doc |= tables
            doc["figures"] = [str(out / pathlib.Path(f).name) for f in doc.get("figures", [])]
        out.mkdir(parents=True, exist_ok=True)
        for path in sorted(pathlib.Path(local).iterdir()):
            (out / path.name).write_bytes(path.read_bytes())
    return doc


def _fit_in(out: pathlib.Path, rows, curves, bootstrap, log, kaplan_params, fit_runs):
    out.mkdir(parents=True, exist_ok=True)
    write_csv(rows, out / "runs.csv")
    if curves:
        write_csv(curves, out / "curves.csv")
    for curve_table in ([out / "curves.csv"] if curves else []) + [None]:
        try:
            return fit_runs(
                out / "runs.csv",
                out,
                n_bootstrap=bootstrap,
                curves=curve_table,
                kaplan_params=kaplan_params,
            )
        except (RunTableError, ValueError) as err:
            log(f"{'curve fits' if curve_table else 'fit'} skipped ({out}): {err}")
    return None


def summarise_fit(doc: dict | None) -> dict:
    """The numbers a study reports from fits.json: a, b with intervals, tokens/param at optima."""
    if not doc:
        return {}
    a2, a3 = doc.get("approach2", {}), doc.get("approach3", {})
    optima = [o for o in a2.get("optima", []) if o.get("used")]
    a1, kaplan = doc.get("approach1", {}), doc.get("kaplan", {})
    names = ("alpha_N", "alpha_D", "alpha_C", "a")
    kaplan_fit = {f"kaplan_{k}": kaplan.get(k) for k in names}
    kaplan_fit |= {f"kaplan_{k}_ci": kaplan.get("ci", {}).get(k) for k in names}
    return kaplan_fit | {
        "approach1_a": a1.get("a"),
        "approach1_a_ci": a1.get("ci", {}).get("a"),
        "approach2_a": a2.get("a"),
        "approach2_a_ci": a2.get("ci", {}).get("a"),
        "approach2_b": a2.get("b"),
        "approach3_a": a3.get("a"),
        "approach3_a_ci": a3.get("ci", {}).get("a"),
        "approach3_converged": a3.get("converged"),
        "tokens_per_param_at_optimum": [o["d_opt"] / o["n_opt"] for o in optima],
        "figures": [f for f in doc.get("figures", []) if str(f).endswith(".png")],
    }


def finish(sweep, root, status, fit: bool = True, log=print) -> dict:
    """Write all_runs.csv, runs.csv, fits, summary.json next to them; returns the summary."""
    root = epath.Path(root)
    rows = collect(sweep, root, status)
    write_csv(rows, root / "all_runs.csv")
    points = fit_rows(rows)
    curves = collect_curves(sweep, root, points)
    counts = defaultdict(int)
    for r in rows:
        counts[r["status"]] += 1
    summary = {
        "study": sweep.study,
        "status": dict(counts),
        "n_points": len(points),
        "failed": {r["run"]: r["error"][-300:] for r in rows if r["status"] == "failed"},
    }
    logs = {name: log_file(root, name) for name in summary["failed"]}
    summary["failed_logs"] = {name: str(path) for name, path in logs.items() if path.exists()}
    if points:
        summary["max_budget_error"] = max(abs(r["flops"] / r["budget"] - 1) for r in points)
        report = ladder.bracketing(
            [r["budget"] for r in points],
            [r["params"] for r in points],
            [r["loss"] for r in points],
            sweep.ladder_params,
        )
        summary["bracketing"] = report
        summary["bracketing_text"] = ladder.describe(report)
    summary["seed_noise"] = seed_noise(rows)
    summary["lr_check"] = lr_check(rows)
    summary["wsd"] = wsd_flops(rows)
    if fit and len(points) >= 3:
        nonembed = recount(points, "params_non_embedding", "6N_nonembed")
        fits = [
            (points, curves, root, sweep.bootstrap, "total"),
            (nonembed, fit_curves(curves, nonembed, "6N_nonembed"), root / "non_embedding",
             sweep.bootstrap, "nonembed"),
        ]  # fmt: skip
        docs = _fit_all(fits, log, parallel="://" not in str(root))
        summary["fit"], summary["fit_non_embedding"] = map(summarise_fit, docs)
    elif points:
        write_csv(points, root / "runs.csv")
        if curves:
            write_csv(curves, root / "curves.csv")
    write_atomic(root / "summary.json", json.dumps(summary, indent=1, default=_plain) + "\n")
    return summary


def _plain(value):
    if isinstance(value, np.generic | np.ndarray):
        return value.tolist()
    return str(value)


def compare_points(rows_a: list[dict], rows_b: list[dict]) -> list[dict]:
    """Points two sweeps share (same budget and size): their losses and relative difference."""
    b = {(float(r["budget"]), int(float(r["params"]))): r for r in rows_b}
    out = []
    for r in rows_a:
        other = b.get((float(r["budget"]), int(float(r["params"]))))
        if other:
            la, lb = float(r["loss"]), float(other["loss"])
            out.append(
                {
                    "budget": float(r["budget"]),
                    "params": int(float(r["params"])),
                    "loss_a": la,
                    "loss_b": lb,
                    "rel_diff": (la - lb) / lb,
                }
            )
    return out
