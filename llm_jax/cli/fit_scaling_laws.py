"""Fit scaling laws to a run table and write fits.json plus figures.

  python -m llm_jax.cli.fit_scaling_laws --runs=FILE --out=DIR [--curves=FILE] [--bootstrap=N]
      [--approaches=1,2,3] [--law=chinchilla|kaplan|both] [--flops_convention=6N]
      [--budget_tolerance=0.15] [--seed=0] [--kaplan_params=auto|total|nonembed]

FILE is CSV or JSONL with columns params, tokens, loss (optional flops, budget): one row per run,
or training curves, many rows per run with columns run and step (optional params_nonembed).
--curves gives the curves separately (a sweep's DIR/curves.csv beside DIR/runs.csv): Approach 1
and Kaplan's laws read them, Approaches 2 and 3 each run's row of --runs.
--law defaults to both when there are curves (Kaplan's fits need them), else chinchilla.
Default approaches the table cannot support (one FLOP budget: no Approach 2) are skipped and
noted in fits.json `skipped`; approaches given by --approaches are refused instead. Identical
duplicate rows are merged with a warning, conflicting ones refused; points far off Approach 3's
surface are listed in approach3.outliers and make it unconverged.
"""

import sys

from absl import flags

from llm_jax.model.flops import CONVENTIONS
from llm_jax.scaling.fit import LAWS, fit_runs
from llm_jax.scaling.table import RunTableError

APPROACHES = ("1", "2", "3")

# Flags live in their own FlagValues so that importing this module beside other CLIs (one test
# process) never collides over names like --seed.
FLAGS = flags.FlagValues()
flags.DEFINE_string("runs", None, "CSV or JSONL run table", flag_values=FLAGS)
flags.DEFINE_string("out", None, "Output directory for fits.json and figures", flag_values=FLAGS)
flags.DEFINE_string(
    "curves",
    None,
    "Curve table of Approach 1 and Kaplan's laws (default: --runs)",
    flag_values=FLAGS,
)
flags.DEFINE_integer("bootstrap", 0, "Bootstrap resamples (0: none)", flag_values=FLAGS)
flags.DEFINE_list(
    "approaches",
    [],
    "Chinchilla approaches, e.g. 2,3 (default: 2,3, and 1 with curves)",
    flag_values=FLAGS,
)
flags.DEFINE_enum("law", None, LAWS, "Law family (default: both with curves)", flag_values=FLAGS)
flags.DEFINE_enum(
    "flops_convention", "6N", sorted(CONVENTIONS), "FLOPs convention", flag_values=FLAGS
)
flags.DEFINE_float(
    "budget_tolerance",
    0.15,
    "Relative FLOPs tolerance grouping runs into budgets without a budget column",
    flag_values=FLAGS,
)
flags.DEFINE_integer("seed", 0, "Bootstrap seed", flag_values=FLAGS)
flags.DEFINE_enum(
    "kaplan_params",
    "auto",
    ["auto", "total", "nonembed"],
    "Parameter count of Kaplan's fits (auto: non-embedding when the table has params_nonembed)",
    flag_values=FLAGS,
)
flags.mark_flags_as_required(["runs", "out"], flag_values=FLAGS)


def _parse(argv) -> str | None:
    """Parse argv into FLAGS; the one-line complaint, or None."""
    FLAGS.unparse_flags()
    try:
        extra = FLAGS(argv)[1:]
    except flags.Error as err:
        return str(err)
    if extra:
        return f"unexpected arguments {extra}"
    unknown = [a for a in FLAGS.approaches if a.strip() not in APPROACHES]
    if unknown:
        return f"--approaches: unknown approach(es) {unknown}; choose from {', '.join(APPROACHES)}"
    if FLAGS.approaches and FLAGS.law == "kaplan":
        return "--approaches chooses Chinchilla's approaches, but --law=kaplan fits none of them"
    return None


def main(argv=None) -> int:
    """Run with argv (sys.argv style, program name first); returns the exit status."""
    argv = sys.argv if argv is None else argv
    if any(a in ("-h", "--help", "--helpshort") for a in argv[1:]):
        print(__doc__ + "\n" + FLAGS.get_help())
        return 0
    problem = _parse(argv)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    f = FLAGS
    try:
        doc = fit_runs(
            f.runs,
            f.out,
            f.bootstrap,
            [int(a) for a in f.approaches] or None,
            f.flops_convention,
            f.budget_tolerance,
            f.seed,
            law=f.law,
            kaplan_params=f.kaplan_params,
            curves=f.curves,
        )
    except RunTableError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    _summarise(doc)
    print(f"wrote {f.out}/fits.json")
    return 0


def _summarise(doc: dict) -> None:
    for key in ("approach1", "approach2", "approach3"):
        if key in doc:
            print(f"{key}: a = {doc[key]['a']:.4f}, b = {doc[key]['b']:.4f}")
    if "kaplan" in doc:
        k = doc["kaplan"]
        print(
            f"kaplan: alpha_N = {k['alpha_N']:.4f}, alpha_D = {k['alpha_D']:.4f}, "
            f"alpha_C = {k['alpha_C']:.4f}, a = {k['a']:.4f} ({k['params_convention']} N)"
        )
    for warning in doc["warnings"]:
        print(f"warning: {warning}", file=sys.stderr)


def run(argv=None):
    sys.exit(main(argv))


if __name__ == "__main__":
    run()
