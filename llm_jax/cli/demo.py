"""`make demo`: a compact chinchilla_cpu study (15 byte-level models, 3 budgets) and its fits.

python -m llm_jax.cli.demo --workdir=runs/demo [--config.<key>=<value> ...]

Prints Chinchilla's compute-optimal exponent a (Approaches 1-3) and Kaplan's α_N, α_D, α_C and a,
each with its 95% interval, and the figure paths. Rerunning
resumes (finished runs are skipped). Watch the runs: tensorboard --logdir=runs/demo/runs
"""

import os
import pathlib
import sys
import warnings

from absl import flags

from llm_jax.cli import errors, overrides, paths
from llm_jax.sweep import run_sweep

flags.DEFINE_string("workdir", "runs/demo", "Sweep directory")
flags.DEFINE_string("study", "experiments/chinchilla_cpu/config.py:demo", "Study file[:arg]")
FLAGS = flags.FLAGS
KAPLAN = (
    ("kaplan_alpha_N", "α_N (L ∝ N^-α_N)"),
    ("kaplan_alpha_D", "α_D (L ∝ D^-α_D)"),
    ("kaplan_alpha_C", "α_C (L ∝ C^-α_C on the frontier)"),
    ("kaplan_a", "a (N_opt ∝ C^a)"),
)


def ci(fit: dict, key: str) -> str:
    low_high = fit.get(f"{key}_ci")
    return f" (95% CI {low_high[0]:.3f} … {low_high[1]:.3f})" if low_high else ""


def figures(fit: dict, kaplan: dict) -> list[str]:
    """Chinchilla's figures from the total-N fit, Kaplan's from the non-embedding one: each law's
    figures in the convention its numbers above are printed in."""

    def kaplan_figure(path):
        return pathlib.Path(path).name.startswith("kaplan_")

    chinchilla = [f for f in fit.get("figures", []) if not kaplan_figure(f)]
    return chinchilla + [f for f in kaplan.get("figures", []) if kaplan_figure(f)]


def main(parsed):
    _, config_overrides = parsed
    warnings.filterwarnings("ignore", category=RuntimeWarning)  # optimiser overflow chatter
    workers = max(1, min(2, os.cpu_count() or 1))  # one single-threaded run per core
    summary = run_sweep(
        paths.absolute_spec(FLAGS.study), paths.required("workdir", FLAGS.workdir),
        workers=workers, threads_per_run=1, overrides=config_overrides,
    )  # fmt: skip
    fit = summary.get("fit", {})
    print(f"\nstatus: {summary['status']}")
    for line in summary.get("bracketing_text", []):
        print(f"  {line}")
    print("Chinchilla (total N, final evals on the full eval set):")
    for key, name in (("approach2_a", "Approach 2"), ("approach3_a", "Approach 3")):
        if fit.get(key) is not None:
            print(f"  {name}: N_opt ∝ C^a with a = {fit[key]:.3f}{ci(fit, key)}")
    if fit.get("approach1_a") is not None:
        print(f"  Approach 1 (curves): a = {fit['approach1_a']:.3f}{ci(fit, 'approach1_a')}")
    kaplan = summary.get("fit_non_embedding", {})
    if kaplan.get("kaplan_a") is not None:
        print("Kaplan (non-embedding N, C = 6·N_nonembed·D, learning curves on the eval subset):")
        for key, name in KAPLAN:
            print(f"  {name} = {kaplan[key]:.3f}{ci(kaplan, key)}")
    print(
        "tokens/param at the IsoFLOP optima:",
        ", ".join(f"{v:.0f}" for v in fit.get("tokens_per_param_at_optimum", [])),
    )
    print("figures:\n  " + "\n  ".join(figures(fit, kaplan)))
    print(f"TensorBoard: tensorboard --logdir={FLAGS.workdir}/runs")
    sys.exit(0 if fit else 1)


def run(argv=None):
    errors.run(main, argv, flags_parser=overrides.parse)


if __name__ == "__main__":
    run()
