"""When a run evaluates, and on what: the two eval schedules of config.eval.

- "every": the full held-out set every eval.every_steps steps and at the last step.
- "log": a learning curve on a fixed subset of the held-out set (eval.subset_tokens, whole
  batches spread evenly over the full set, so every run of a study sees the same tokens) at
  eval.log_points log-spaced steps from the end of warmup to the last step, and the full set once,
  at the last step. metrics.jsonl tells them apart by split: "eval_subset" and "eval".

An eval batch has the training batch's shape and costs a forward pass, 1/3 of a training step's
FLOPs, so the curve costs ≤ log_points · subset_batches / (3 · steps) of the run's training FLOPs
whatever the model; config.validate keeps that under eval.max_cost_fraction.
"""

from __future__ import annotations

import numpy as np

from llm_jax.config import subset_batches


def log_steps(first: int, last: int, n: int) -> list[int]:
    """n steps log-spaced from first to last, rounded, repeats dropped; last is always one."""
    if n == 1 or first >= last:
        return [last]
    steps = np.unique(np.round(np.geomspace(max(1, first), last, n)).astype(int))
    return [int(s) for s in steps[:-1]] + [last]


def steps(config) -> frozenset[int]:
    """Steps of the subset evaluations (none under the "every" schedule)."""
    if config.eval.schedule != "log":
        return frozenset()
    first = max(1, config.train.warmup_steps)
    return frozenset(log_steps(first, config.train.steps, config.eval.log_points))


def full_eval_at(config, step: int) -> bool:
    """Whether `step` evaluates the full held-out set."""
    last = step == config.train.steps
    return last or (config.eval.schedule == "every" and step % config.eval.every_steps == 0)


def subset(eval_set: list, config) -> list:
    """The subset's batches: k of the full set's, spread evenly over it (a deterministic subset)."""
    k = min(subset_batches(config), len(eval_set))
    return [eval_set[i * len(eval_set) // k] for i in range(k)]


def describe(config) -> dict:
    """What run.json records about the schedule."""
    out = {"schedule": config.eval.schedule}
    if config.eval.schedule == "log":
        at, k = sorted(steps(config)), subset_batches(config)
        out |= {
            "subset_steps": at,
            "subset_batches": k,
            "subset_cost_fraction": len(at) * k / (3 * config.train.steps),
        }
    return out
