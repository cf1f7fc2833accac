"""`make demo`: a compact chinchilla_cpu study (15 byte-level models, 3 budgets) and its fit.

python tools/demo.py --workdir=runs/demo

Prints the fitted compute-optimal exponents with 95% intervals and the figure paths. Rerunning
resumes (finished runs are skipped). Watch the runs: tensorboard --logdir=runs/demo/runs
"""

import argparse
import os
import sys
import warnings

from llm_jax.sweep import run_sweep

STUDY = "experiments/chinchilla_cpu/config.py:demo"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--workdir", default="runs/demo")
    args = p.parse_args(argv)
    warnings.filterwarnings("ignore", category=RuntimeWarning)  # optimiser overflow chatter
    workers = max(1, min(2, os.cpu_count() or 1))  # one single-threaded run per core
    summary = run_sweep(STUDY, args.workdir, workers=workers, threads_per_run=1)
    fit = summary.get("fit", {})

    def ci(key):
        low_high = fit.get(f"{key}_ci")
        return f" (95% CI {low_high[0]:.2f} … {low_high[1]:.2f})" if low_high else ""

    print(f"\nstatus: {summary['status']}")
    for line in summary.get("bracketing_text", []):
        print(f"  {line}")
    for key, name in (("approach2_a", "Approach 2"), ("approach3_a", "Approach 3")):
        if fit.get(key) is not None:
            print(f"{name}: N_opt ∝ C^a with a = {fit[key]:.3f}{ci(key)}")
    print(
        "tokens/param at the IsoFLOP optima:",
        ", ".join(f"{v:.0f}" for v in fit.get("tokens_per_param_at_optimum", [])),
    )
    print("figures:\n  " + "\n  ".join(fit.get("figures", [])))
    print(f"TensorBoard: tensorboard --logdir={args.workdir}/runs")
    return 0 if fit else 1


if __name__ == "__main__":
    sys.exit(main())
