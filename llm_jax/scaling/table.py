"""Run tables for the fits: read CSV/JSONL, validate, merge duplicates, group budgets.

A table has one row per run (final points: params, tokens, loss, optional flops, budget), or holds
training curves: many rows per run, with columns run and step (and optional params_nonembed).
Every complaint about a file names it, the line (`FILE:LINE`) and the column; the table keeps each
row's line number in its `line` column so that later checks (duplicates, outliers) can name rows.
"""

import csv
import io
import json
import pathlib

import numpy as np

REQUIRED = ("params", "tokens", "loss")
NUMERIC = ("params", "tokens", "loss", "flops", "step", "budget", "params_nonembed")
NUMERIC_PREFIXES = ("flops_per_token_",)  # per-convention FLOPs columns (select_flops)
POSITIVE = ("params", "tokens", "loss", "flops", "budget", "params_nonembed")
ALIASES = {"params_non_embedding": "params_nonembed"}  # the sweep tables' name for it


class RunTableError(ValueError):
    """A run table that cannot be fitted; the message names the problem."""


def read_rows(path, warnings: list | None = None) -> list[tuple[int, dict]]:
    """(line number, row) of each row of a .csv or .jsonl file; blank lines skipped."""
    path = pathlib.Path(path)
    if not path.is_file():
        what = "is a directory, not a file" if path.is_dir() else "does not exist"
        raise RunTableError(f"runs file {path} {what}")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise RunTableError(
            f"{path}: not UTF-8 text (byte {err.start}); expected CSV or JSONL"
        ) from None
    if path.suffix == ".jsonl":
        return _jsonl_rows(path, text)
    return _csv_rows(path, text, [] if warnings is None else warnings)


def _jsonl_rows(path, text) -> list[tuple[int, dict]]:
    rows = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            raise RunTableError(
                f"{path}:{number}: not valid JSON ({err.msg}, character {err.colno})"
            ) from err
        if not isinstance(row, dict):
            raise RunTableError(
                f"{path}:{number}: expected one JSON object per line, got {type(row).__name__}"
            )
        rows.append((number, row))
    return rows


def _csv_rows(path, text, warnings: list) -> list[tuple[int, dict]]:
    reader = csv.reader(io.StringIO(text, newline=""))
    header = [name.strip() for name in next(reader, [])]
    repeated = {name for name in header if header.count(name) > 1}
    if repeated:
        raise RunTableError(f"{path}:1: column(s) {sorted(repeated)} appear twice in the header")
    rows = []
    for fields in reader:
        fields = [field.strip() for field in fields]
        if not any(fields):
            continue
        line = reader.line_num
        if fields == header:  # `cat a.csv b.csv` repeats the header line: that is not a run
            warnings.append(f"{path}:{line}: repeats the header (tables concatenated?); skipped")
            continue
        if len(fields) != len(header):
            raise RunTableError(
                f"{path}:{line}: {len(fields)} fields, but the header (line 1) has {len(header)}"
            )
        rows.append((line, dict(zip(header, fields, strict=True))))
    return rows


def _number(path, line, name, raw) -> float:
    """One cell as a float: present, numeric, finite (and positive where the column must be)."""
    if raw is None or raw == "":
        raise RunTableError(f"{path}:{line}: column {name!r} is empty; every row needs a value")
    try:
        if isinstance(raw, bool):
            raise TypeError
        value = float(raw)
    except (TypeError, ValueError):
        raise RunTableError(f"{path}:{line}: column {name!r} is {raw!r}, not a number") from None
    if not np.isfinite(value):
        raise RunTableError(f"{path}:{line}: column {name!r} is {raw!r}; it must be finite")
    if name in POSITIVE and value <= 0:
        raise RunTableError(f"{path}:{line}: column {name!r} is {raw!r}; it must be positive")
    return value


def _columns(path, rows) -> list[str]:
    """Every column of the table; a numeric or required one missing from some row is refused."""
    columns = list(dict.fromkeys(name for _, row in rows for name in row))
    missing = [c for c in REQUIRED if c not in columns]
    if missing:
        raise RunTableError(
            f"{path}:1: missing required column(s) {missing}; found {sorted(columns)}"
        )
    for name in columns:
        if _is_numeric(name) or name == "run":
            for line, row in rows:
                if name not in row:
                    raise RunTableError(f"{path}:{line}: no column {name!r}, which other rows have")
    return columns


def _is_numeric(name: str) -> bool:
    return name in NUMERIC or name.startswith(NUMERIC_PREFIXES)


def load_runs(path, warnings: list | None = None) -> dict:
    """{'params', 'tokens', 'loss', 'flops', 'line', ['budget', 'step', 'run', ...]} as arrays.

    flops defaults to 6·params·tokens (the 6N convention) when the column is absent. Duplicate
    rows are merged (identical) or refused (conflicting): see duplicates.py. Warnings (merged
    rows, a repeated header) are appended to `warnings`.
    """
    warnings = [] if warnings is None else warnings
    rows = read_rows(path, warnings)
    if not rows:
        raise RunTableError(f"{path}: no rows (expected a header line, then one row per run)")
    rows = [(line, {ALIASES.get(k, k): v for k, v in row.items()}) for line, row in rows]
    columns = _columns(path, rows)
    table = {
        name: np.array([_number(path, line, name, row[name]) for line, row in rows])
        for name in columns
        if _is_numeric(name)
    }
    table["line"] = np.array([line for line, _ in rows])
    if "flops" not in table:
        table["flops"] = 6.0 * table["params"] * table["tokens"]
    if "run" in columns:
        table["run"] = np.array([_run_name(path, line, row["run"]) for line, row in rows])
    table = merge_duplicates(table, path, warnings)
    if "run" in table:
        check_curves(table, path)
    return table


def _run_name(path, line, raw) -> str:
    if raw is None or str(raw).strip() == "":
        raise RunTableError(f"{path}:{line}: column 'run' is empty; every row needs a run name")
    return str(raw).strip()


def identity_columns(table: dict) -> tuple[str, ...]:
    """The columns naming one row's run: its name (and eval step), else its size and budget."""
    if "run" in table:
        return tuple(c for c in ("run", "step") if c in table)
    return tuple(c for c in ("params", "tokens", "budget", "step") if c in table)


def merge_duplicates(table: dict, path, warnings: list) -> dict:
    """Rows of one run identity (identity_columns) that agree on every column are merged (a
    warning names their lines); rows that disagree are refused, naming the run and both lines.

    Two sweep shards' tables concatenated, or a run listed twice, would otherwise count one run
    twice: a doubled point in every fit and, with a run column, a fake two-row "curve"."""
    identity = identity_columns(table)
    columns = [c for c in table if c not in identity and c != "line"]
    lines = table.get("line", np.arange(len(table["loss"])) + 1)
    first_of, drop = {}, []
    for i, key in enumerate(zip(*(table[c] for c in identity), strict=True)):
        if key not in first_of:
            first_of[key] = i
            continue
        j = first_of[key]
        run = ", ".join(f"{c}={_show(table[c][i])}" for c in identity)
        differs = [c for c in columns if table[c][i] != table[c][j]]
        if differs:
            c = differs[0]
            old, new = _show(table[c][j]), _show(table[c][i])
            raise RunTableError(
                f"{path}:{lines[i]}: run {run} appears twice with different {c!r}: {old} on "
                f"line {lines[j]}, {new} on line {lines[i]}; keep the one you trust"
            )
        warnings.append(f"{path}:{lines[i]}: repeats line {lines[j]} ({run}); merged")
        drop.append(i)
    if not drop:
        return table
    keep = np.ones(len(table["loss"]), bool)
    keep[drop] = False
    return {k: v[keep] for k, v in table.items()}


def _show(value) -> str:
    return f"{float(value):.15g}" if isinstance(value, float | np.floating) else str(value)


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
    lines = table["line"][order] if "line" in table else order + 1
    for column in ("params", "params_nonembed"):
        if column in table and (changed := same & (np.diff(table[column][order]) != 0)).any():
            i = int(np.flatnonzero(changed)[0])
            raise RunTableError(
                f"{path}:{lines[i + 1]}: run {str(run[i + 1])!r} has more than one value of "
                f"{column!r} (line {lines[i]} has another)"
            )
    if "step" in table and (shrinks := same & (np.diff(table["tokens"][order]) < 0)).any():
        i = int(np.flatnonzero(shrinks)[0])
        raise RunTableError(
            f"{path}:{lines[i + 1]}: run {str(run[i + 1])!r} has tokens that decrease as its "
            f"step grows (column 'tokens', against line {lines[i]})"
        )


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
