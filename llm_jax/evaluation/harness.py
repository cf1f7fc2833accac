"""Evaluate a run with lm-eval-harness: RUN/eval_harness.json and TensorBoard scores.

Tasks are lm-eval's names, or task YAML files under include_path; a local dataset works offline
(`dataset_path: json` with `dataset_kwargs: {data_files: {test: FILE}}`).
"""

from __future__ import annotations

import json
import math
import pathlib
import time

from tensorboard.compat.proto import event_pb2, summary_pb2
from tensorboard.summary.writer.event_file_writer import EventFileWriter

from llm_jax.checkpoint import Checkpointer
from llm_jax.inspection.run import load_run

RESULTS_FILE = "eval_harness.json"


def evaluate_run(
    workdir,
    tasks: list[str],
    *,
    step: int | None = None,
    limit: float | None = None,
    include_path: str | None = None,
    num_fewshot: int | None = None,
    batch_size: int = 16,
    bootstrap_iters: int = 100_000,
    log_samples: bool = False,
) -> dict:
    """Run the tasks on the run's checkpoint (the latest unless `step`); returns lm-eval's
    results, also written to WORKDIR/eval_harness.json and to TensorBoard at that step."""
    from lm_eval import simple_evaluate
    from lm_eval.tasks import TaskManager

    from llm_jax.evaluation.adapter import LlmJaxLM

    workdir = pathlib.Path(workdir)
    manager = TaskManager(include_path=include_path)  # unknown task names fail here, early
    run = load_run(workdir, step)
    step = step if step is not None else _latest_step(workdir)
    model = LlmJaxLM(run.model_cfg, run.params, run.tokenizer, batch_size=batch_size)
    results = simple_evaluate(
        model=model,
        tasks=list(tasks),
        num_fewshot=num_fewshot,
        limit=limit,
        task_manager=manager,
        bootstrap_iters=bootstrap_iters,
        log_samples=log_samples,
    )
    summary = {
        "step": step,
        "tasks": list(tasks),
        "limit": limit,
        "results": results["results"],
        "n-shot": results.get("n-shot"),
        "versions": results.get("versions"),
    }
    temporary = workdir / f"{RESULTS_FILE}.tmp"
    temporary.write_text(json.dumps(summary, indent=2, sort_keys=True, default=str) + "\n")
    temporary.replace(workdir / RESULTS_FILE)
    write_scores(workdir, step, results["results"])
    return results


def _latest_step(workdir: pathlib.Path) -> int:
    checkpointer = Checkpointer(workdir, keep=1 << 30, async_save=False)  # reads, never prunes
    try:
        return checkpointer.latest_step()
    finally:
        checkpointer.close()


def scalar_scores(results: dict) -> dict[str, float]:
    """{"lm_eval/TASK/METRIC": value} for every finite score ("acc,none" → "acc")."""
    scores = {}
    for task, metrics in results.items():
        for name, value in metrics.items():
            metric = name.removesuffix(",none")
            number = isinstance(value, int | float) and not isinstance(value, bool)
            if number and math.isfinite(value) and metric != "sample_len":
                scores[f"lm_eval/{task}/{metric}"] = float(value)
    return scores


def write_scores(workdir, step: int, results: dict) -> None:
    """The scores as TensorBoard scalars in the run's event directory, at `step`."""
    values = [
        summary_pb2.Summary.Value(tag=tag, simple_value=value)
        for tag, value in scalar_scores(results).items()
    ]
    events = EventFileWriter(str(pathlib.Path(workdir) / "tensorboard"))
    summary = summary_pb2.Summary(value=values)
    events.add_event(event_pb2.Event(wall_time=time.time(), step=step, summary=summary))
    events.close()
