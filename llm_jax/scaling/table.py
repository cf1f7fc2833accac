"""Run tables for the fits: read CSV/JSONL, validate, group budgets.

A table has one row per run (final points: params, tokens, loss, optional flops, budget), or holds
training curves: many rows per run, with columns run and step (and optional params_nonembed).
"""

import csv
import json
import pathlib

import numpy as np

REQUIRED = ("params", "tokens", "loss")
NUMERIC = ("params", "tokens", "loss", "flops", "step", "budget", "params_nonembed")
POSITIVE = ("params", "tokens", "loss", "flops", "budget", "params_nonembed")
ALIASES = {"params_non_embedding": "params_nonembed"}  # the sweep tables' name for it


class RunTableError(ValueError):
    """A run table that cannot be fitted; the message names the problem."""


def read_rows(path) -> list[dict]:
    """Rows of a .csv or .jsonl file as dicts."""
    path = pathlib.Path(path)
    if not path.is_file():
        raise RunTableError(f"runs file {path} does not exist")
    text = path.read_text()
    if path.suffix == ".jsonl":
        return [json.loads(line) for line in text.splitlines() if line.strip()]
    return list(csv.DictReader(text.splitlines()))


def _column(rows, name, path):
    try:
        values = np.array([float(r[name]) for r in rows], dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise RunTableError(f"{path}: column {name!r} has a non-numeric value ({err})") from err
    bad = ~np.isfinite(values) | (values <= 0)
    if name in POSITIVE and bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise RunTableError(
            f"{path}: column {name!r} must be positive and finite; row {i + 1} has {values[i]!r} "
            f"({int(bad.sum())} bad rows)"
        )
    return values


def load_runs(path) -> dict:
    """{'params', 'tokens', 'loss', 'flops', ['budget', 'step', 'run']} as numpy arrays.

    flops defaults to 6·params·tokens (the 6N convention) when the column is absent.
    """
    rows = read_rows(path)
    if not rows:
        raise RunTableError(f"{path}: no rows")
    for old, new in ALIASES.items():
        if old in rows[0] and new not in rows[0]:
            rows = [r | {new: r[old]} for r in rows]
    columns = set(rows[0])
    missing = [c for c in REQUIRED if c not in columns]
    if missing:
        raise RunTableError(
            f"{path}: missing required column(s) {missing}; found {sorted(columns)}"
        )
    table = {c: _column(rows, c, path) for c in NUMERIC if c in columns}
    if "flops" not in table:
        table["flops"] = 6.0 * table["params"] * table["tokens"]
    if "run" in columns:
        table["run"] = np.array([str(r["run"]) for r in rows])
        check_curves(table, path)
    return table


def has_curves(table: dict) -> bool:
    """Whether the table holds training curves (several rows per run)."""
    return "run" in table and len(np.unique(table["run"])) < len(table["run"])


def require_curves(table: dict, what: str) -> None:
    """Raise the one-line explanation when `what` needs curves and the table has none."""
    if not has_curves(table):
        raise RunTableError(
            f"{what} needs training curves: several rows per run (columns 'run' and 'step', "
            "one row per eval), but this table has one row per run"
        )


def check_curves(table: dict, path) -> None:
    """Each run has one model size, and its tokens grow with its steps."""
    order = np.lexsort((table.get("step", table["tokens"]), table["run"]))
    run, same = table["run"][order], table["run"][order][1:] == table["run"][order][:-1]
    for column in ("params", "params_nonembed"):
        if column in table and (changed := same & (np.diff(table[column][order]) != 0)).any():
            bad = str(run[1:][changed][0])
            raise RunTableError(f"{path}: run {bad!r} has more than one value of {column!r}")
    if "step" in table and (shrinks := same & (np.diff(table["tokens"][order]) < 0)).any():
        bad = str(run[1:][shrinks][0])
        raise RunTableError(f"{path}: run {bad!r} has tokens that decrease as its step grows")


def group_budgets(flops, budget=None, tolerance: float = 0.15) -> np.ndarray:
    """Budget label (geometric-mean C) per row: the explicit column, or sorted FLOPs split
    wherever one value exceeds the previous by more than `tolerance` (relative)."""
    if budget is not None:
        return np.asarray(budget, dtype=np.float64)
    flops = np.asarray(flops, dtype=np.float64)
    order = np.argsort(flops)
    sorted_flops = flops[order]
    group = np.concatenate([[0], np.cumsum(sorted_flops[1:] > sorted_flops[:-1] * (1 + tolerance))])
    labels = np.empty_like(flops)
    for g in np.unique(group):
        members = order[group == g]
        labels[members] = np.exp(np.mean(np.log(flops[members])))
    return labels


def final_points(table: dict) -> dict:
    """The last row of each run (largest step/tokens) when a table holds training curves."""
    if "run" not in table:
        return table
    key = table.get("step", table["tokens"])
    last = {}
    for i, run in enumerate(table["run"]):
        if run not in last or key[i] > key[last[run]]:
            last[run] = i
    idx = np.array(sorted(last.values()))
    return {k: v[idx] for k, v in table.items()}
