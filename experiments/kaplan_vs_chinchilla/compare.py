"""Kaplan's way vs Chinchilla's way on one ladder: every fit of a, one choice changed at a time.

  python experiments/kaplan_vs_chinchilla/compare.py --kaplan=runs/kaplan_vs_chinchilla \
      --chinchilla=runs/demo --out=experiments/kaplan_vs_chinchilla/results [--bootstrap=200]

Data: the fixed-length runs' curves (--kaplan, this study's sweep) or the IsoFLOP runs
(--chinchilla, `make demo`: final points for Approaches 2/3, their curves for Approach 1 and
Kaplan's frontier).
Counting: N non-embedding with C = 6·N_nonembed·D (Kaplan), N non-embedding with the head's FLOPs
in C (C = 6·N_total·D: with tied embeddings the extra is the last layer's matmul), or N total
with C = 6·N_total·D (Chinchilla). Writes comparison.json and each variant's fits and figures.
"""

import argparse
import csv
import json
import pathlib

from llm_jax.scaling.fit import fit_runs
from llm_jax.sweep.curves import fit_curves
from llm_jax.sweep.runs import recount, write_csv

COUNTS = {  # name: (parameter column, FLOPs convention, Kaplan's params convention)
    "kaplan_count": ("params_non_embedding", "6N_nonembed", "nonembed"),
    "head_flops_counted": ("params_non_embedding", "6N", "nonembed"),
    "chinchilla_count": ("params_total", "6N", "total"),
}


def read(path) -> list[dict]:
    """CSV rows with numbers parsed."""
    with open(path) as f:
        return [{k: _number(v) for k, v in row.items()} for row in csv.DictReader(f)]


def _number(text: str):
    try:
        return float(text)
    except ValueError:
        return text


def fit_variant(sweep_dir, count: str, out, bootstrap: int, isoflop: bool) -> dict:
    """One dataset under one counting: Kaplan's four fits and Approach 1 on the curves, plus
    Approaches 2 and 3 on the final points of an IsoFLOP sweep."""
    params_key, convention, kaplan_params = COUNTS[count]
    points = recount(read(sweep_dir / "runs.csv"), params_key, convention)
    curves = fit_curves(read(sweep_dir / "curves.csv"), points, convention)
    out.mkdir(parents=True, exist_ok=True)
    write_csv(points, out / "runs.csv")
    write_csv(curves, out / "curves.csv")
    doc = fit_runs(
        out / "runs.csv",
        out,
        n_bootstrap=bootstrap,
        approaches=(1, 2, 3) if isoflop else (1,),
        law="both",
        kaplan_params=kaplan_params,
        curves=out / "curves.csv",
    )
    return summary(doc)


def summary(doc: dict) -> dict:
    """a (with its 95% interval) of every fit in fits.json, and Kaplan's exponents."""
    out = {}
    for key in ("approach1", "approach2", "approach3"):
        if key in doc:
            out[f"{key}_a"] = [doc[key]["a"], doc[key].get("ci", {}).get("a")]
    kaplan = doc["kaplan"]
    for name in ("a", "alpha_N", "alpha_D", "alpha_C"):
        out[f"kaplan_{name}"] = [kaplan[name], kaplan["ci"].get(name)]
    out["kaplan_converged"] = kaplan["converged"]
    out["warnings"] = doc["warnings"]
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--kaplan", help="this study's sweep directory (omit: IsoFLOP fits only)")
    p.add_argument("--chinchilla", required=True, help="the demo's sweep directory")
    p.add_argument("--out", required=True)
    p.add_argument("--bootstrap", type=int, default=200)
    args = p.parse_args(argv)
    out = pathlib.Path(args.out)
    doc = {}
    for data, directory in (("fixed_length", args.kaplan), ("isoflop", args.chinchilla)):
        if directory is None:
            doc[data] = "not run"
            continue
        for count in COUNTS:
            name = f"{data}-{count}"
            doc[name] = fit_variant(
                pathlib.Path(directory), count, out / name, args.bootstrap, data == "isoflop"
            )
            print(name, json.dumps({k: v for k, v in doc[name].items() if k != "warnings"}))
    (out / "comparison.json").write_text(json.dumps(doc, indent=1) + "\n")


if __name__ == "__main__":
    main()
