"""Learning curves of a sweep's runs → DIR/curves.csv, the curve table of Approach 1 and Kaplan's
laws (runs.csv holds one row per run, the final full-set evals of Approaches 2 and 3).

A curve is one eval set throughout: the fixed subset's rows (split "eval_subset", the log
schedule) when the run has any, else its full-set rows (split "eval").
"""

from __future__ import annotations

from llm_jax.sweep.runs import _metrics

COLUMNS = ("run", "step", "tokens", "flops", "loss", "params", "params_nonembed", "budget", "role")


def read_curve(workdir) -> list[dict]:
    """One run directory's eval rows of one eval set, by step."""
    rows = _metrics(workdir)
    subset = [r for r in rows if r["split"] == "eval_subset"]
    return sorted(subset or [r for r in rows if r["split"] == "eval"], key=lambda r: r["step"])


def curve_rows(run, root, row: dict, convention: str) -> list[dict]:
    """The learning curve of one finished run in its own steps (a WSD branch or trunk segment:
    after its start step), FLOPs under `convention`; [] for a run not finished."""
    if row.get("status") != "done" or "loss" not in row:
        return []
    start, fpt = run.info.get("start_step", 0), row[f"flops_per_token_{convention}"]
    out = []
    for e in read_curve(root / "runs" / run.dir_name):
        if start < e["step"] <= run.config.train.steps:
            out.append(
                {
                    "run": run.name,
                    "step": e["step"],
                    "tokens": e["tokens"],
                    "flops": e["tokens"] * fpt,
                    "loss": e["loss"],
                    "params": row["params"],
                    "params_nonembed": row["params_non_embedding"],
                    "budget": row.get("budget", ""),
                    "role": run.role,
                    "split": e["split"],
                    "eval_tokens": e.get("eval_tokens", ""),
                }
            )
    return out


def collect_curves(sweep, root, rows: list[dict]) -> list[dict]:
    """Curve rows of the runs of `rows` (collect()'s rows, or the fit's) that finished."""
    by_name = {r["run"]: r for r in rows}
    return [
        c
        for run in sweep.runs
        if run.name in by_name
        for c in curve_rows(run, root, by_name[run.name], sweep.convention)
    ]


def fit_curves(curves: list[dict], points: list[dict], convention: str) -> list[dict]:
    """The curves of the fit's points (same runs), with the points' parameter count (e.g. the
    non-embedding one after runs.recount) and FLOPs under `convention`."""
    by_run = {p["run"]: p for p in points}
    return [
        c | {"params": p["params"], "flops": c["tokens"] * p[f"flops_per_token_{convention}"]}
        for c in curves
        if (p := by_run.get(c["run"])) is not None
    ]
