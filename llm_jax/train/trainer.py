"""The training loop: setup → restore → steps → eval → checkpoint → final save.

No callbacks: eval, logging and checkpointing are `if step % every == 0` lines in one loop.
"""

from __future__ import annotations

import logging
import math
import signal
import sys
import time

import jax
import numpy as np
from etils import epath
from jax.experimental import multihost_utils

from llm_jax import checkpoint as ckpt
from llm_jax.config import parse_init_from, validate
from llm_jax.data import load_corpus, prepare_data
from llm_jax.data.loader import BatchIterator, eval_batches
from llm_jax.data.tokenizer import build_tokenizer
from llm_jax.metric_writer import MetricWriter
from llm_jax.model.flops import all_conventions
from llm_jax.model.size import param_counts, train_flops_per_token
from llm_jax.train.setup import build
from llm_jax.train.state import init_state
from llm_jax.train.throughput import peak_flops_per_device

log = logging.getLogger("llm_jax")


class TrainingDiverged(RuntimeError):
    """Loss or gradients became NaN/Inf; the last good checkpoint is kept."""


class _Preemption:
    """SIGTERM (TPU VM preemption, `kill`) asks the loop to save and exit at the next step.

    With several processes every one must save the same step, or the save's collectives hang:
    JAX's preemption service (its own SIGTERM handler, started by jax.distributed) lets all
    processes agree on that step, whichever of them got the signal.
    """

    def __init__(self):
        self.requested = False
        self._multi = jax.process_count() > 1
        if not self._multi:  # a Python handler would replace JAX's notifier
            self._previous = signal.signal(signal.SIGTERM, self._handle)

    def _handle(self, signum, frame):
        self.requested = True

    def reached(self, step: int) -> bool:
        """Save and stop after `step`? Multi-process: call it after every step, on every process."""
        if self._multi:
            self.requested = multihost_utils.reached_preemption_sync_point(step)
        return self.requested

    def restore(self):
        if not self._multi:
            signal.signal(signal.SIGTERM, self._previous)


def resolve_vocab(config, tokenizer) -> None:
    """vocab_size 0 means the tokenizer's, rounded up to a multiple of 64 (fast matmuls)."""
    if config.model.vocab_size == 0:
        config.model.vocab_size = -(-tokenizer.vocab_size // 64) * 64


def train(config, workdir, corpus_loader=load_corpus) -> dict:
    """Train (or resume) the run in `workdir`; returns the last train and eval metrics.
    `corpus_loader` lets a long-lived sweep worker read and hash a corpus once for many runs."""
    workdir = epath.Path(workdir)
    validate(config, n_devices=jax.device_count())  # cheap checks before any data work
    corpus = corpus_loader(config.data.corpus, config.data.max_bytes)  # read and hashed once
    tokenizer = build_tokenizer(config.data, corpus)
    resolve_vocab(config, tokenizer)
    validate(config, n_devices=jax.device_count(), tokenizer_vocab=tokenizer.vocab_size)
    checkpointer = ckpt.Checkpointer(workdir, keep=config.checkpoint.keep)
    start_step = checkpointer.latest_step() or 0
    if start_step:
        ckpt.check_compatible(ckpt.load_config(workdir), config)
    data = prepare_data(config.data, corpus)
    parts = build(config)
    if start_step:
        state, _ = checkpointer.restore(start_step, parts.restore_target)
        log.info("resumed from step %d", start_step)
    elif config.train.init_from:  # a branch: continue another run's full state in this workdir
        state = _init_from(config, parts.restore_target)
        start_step = int(state.step)
    else:
        state = init_state(
            parts.model, parts.tx, config.data.seq_len, config.train.seed, parts.state_shardings
        )

    is_main = jax.process_index() == 0
    writer = MetricWriter(workdir, enabled=is_main)
    run_info = _run_info(config, data, parts)
    writer.write_config(config.to_dict(), run_info)
    writer.drop_after(start_step)
    if is_main:
        tokenizer.save(workdir / "tokenizer")
    try:
        return _loop(config, parts, state, data, start_step, checkpointer, writer, run_info)
    finally:
        checkpointer.close()  # waits for an in-flight async save, so it is never lost
        writer.close()


def _init_from(config, target):
    """Full state (params, optimizer, step, RNG) of train.init_from = "WORKDIR:STEP"."""
    source, step = parse_init_from(config.train.init_from)
    where = f"train.init_from={config.train.init_from!r}"
    if step >= config.train.steps:
        raise ckpt.CheckpointError(f"{where}: step {step} must be < train.steps")
    try:
        ckpt.check_compatible(ckpt.load_config(source), config)
    except ckpt.CheckpointError as e:
        raise ckpt.CheckpointError(f"{where}: {e}") from e
    saved = ckpt.Checkpointer(source, keep=1 << 30, async_save=False)  # restores only, never prunes
    try:
        if step not in saved.manager.all_steps():
            have = sorted(saved.manager.all_steps())
            raise ckpt.CheckpointError(f"{where}: no checkpoint at step {step}; {source}: {have}")
        state, _ = saved.restore(step, target)
    finally:
        saved.close()
    log.info("initialised from %s at step %d", source, step)
    return state


def _loop(config, parts, state, data, start_step, checkpointer, writer, run_info):
    t, d = config.train, config.data
    tokens_per_step = d.batch_size * d.seq_len
    flops_per_token = run_info["flops_per_token"]
    peak = peak_flops_per_device() * jax.device_count()
    slice_args = dict(process_index=jax.process_index(), process_count=jax.process_count())
    eval_set = [
        _global(parts, b)
        for b in eval_batches(
            data.val,
            seq_len=d.seq_len,
            batch_size=d.batch_size,
            eval_tokens=d.eval_tokens,
            **slice_args,
        )
    ]
    batches = BatchIterator(
        data.train,
        seed=t.seed,
        batch_size=d.batch_size,
        seq_len=d.seq_len,
        prefetch=d.prefetch,
        **slice_args,
    )
    preemption = _Preemption()
    progress = _progress_bar(start_step, t.steps)
    last = {}
    interval_start, interval_steps = time.perf_counter(), 0
    try:
        for step, batch in batches.iterate(start_step):
            if step >= t.steps:
                break
            state, metrics = parts.train_step(state, _global(parts, batch))
            done, interval_steps = step + 1, interval_steps + 1
            if step == start_step:  # the first step compiles: keep it out of tokens/s and MFU
                jax.block_until_ready(state)
                interval_start, interval_steps = time.perf_counter(), 0
            final = done == t.steps
            log_now = done % config.log.every_steps == 0 or final
            cumulative = {
                "tokens": done * tokens_per_step,
                "flops": done * tokens_per_step * flops_per_token,
            }
            if log_now:
                metrics = _fetch_finite(metrics, done, checkpointer)
                elapsed = time.perf_counter() - interval_start
                rate = interval_steps * tokens_per_step / elapsed if interval_steps else 0.0
                last["train"] = dict(
                    step=done,
                    split="train",
                    **metrics,
                    lr=float(parts.schedule(step)),
                    tokens_per_s=rate,
                    mfu=rate * flops_per_token / peak,
                    **cumulative,
                )
                writer.write(last["train"])
                progress(done, last["train"])
            if done % config.eval.every_steps == 0 or final:
                last["eval"] = _evaluate(parts, state, eval_set, data, done, cumulative)
                writer.write(last["eval"])
                log.info("step %d eval loss %.4f", done, last["eval"]["loss"])
            preempted = preemption.reached(done)
            save_now = done % config.checkpoint.every_steps == 0 or final or preempted
            if save_now:
                _fetch_finite(metrics, done, checkpointer)  # never save a diverged state
                checkpointer.save(done, state, {"step": done, "tokens": cumulative["tokens"]})
            if log_now:  # restart after eval and save, so they are not counted as training
                interval_start, interval_steps = time.perf_counter(), 0
            writer.flush(durable=save_now)  # remote metrics.jsonl: rewritten at saves only
            if preempted:
                log.warning("SIGTERM: saved step %d; rerun the same command to resume", done)
                break
    finally:
        batches.close()
        preemption.restore()
    return last


def _global(parts, local_batch: np.ndarray):
    """This process's rows → one global array sharded over the batch axes."""
    n = jax.process_count()
    global_shape = (local_batch.shape[0] * n, *local_batch.shape[1:])
    return jax.make_array_from_process_local_data(parts.batch_sharding, local_batch, global_shape)


def _fetch_finite(metrics, step: int, checkpointer) -> dict:
    metrics = {k: float(v) for k, v in jax.device_get(metrics).items()}
    if not all(math.isfinite(metrics[k]) for k in ("loss", "grad_norm")):
        kept = checkpointer.latest_step()
        raise TrainingDiverged(
            f"non-finite loss or gradient at step {step} ({metrics}). The last good checkpoint "
            f"(step {kept}) is kept. Lower train.lr, lengthen train.warmup_steps, set "
            "train.z_loss=1e-4, or compute in float32 (model.dtype)."
        )
    return metrics


def _evaluate(parts, state, eval_set, data, step, cumulative) -> dict:
    loss = float(np.mean([jax.device_get(parts.eval_step(state.params, b)) for b in eval_set]))
    return dict(
        step=step,
        split="eval",
        loss=loss,
        perplexity=math.exp(min(loss, 50.0)),
        bits_per_byte=loss / math.log(2) / data.info["val_bytes_per_token"],
        **cumulative,
    )


def _run_info(config, data, parts) -> dict:
    """Derived facts recorded next to config.json, so analysis never needs this process."""
    return {
        "params": param_counts(config.model),
        # The run's FLOPs (metrics.jsonl) use 6N + attention; every convention is kept for fits.
        "flops_per_token": train_flops_per_token(config.model, config.data.seq_len),
        "conventions": all_conventions(config.model, config.data.seq_len),
        "data": data.info,
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
