"""The training loop: setup → restore → steps → eval → checkpoint → final save.

No callbacks: eval, logging and checkpointing are `if step % every == 0` lines in one loop.
"""

from __future__ import annotations

import errno
import functools
import logging
import math
import sys

import jax
import jax.numpy as jnp
import numpy as np
from etils import epath

from llm_jax import checkpoint as ckpt
from llm_jax.config import validate
from llm_jax.errors import UserError
from llm_jax.interop import hf_import
from llm_jax.metric_writer import MetricWriter
from llm_jax.model.flops import all_conventions
from llm_jax.model.size import param_counts, train_flops_per_token
from llm_jax.train import eval_schedule, resume
from llm_jax.train.compile_options import ONCE, compile_options
from llm_jax.train.pipeline import TrainRows
from llm_jax.train.preemption import Preemption
from llm_jax.train.profile import ProfileWindow
from llm_jax.train.setup import build
from llm_jax.train.state import TrainState
from llm_jax.train.tasks import LanguageModeling
from llm_jax.train.throughput import device_memory_bytes, peak_flops_per_device
from llm_jax.train.workdir import WorkdirLock, check_run_dir

log = logging.getLogger("llm_jax")


class TrainingDiverged(UserError, RuntimeError):
    """Loss or gradients became NaN/Inf; the last good checkpoint is kept."""


class DiskFull(UserError, OSError):
    """No space left while writing the run; what was saved before is kept."""


def train(config, workdir, step: int | None = None, task=None) -> dict:
    """Train (or resume) the run in `workdir`; returns the last train and eval metrics.

    `task` (train/tasks.py) is what is learned; None: pretraining on the config's data.
    Resumes from the newest checkpoint that restores, or from `step` (later checkpoints are
    moved to checkpoints/superseded/). A finished run (at train.steps) is left as it is.
    """
    workdir = epath.Path(workdir)
    pretraining = task is None
    from_hf = hf_import.hf_dir(config.train.init_from) if pretraining else None
    if from_hf:  # model keys and tokenizer come from the Hugging Face directory
        hf_import.resolve_config(config, from_hf)
    machine = dict(backend=jax.default_backend(), memory_bytes=device_memory_bytes())
    validate(config, n_devices=jax.device_count(), **machine)  # cheap checks before data work
    check_run_dir(workdir)
    with WorkdirLock(workdir, enabled=jax.process_index() == 0):
        checkpointer = ckpt.Checkpointer(workdir, keep=config.checkpoint.keep)
        try:
            return _train(config, workdir, step, checkpointer, from_hf, task)
        except OSError as e:
            if e.errno != errno.ENOSPC:
                raise
            raise DiskFull(
                f"no space left on the device writing {e.filename or workdir}; kept: "
                f"checkpoints {checkpointer.all_steps()} in {checkpointer.directory()} and the "
                "metrics logged before; free space and rerun the same command to resume"
            ) from e
        finally:
            checkpointer.close()  # waits for an in-flight async save, so it is never lost


def _train(config, workdir, step, checkpointer, from_hf, task) -> dict:
    start_step = resume.resume_step(checkpointer, config, step)
    saved = resume.SavedRun(workdir, start_step) if start_step else None
    # A branch continues another run's full state; fine-tuning tasks take only its parameters.
    source = None if start_step or task else resume.branch_source(config)
    runs = [r for r in (saved, source) if r is not None]
    for run in runs:  # config keys now; the corpus and tokenizer once they are known
        run.check(config, data=run is saved)
    # Pretraining opens manifests only (a raw corpus is prepared into the cache once).
    task = task or LanguageModeling(config)  # resolves model.vocab_size from the tokenizer
    validate(config, n_devices=jax.device_count(), tokenizer_vocab=task.tokenizer.vocab_size)
    facts = task.prepare()  # checked before any step
    for run in runs:
        hashes = facts.get("corpus_hash"), facts.get("tokenizer_fingerprint")
        run.check(config, *hashes, data=run is saved)
    if start_step == config.train.steps and step is None:
        log.info("%s is finished (step %d = train.steps): nothing to do", workdir, start_step)
        return {}
    parts = build(config, objective=task.objective)
    if start_step:
        if step is not None:
            resume.set_aside_after(checkpointer, step)
        start_step, state, _ = checkpointer.restore_newest(parts.restore_target, upto=start_step)
        log.info("resumed from step %d", start_step)
    elif from_hf:
        state = _init_from_hf(config, parts, from_hf)
    elif source:  # a branch: continue another run's full state in this workdir
        state = source.restore(parts.restore_target)
        start_step = int(state.step)
    else:
        state = task.initial_state(parts)

    is_main = jax.process_index() == 0
    writer = MetricWriter(workdir, enabled=is_main)
    run_info = _run_info(config, facts, parts)
    run_info["invocations"] = resume.invocations(workdir, config, start_step)
    writer.write_config(config.to_dict(), run_info)
    writer.drop_after(start_step)
    if is_main:
        task.save(workdir / "tokenizer")
    try:
        return _loop(config, parts, state, task, start_step, checkpointer, writer, run_info)
    finally:
        writer.close()


def _init_from_hf(config, parts, directory):
    """Step 0 with the Hugging Face parameters, a fresh optimizer state and the seed's RNG."""
    params = hf_import.initial_params(
        config, directory, parts.abstract_state.params, parts.state_shardings.params
    )
    seed = config.train.seed

    def start(p):
        return TrainState(jnp.zeros((), jnp.int32), p, parts.tx.init(p), jax.random.PRNGKey(seed))

    options = compile_options(ONCE, parts.mesh.devices.flat[0])
    state = jax.jit(start, out_shardings=parts.state_shardings, compiler_options=options)(params)
    log.info("initialised from the Hugging Face model in %s", directory)
    return state


def _loop(config, parts, state, task, start_step, checkpointer, writer, run_info):
    t = config.train
    tokens_per_step = task.tokens_per_step
    flops_per_token = run_info["flops_per_token"]
    peak = peak_flops_per_device() * jax.device_count()
    slice_args = dict(process_index=jax.process_index(), process_count=jax.process_count())
    eval_sets = _global_sets(parts, task.eval_batches(**slice_args))
    subset_steps = eval_schedule.steps(config)
    subset = _global_sets(parts, eval_schedule.subset(task, config, **slice_args))
    batches = task.batch_iterator(**slice_args)
    preemption = Preemption()
    progress = _progress_bar(start_step, t.steps)
    last = {}
    fetch = functools.partial(_fetch_finite, checkpointer=checkpointer)
    rows = TrainRows(fetch, parts.schedule, start_step, tokens_per_step, flops_per_token, peak)
    profile = ProfileWindow(config.log.profile_steps, writer.workdir / "tensorboard")

    def write_train_row(in_flight=None):  # the deferred row of the step before, if any
        row = rows.take(in_flight)
        if row is not None:
            last["train"] = row
            writer.write(row)
            progress(row["step"], row)

    try:
        for step, batch in batches.iterate(start_step):
            if step >= t.steps:
                break
            profile.before_step(step)
            state, metrics = parts.train_step(state, parts.global_batch(batch))
            done = step + 1
            profile.after_step(step, state)
            if step == start_step:  # the first step compiles: keep it out of tokens/s and MFU
                jax.block_until_ready(state)  # sync, once
                rows.clock.mark(done)
            write_train_row((done, metrics))  # step n-1's metrics, fetched while step n runs
            final = done == t.steps
            cumulative = {
                "tokens": done * tokens_per_step,
                "flops": done * tokens_per_step * flops_per_token,
            }
            if done % config.log.every_steps == 0 or final:
                rows.defer(done, metrics, cumulative)
            evaluate = eval_schedule.full_eval_at(config, done)
            curve = done in subset_steps  # the learning curve, on the fixed subset
            preempted = preemption.reached(done)
            save = done % config.checkpoint.every_steps == 0 or final or preempted
            if evaluate or curve or save:
                # Sync on this step now: its train row comes before its eval rows, and a save
                # needs finite metrics; both must run before the next step consumes the state.
                write_train_row()
            if curve:
                writer.write(_evaluate(parts, state, subset, task, done, cumulative, "eval_subset"))
            if evaluate:
                last["eval"] = _evaluate(parts, state, eval_sets, task, done, cumulative)
                writer.write(last["eval"])
                log.info("step %d eval loss %.4f", done, last["eval"]["loss"])
            if save:
                fetch(metrics, done)  # never save a diverged state
                checkpointer.save(done, state, {"step": done, "tokens": cumulative["tokens"]})
            if evaluate or curve or save:  # restart the clock so they are not counted as training
                rows.clock.mark(done)
            writer.flush(durable=save)  # remote metrics.jsonl: rewritten at saves only
            if preempted:
                log.warning("SIGTERM: saved step %d; rerun the same command to resume", done)
                break
        write_train_row()
    finally:
        profile.close()
        batches.close()
        preemption.restore()
    return last


def _global_sets(parts, sets: dict) -> dict:
    return {name: [parts.global_batch(b) for b in rows] for name, rows in sets.items()}


def _fetch_finite(metrics, step: int, checkpointer) -> dict:
    """Waits for step `step`: a sync, called once a later step is dispatched or before a save."""
    metrics = {k: float(v) for k, v in jax.device_get(metrics).items()}
    bad = [k for k in ("loss", "grad_norm", *metrics) if not math.isfinite(metrics.get(k, 0.0))]
    if bad:
        kept = checkpointer.latest_step()
        what = (
            f"the last good checkpoint (step {kept}) is kept"
            if kept
            else "no checkpoint was saved yet (checkpoint.every_steps), so none is kept"
        )
        raise TrainingDiverged(
            f"non-finite {bad[0]} ({metrics[bad[0]]}) at step {step}: training diverged and "
            f"stopped; {what}. Lower train.lr, lengthen train.warmup_steps, set "
            "train.z_loss=1e-4, or compute in float32 (model.dtype)"
        )
    return metrics


def _evaluate(parts, state, eval_sets, task, step, cumulative, split="eval") -> dict:
    """The task's eval row from per-batch metrics averaged over each named held-out set."""
    means = {}
    for name, batches in eval_sets.items():
        # Every batch is dispatched before one fetch: a sync per batch would idle the device.
        values = jax.device_get([parts.eval_step(state.params, b) for b in batches])
        means[name] = {k: float(np.mean([v[k] for v in values])) for k in values[0]}
        means[name]["batches"] = len(batches)
    return dict(step=step, split=split, **task.eval_row(means, state.params), **cumulative)


def _run_info(config, data_facts, parts) -> dict:
    """Derived facts recorded next to config.json, so analysis never needs this process."""
    return {
        "params": param_counts(config.model),
        # The run's FLOPs (metrics.jsonl) use 6N + attention; every convention is kept for fits.
        "flops_per_token": train_flops_per_token(config.model, config.data.seq_len),
        "conventions": all_conventions(config.model, config.data.seq_len),
        "data": data_facts,
        "eval": eval_schedule.describe(config),
        "mesh": dict(parts.mesh.shape),
        "n_devices": jax.device_count(),
        "n_processes": jax.process_count(),
        "device_kind": jax.devices()[0].device_kind,
        "jax_version": jax.__version__,
    }


def _progress_bar(start: int, total: int):
    """tqdm on a terminal; plain log lines otherwise (files, CI, sweeps)."""
    if sys.stderr.isatty():
        from tqdm import tqdm

        bar = tqdm(total=total, initial=start, unit="step", dynamic_ncols=True)

        def update(step, row):
            bar.update(step - bar.n)
            bar.set_postfix(loss=f"{row['loss']:.3f}", tok_s=f"{row['tokens_per_s']:.0f}")

        return update

    def log_line(step, row):
        log.info(
            "step %d/%d loss %.4f lr %.2e grad_norm %.3f tokens/s %.0f mfu %.1f%%",
            step,
            total,
            row["loss"],
            row["lr"],
            row["grad_norm"],
            row["tokens_per_s"],
            100 * row["mfu"],
        )

    return log_line
