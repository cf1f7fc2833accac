"""Resuming is continuing the same run: which step to start from, what must not change, and the
history of invocations that run.json keeps.

A run is the same run while these stay: the model's shapes, the optimizer state's structure
(e.g. train.grad_clip 0 ↔ > 0 adds or removes a state), the tokenizer (its fingerprint), the
corpus (its content hash), data.seq_len, data.batch_size, data.val_fraction and train.seed.
train.steps may grow; the learning rate, schedule, cadences and mesh may change.
"""

from __future__ import annotations

import datetime
import logging
import socket

import jax
import ml_collections
from etils import epath

from llm_jax import checkpoint as ckpt
from llm_jax.config import get_default_config, parse_init_from
from llm_jax.metric_writer import flatten
from llm_jax.train.optimizer import make_optimizer

log = logging.getLogger("llm_jax")

NEW_RUN = "Use a new --workdir for a different run, or restore the original values"
CONTINUE = (
    "To train these weights further on other data, start a new --workdir with "
    "--config.train.init_from={source}:{step}; or restore the original values"
)
DATA_KEYS = ("data.seq_len", "data.batch_size", "data.val_fraction", "train.seed")


def resume_step(checkpointer, config, step: int | None) -> int:
    """The checkpoint step to start from (0: none). A run past train.steps is refused."""
    steps, target = checkpointer.all_steps(), config.train.steps
    where = checkpointer.directory()
    if step is not None:
        if step not in steps:
            raise ckpt.CheckpointError(f"--step={step}: no checkpoint at that step in {where}; "
                                       f"have {steps}")  # fmt: skip
        if step >= target:
            raise ckpt.CheckpointError(f"--step={step} must be before train.steps={target}")
        return step
    latest = steps[-1] if steps else 0
    if latest > target:
        raise ckpt.CheckpointError(
            f"{where.parent} is at step {latest}, past train.steps={target}: nothing was done "
            f"or changed. Raise train.steps to train on (≥ {latest}); to use an earlier "
            f"checkpoint ({steps}), pass --step=N to tools/sample.py or tools/train.py"
        )
    return latest


def set_aside_after(checkpointer, step: int) -> None:
    """--step=N: later checkpoints go to checkpoints/superseded/ (kept, out of Orbax's sight)."""
    for later in [s for s in checkpointer.all_steps() if s > step]:
        moved = checkpointer.move_aside(later, "superseded")
        log.warning("resuming from step %d: checkpoint %d moved to %s", step, later, moved)


class SavedRun:
    """What a run directory says about its run (config.json, run.json), for comparison."""

    def __init__(self, workdir, step: int, what: str = "resume"):
        self.workdir, self.step, self.what = workdir, step, what
        self.config = _complete(ckpt.load_config(workdir))
        info = read_run_file(workdir, "run.json")
        self.facts = info.get("data", {}) if info else {}
        self._params = self._optimizer = None  # computed on first use
        self.checkpointer = None  # a branch source's, to restore its state

    def restore(self, target):
        """A branch source's full state (params, optimizer, step, RNG) at its step."""
        try:
            state, _ = self.checkpointer.restore(self.step, target)
        finally:
            self.checkpointer.close()
        log.info("initialised from %s at step %d", self.workdir, self.step)
        return state

    def check(self, config, corpus_hash=None, tokenizer_fingerprint=None, data=True) -> None:
        """Refuse a config that makes a different run; facts are checked once they are known.
        data=False (a branch from init_from): only what the restored state itself depends on."""
        problems = [(m, NEW_RUN) for m in self._model(config)]
        problems += [(m, NEW_RUN) for m in self._optimizer_structure(config)]
        problems += [(m, NEW_RUN) for m in self._tokenizer_spec(config)]
        facts = [("tokenizer", "fingerprint", tokenizer_fingerprint, NEW_RUN)]
        facts += [("corpus", "hash", corpus_hash, CONTINUE)] if data else []
        for what, kind, new, fix in facts:
            old = self.facts.get(f"{what}_{kind}")
            if new and old and new != old:
                spec = config.data[what]
                problems.append((f"data.{what}={spec!r} has {kind} {new[:16]}, the run's "
                                 f"({self.facts.get(what)!r}) {old[:16]}", fix))  # fmt: skip
        if data:
            problems += [(m, CONTINUE) for m in _changed(self.config, config, DATA_KEYS)]
        if problems:
            raise ckpt.CheckpointError(self._message(problems))

    def _message(self, problems) -> str:
        fix = NEW_RUN if any(f == NEW_RUN for _, f in problems) else CONTINUE
        return (
            f"cannot {self.what} from {self.workdir} (step {self.step}): the config makes a "
            f"different run: {'; '.join(m for m, _ in problems)}. "
            + fix.format(source=self.workdir, step=self.step)
            + " (train.steps may grow; lr, schedule and cadences may change)"
        )

    def _model(self, config):
        keys = [f"model.{k}" for k in ckpt.SHAPE_KEYS]
        if not config.model.vocab_size:  # 0 until the tokenizer resolves it
            keys.remove("model.vocab_size")
        return _changed(self.config, config, keys)

    def _tokenizer_spec(self, config):
        """byte ↔ bpe:N, or bpe:N ↔ bpe:M, is another tokenizer: known before building it."""
        old, new = self.config.data.tokenizer, config.data.tokenizer
        both_named = all(t == "byte" or t.startswith("bpe:") for t in (old, new))
        differs = both_named and old != new
        return [f"data.tokenizer={new!r}, the run's {old!r}"] if differs else []

    def _optimizer_structure(self, config):
        """The optax state tree of both train configs, on the run's parameter shapes."""
        if self._optimizer is None:
            self._params = ckpt.abstract_params(self.config.model, jax.local_devices()[0])
            self._optimizer = _structure(self.config.train, self._params)
        if _structure(config.train, self._params) == self._optimizer:
            return []
        keys = [
            f"train.{k}" for k in config.train if f"train.{k}" not in (*DATA_KEYS, "train.steps")
        ]
        changed = _changed(self.config, config, keys)
        return [f"the optimizer state's structure differs ({', '.join(changed)})"]


def branch_source(config) -> SavedRun | None:
    """train.init_from = "WORKDIR:STEP": the source run, checked to have that checkpoint."""
    try:
        source, step = parse_init_from(config.train.init_from)
    except ValueError:  # "" (a new run), or a form validate() knows and this code does not
        return None
    where = f"train.init_from={config.train.init_from!r}"
    if step >= config.train.steps:
        raise ckpt.CheckpointError(f"{where}: step {step} must be < train.steps")
    try:
        run = SavedRun(source, step, what="branch")
    except ckpt.CheckpointError as e:
        raise ckpt.CheckpointError(f"{where}: {e}") from e
    run.checkpointer = ckpt.Checkpointer(source, keep=1 << 30, async_save=False)  # never prunes
    if step not in run.checkpointer.all_steps():
        have = run.checkpointer.all_steps()
        run.checkpointer.close()
        raise ckpt.CheckpointError(f"{where}: no checkpoint at step {step}; {source}: {have}")
    return run


def _structure(train_cfg, params) -> str:
    return str(jax.tree.structure(jax.eval_shape(make_optimizer(train_cfg).init, params)))


def _changed(saved, config, keys) -> list[str]:
    old, new = flatten(saved.to_dict()), flatten(config.to_dict())
    return [f"{k}={new.get(k)!r}, the run's {old.get(k)!r}" for k in keys
            if old.get(k) != new.get(k)]  # fmt: skip


def _complete(saved: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
    """A saved config with keys added since it was written filled in from the defaults."""
    merged = get_default_config()

    def fill(node, values):
        for key, value in values.items():
            if key in node and isinstance(value, dict):
                fill(node[key], value)
            elif key in node:
                node[key] = value

    fill(merged, saved.to_dict())
    return merged


def read_run_file(workdir, name: str) -> dict | None:
    """A run file's JSON object, or None when it does not exist."""
    path = epath.Path(workdir) / name
    return ckpt.read_json(path) if path.exists() else None


def invocations(workdir, config, start_step: int) -> list[dict]:
    """run.json's history: each earlier invocation, then this one (start step, changed keys)."""
    try:
        previous = read_run_file(workdir, "run.json") or {}
        old_config = read_run_file(workdir, "config.json")
    except ckpt.CheckpointError as e:  # no checkpoint to protect (checked before): start anew
        log.warning("%s; its history is not kept", e)
        previous, old_config = {}, None
    now = flatten(config.to_dict())
    changed = {}
    if old_config is not None:
        old = flatten(old_config)
        changed = {k: [old.get(k), v] for k, v in now.items() if old.get(k) != v}
    record = {
        "time": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "host": socket.gethostname(),
        "start_step": start_step,
        "steps": config.train.steps,
        "changed": changed,
    }
    return [*previous.get("invocations", []), record]
