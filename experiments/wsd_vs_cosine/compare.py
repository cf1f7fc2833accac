"""Compare the WSD-branch sweep with chinchilla_cpu's cosine runs over the same budgets.

  python experiments/wsd_vs_cosine/compare.py --wsd=runs/wsd_vs_cosine \
      --cosine=runs/chinchilla_cpu --out=experiments/wsd_vs_cosine/results

Refits the cosine runs restricted to this study's budget range (with the same bootstrap), pairs
the design points both sweeps trained, and writes comparison.json next to the fits.
"""

import argparse
import csv
import json
import pathlib

from llm_jax.sweep.report import compare_points, summarise_fit
from llm_jax.sweep.runs import write_csv


def read(path):
    with open(path) as f:
        return list(csv.DictReader(f))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--wsd", required=True)
    p.add_argument("--cosine", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--bootstrap", type=int, default=200)
    args = p.parse_args(argv)
    from llm_jax.scaling.fit import fit_runs

    wsd_rows = read(pathlib.Path(args.wsd) / "runs.csv")
    top = max(float(r["budget"]) for r in wsd_rows)
    cosine_rows = [
        r for r in read(pathlib.Path(args.cosine) / "runs.csv") if float(r["budget"]) <= top * 1.01
    ]
    cosine_dir = pathlib.Path(args.out) / "cosine_same_budgets"
    cosine_dir.mkdir(parents=True, exist_ok=True)
    write_csv(cosine_rows, cosine_dir / "runs.csv")
    cosine_fit = fit_runs(cosine_dir / "runs.csv", cosine_dir, n_bootstrap=args.bootstrap)
    wsd_summary = json.loads((pathlib.Path(args.wsd) / "summary.json").read_text())
    doc = {
        "wsd": wsd_summary["fit"],
        "wsd_flops": wsd_summary["wsd"],
        "cosine_same_budgets": summarise_fit(cosine_fit),
        "shared_points": compare_points(wsd_rows, cosine_rows),
    }
    (pathlib.Path(args.out) / "comparison.json").write_text(json.dumps(doc, indent=1) + "\n")
    print(json.dumps({k: doc[k] for k in ("wsd_flops",)}, indent=1))
    for name in ("wsd", "cosine_same_budgets"):
        fit = doc[name]
        print(
            f"{name}: a2 = {fit['approach2_a']:.3f} {fit['approach2_a_ci']}, "
            f"a3 = {fit['approach3_a']:.3f} {fit['approach3_a_ci']}"
        )


if __name__ == "__main__":
    main()
