"""Evaluate a run with lm-eval-harness tasks, over llm_jax's own forward pass and sampler.

  python -m llm_jax.cli.evaluate --workdir=RUN --tasks=hellaswag,arc_easy [--limit=100] \
      [--include_path=DIR] [--num_fewshot=0] [--batch_size=16] [--step=S]

Writes RUN/eval_harness.json and the scores to TensorBoard (lm_eval/TASK/METRIC) at the
evaluated step. Local task YAML files under --include_path work offline with a local dataset:
`dataset_path: json` and `dataset_kwargs: {data_files: {test: FILE.jsonl}}`.
"""

import json
import logging
import os
import sys

from absl import flags

from llm_jax.cli import errors, paths
from llm_jax.evaluation.harness import RESULTS_FILE, evaluate_run, scalar_scores
from llm_jax.inspection.run import RunError

flags.DEFINE_string("workdir", None, "Run directory of tools/train.py")
flags.DEFINE_integer("step", None, "Checkpoint step (default: the latest)", 1)
flags.DEFINE_list("tasks", None, "lm-eval task names (or names defined under --include_path)")
flags.DEFINE_float("limit", None, "Examples per task (a fraction if < 1; default: all)")
flags.DEFINE_string("include_path", None, "Directory of extra lm-eval task YAML files")
flags.DEFINE_integer("num_fewshot", None, "Few-shot examples (default: each task's own)")
flags.DEFINE_integer("batch_size", 16, "Sequences per forward pass", 1)
flags.DEFINE_integer("bootstrap_iters", 100_000, "Bootstrap resamples for stderr (0: none)")
flags.mark_flags_as_required(["workdir", "tasks"])
errors.require("limit", lambda n: n is None or n > 0, "must be > 0 (a fraction if < 1)")
FLAGS = flags.FLAGS


def main(argv):
    errors.no_arguments(argv)
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING)
    f = FLAGS
    include = paths.absolute(f.include_path or "") or None
    if include and not os.path.isdir(include):
        errors.fail(f"--include_path={f.include_path} is not a directory")
    limit = None if f.limit is None else (int(f.limit) if f.limit >= 1 else f.limit)
    try:
        results = evaluate_run(
            paths.required("workdir", f.workdir), f.tasks, step=f.step, limit=limit,
            include_path=include, num_fewshot=f.num_fewshot, batch_size=f.batch_size,
            bootstrap_iters=f.bootstrap_iters,
        )  # fmt: skip
    except (RunError, KeyError, ValueError) as e:  # lm-eval: unknown task names, bad task files
        errors.fail(str(e))
    print(json.dumps(scalar_scores(results["results"]), indent=2, sort_keys=True))
    print(f"wrote {os.path.join(f.workdir, RESULTS_FILE)}", file=sys.stderr)


def run(argv=None):
    errors.run(main, argv)


if __name__ == "__main__":
    run()
