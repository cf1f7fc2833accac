"""Run directories → rows of a run table (docs/design.md §2's Fit format, plus extra columns).

Analysis reads only what runs wrote (config.json, run.json, metrics.jsonl) and the sweep's status
files, never live trainer objects, so a table can be rebuilt from a copied or half-done sweep.
"""

from __future__ import annotations

import csv
import io
import json
import math

from etils import epath

from llm_jax.metric_writer import readable_rows
from llm_jax.sweep.store import write_atomic

# Fit-format columns first; then the rest in a stable, readable order.
FIRST = ("run", "params", "tokens", "loss", "flops", "budget", "role", "status")


def _metrics(workdir: epath.Path) -> list[dict]:
    """The rows of a run's metrics.jsonl; a line cut by a killed writer is dropped (warned)."""
    path = workdir / "metrics.jsonl"
    if not path.exists():
        return []
    return [row for _, row in readable_rows(path)]


def read_run(workdir) -> dict:
    """Facts of one run directory; {} when it has not written its config yet."""
    workdir = epath.Path(workdir)
    if not (workdir / "run.json").exists():
        return {}
    config = json.loads((workdir / "config.json").read_text())
    info = json.loads((workdir / "run.json").read_text())
    rows = _metrics(workdir)
    evals = [r for r in rows if r["split"] == "eval"]
    trains = [r for r in rows if r["split"] == "train"]
    t, d, m = config["train"], config["data"], config["model"]
    out = {k: v for k, v in info["conventions"].items() if k != "seq_len"}
    out |= {
        "params": info["params"]["total"],
        "steps": t["steps"],
        "step": evals[-1]["step"] if evals else 0,
        "tokens_per_step": d["batch_size"] * d["seq_len"],
        "d_model": m["d_model"],
        "n_layers": m["n_layers"],
        "n_heads": m["n_heads"],
        "d_ff": m["d_ff"],
        "batch_size": d["batch_size"],
        "seq_len": d["seq_len"],
        "lr": t["lr"],
        "warmup_steps": t["warmup_steps"],
        "schedule": t["schedule"],
        "decay_fraction": t["decay_fraction"],
        "seed": t["seed"],
        "init_from": t["init_from"],
        "corpus_hash": info["data"].get("corpus_hash", ""),
    }
    if evals:
        out |= {
            "loss": evals[-1]["loss"],
            "best_loss": min(r["loss"] for r in evals),
            "bits_per_byte": evals[-1]["bits_per_byte"],
            "tokens": evals[-1]["tokens"],
            "flops_trained": evals[-1]["flops"],
        }
    if trains:
        out |= {"train_loss": trains[-1]["loss"], "tokens_per_s": trains[-1]["tokens_per_s"]}
    return out


def last_step(workdir) -> int:
    """The last step a run directory logged (0 before its first row): a run that exited
    cleanly short of train.steps was stopped (SIGTERM), not finished."""
    rows = _metrics(epath.Path(workdir))
    return rows[-1]["step"] if rows else 0


def run_row(run, root: epath.Path, status: dict, convention: str) -> dict:
    """One row: the sweep's view (name, role, status, budget, …) + what the run directory says."""
    row = {"run": run.name, "role": run.role, "status": status.get("status", "planned")}
    row |= {"wall_s": round(status.get("wall_s", 0.0), 1), "error": status.get("error", "")}
    row |= run.info
    facts = read_run(root / "runs" / run.dir_name)
    complete = facts.get("step") == run.config.train.steps and "loss" in facts
    if row["status"] == "done" and not complete and run.role != "trunk":
        row["status"] = "incomplete"  # e.g. a trunk directory whose later segment already ran
    if facts and complete:
        row |= facts
        row["flops"] = row["tokens"] * facts[f"flops_per_token_{convention}"]
        row["tokens_per_param"] = row["tokens"] / row["params"]
        start = run.info.get("start_step", 0)
        row["own_flops"] = (
            (run.config.train.steps - start)
            * facts["tokens_per_step"]
            * (facts["flops_trained"] / facts["tokens"])
        )
    return row


def collect(sweep, root, status) -> list[dict]:
    """Rows of every run of a sweep; `status` maps run name → its status dict."""
    root = epath.Path(root)
    return [run_row(r, root, status(r.name), sweep.convention) for r in sweep.runs]


def fit_rows(rows: list[dict], roles=("main",)) -> list[dict]:
    """The finished data points of the fit."""
    return [r for r in rows if r["role"] in roles and r["status"] == "done" and "loss" in r]


def recount(rows: list[dict], params_key: str, convention: str) -> list[dict]:
    """The same points under another parameter count and FLOPs convention (e.g. non-embedding):
    each budget label becomes the geometric mean of its points' recounted FLOPs."""
    out = [dict(r) for r in rows]
    for r in out:
        r["params"] = r[params_key]
        r["flops"] = r["tokens"] * r[f"flops_per_token_{convention}"]
    for budget in {r["budget"] for r in out}:
        group = [r for r in out if r["budget"] == budget]
        mean = math.exp(sum(math.log(r["flops"]) for r in group) / len(group))
        for r in group:
            r["budget"] = mean
    return out


def write_csv(rows: list[dict], path) -> None:
    """CSV with the Fit columns first, written whole under a unique temporary name and renamed:
    shards finishing at once on one root never mix their files."""
    keys = list(
        dict.fromkeys(
            [k for k in FIRST if any(k in r for r in rows)] + [k for r in rows for k in r]
        )
    )
    text = io.StringIO(newline="")
    writer = csv.DictWriter(text, fieldnames=keys)
    writer.writeheader()
    writer.writerows(rows)
    write_atomic(epath.Path(path), text.getvalue())
