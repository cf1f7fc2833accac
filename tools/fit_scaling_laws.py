"""Fit scaling laws to a run table and write fits.json plus figures.

python tools/fit_scaling_laws.py --runs=FILE --out=DIR [--bootstrap=N] [--approaches=1,2,3]
    [--flops_convention=6N] [--budget_tolerance=0.15] [--seed=0]

FILE is CSV or JSONL with columns params, tokens, loss (optional flops, run, step, budget).
"""

import argparse
import sys

from llm_jax.model.flops import CONVENTIONS
from llm_jax.scaling.fit import fit_runs
from llm_jax.scaling.table import RunTableError


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--runs", required=True, help="CSV or JSONL run table")
    p.add_argument("--out", required=True, help="output directory for fits.json and figures")
    p.add_argument("--bootstrap", type=int, default=0, help="bootstrap resamples (0: none)")
    p.add_argument("--approaches", default="", help="e.g. 2,3 (default: 2,3, and 1 with curves)")
    p.add_argument("--flops_convention", default="6N", choices=sorted(CONVENTIONS))
    p.add_argument(
        "--budget_tolerance",
        type=float,
        default=0.15,
        help="relative FLOPs tolerance grouping runs into budgets without a budget column",
    )
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    approaches = [int(a) for a in args.approaches.split(",") if a.strip()]
    try:
        doc = fit_runs(
            args.runs,
            args.out,
            args.bootstrap,
            approaches or None,
            args.flops_convention,
            args.budget_tolerance,
            args.seed,
        )
    except RunTableError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    for key in ("approach1", "approach2", "approach3"):
        if key in doc:
            print(f"{key}: a = {doc[key]['a']:.4f}, b = {doc[key]['b']:.4f}")
    for warning in doc["warnings"]:
        print(f"warning: {warning}", file=sys.stderr)
    print(f"wrote {args.out}/fits.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
