"""When a run evaluates, and on what: the two eval schedules of config.eval.

- "every": the full held-out set every eval.every_steps steps and at the last step.
- "log": a learning curve on a fixed subset of the held-out set at eval.log_points log-spaced
  steps from the end of warmup to the last step, and the full set once, at the last step.
  metrics.jsonl tells them apart by split: "eval_subset" and "eval".

The subset is built like the full set (TrainingData.eval_batches: windows spread evenly over the
validation split) from eval.subset_tokens rounded down to whole batches, so its windows depend on
seq_len and the token count only, not on the batch size: every run of a study with one
subset_tokens sees the same tokens. They are a subset of the full set's windows whenever its
window count is a multiple of the subset's (e.g. 204,800 and 2048 tokens of 128-token windows).

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


def subset(data, config, **slice_args) -> dict:
    """Per source, this process's rows of the subset's batches ({} under the "every" schedule)."""
    if config.eval.schedule != "log":
        return {}
    d = config.data
    n_tokens = subset_batches(config) * d.batch_size * d.seq_len
    return data.eval_batches(eval_tokens=n_tokens, **slice_args)


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
