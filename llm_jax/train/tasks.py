"""What the loop learns, as a parameter of the trainer: a Task gives the data (batches as a pure
function of (seed, step), a fixed eval set), and its Objective the model's head, the loss and the
eval metrics. Pretraining, LanguageModeling, is the default; fine-tuning tasks (SFT, reward
models, DPO) are in llm_jax/finetune/ and run through the same loop, checkpoints and shardings.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Protocol

import jax
import numpy as np

from llm_jax.config import ConfigError
from llm_jax.data import open_training_data
from llm_jax.data.loader import BatchIterator
from llm_jax.data.tokenizer import Tokenizer
from llm_jax.train.step import lm_eval_metrics, lm_loss


@dataclasses.dataclass(frozen=True)
class Objective:
    """What a step computes; the functions are pure (jitted by train/setup.py)."""

    head: str  # the Transformer's output: "lm" (logits) or "reward" (a scalar per position)
    loss: Callable  # (model, train_cfg, params, batch) -> (loss to differentiate, metrics)
    eval_metrics: Callable  # (model, params, batch) -> {name: scalar}, averaged over eval batches
    batch_shapes: Callable  # (data_cfg) -> pytree of jax.ShapeDtypeStruct: one global batch


def _token_windows(data_cfg):
    return jax.ShapeDtypeStruct((data_cfg.batch_size, data_cfg.seq_len + 1), np.int32)


NEXT_TOKEN = Objective("lm", lm_loss, lm_eval_metrics, _token_windows)


class Task(Protocol):
    """The trainer's view of a task (LanguageModeling is the reference implementation)."""

    objective: Objective
    tokenizer: Tokenizer
    tokens_per_step: int  # tokens through the model per optimizer step (for tokens and FLOPs)

    def prepare(self) -> dict:
        """The expensive data work, once the config is validated; returns facts for run.json."""

    def batch_iterator(self, *, process_index: int, process_count: int) -> BatchIterator:
        """This process's rows of every step's batch: `.iterate(start_step)`, `.close()`."""

    def eval_batches(self, *, process_index: int, process_count: int) -> dict[str, list]:
        """Per named held-out set (one, "", unless the task has several), this process's rows
        of its fixed batches."""

    def eval_row(self, means: dict, params) -> dict:
        """The eval metrics (at least `loss`) from `means`: per held-out set, eval_metrics
        averaged over its batches, and `batches`, how many."""

    def initial_state(self, parts):
        """The TrainState a new run starts from (resumed runs restore their own checkpoint)."""

    def save(self, directory) -> None:
        """What sampling needs besides the parameters (the tokenizer) into DIR/tokenizer."""


def resolve_vocab(config, tokenizer) -> None:
    """vocab_size 0 means the tokenizer's, rounded up to a multiple of 64 (fast matmuls)."""
    if config.model.vocab_size == 0:
        config.model.vocab_size = -(-tokenizer.vocab_size // 64) * 64


class LanguageModeling:
    """Pretraining: next-token prediction on token windows of data.corpus (or data.mixture)."""

    objective = NEXT_TOKEN

    def __init__(self, config):
        if config.train.mode != "pretrain":
            raise ConfigError(
                f"train.mode={config.train.mode!r} is fine-tuning: run it with tools/finetune.py "
                "(tools/train.py pretrains)"
            )
        self.config = config
        # Manifests only: a raw corpus is prepared into the token cache once, here.
        self.data = open_training_data(
            config.data, steps=config.train.steps, seed=config.train.seed
        )
        self.tokenizer = self.data.tokenizer
        resolve_vocab(config, self.tokenizer)
        self.tokens_per_step = config.data.batch_size * config.data.seq_len

    def prepare(self) -> dict:
        return self.data.info

    def batch_iterator(self, *, process_index, process_count):
        return self.data.batch_iterator(process_index=process_index, process_count=process_count)

    def eval_batches(self, *, eval_tokens=None, process_index, process_count):
        """Per source, its fixed held-out set (data.eval_tokens, or `eval_tokens` of it)."""
        return self.data.eval_batches(
            eval_tokens=eval_tokens, process_index=process_index, process_count=process_count
        )

    def eval_row(self, means, params):
        row = self.data.eval_metrics({name: m["loss"] for name, m in means.items()})
        d = self.config.data
        batches = sum(m["batches"] for m in means.values())
        row.update(
            eval_tokens=batches * d.batch_size * d.seq_len,
            perplexity=math.exp(min(row["loss"], 50.0)),
        )
        return row

    def initial_state(self, parts):
        return parts.init(jax.random.PRNGKey(self.config.train.seed))

    def save(self, directory):
        self.tokenizer.save(directory)
