"""Post-training on the pretraining loop: SFT, reward models and DPO are trainer Tasks, so they
share its checkpoints, exact resume, TensorBoard, mesh shardings and config validation.

  source.py      the init run: its model config, tokenizer, chat template and parameters
  config.py      a fine-tuning run's config (mode defaults, the init run's model, overrides)
  task.py        what the three share: JSONL examples, rows, held-out split, initial state
  sft.py         response-masked loss on packed rows; held-out exact match
  preference.py  reward model (Bradley–Terry) and DPO / IPO with a cached reference
  losses.py      the losses and their metrics
  score.py       a reward model's scores of JSONL responses
"""

from __future__ import annotations

import jax

from llm_jax.config import validate
from llm_jax.finetune.config import finetune_config
from llm_jax.finetune.preference import DirectPreference, RewardModeling
from llm_jax.finetune.sft import SupervisedFineTuning
from llm_jax.train.trainer import train

TASKS = {"sft": SupervisedFineTuning, "reward": RewardModeling, "dpo": DirectPreference}

__all__ = ["TASKS", "finetune", "finetune_config", "make_task"]


def make_task(config, workdir):
    """The trainer Task of config.train.mode; reads and checks the examples now."""
    validate(config, n_devices=jax.device_count())  # cheap checks before any data work
    return TASKS[config.train.mode](config, workdir)


def finetune(config, workdir) -> dict:
    """Fine-tune (or resume) the run in `workdir`; returns the last train and eval metrics."""
    return train(config, workdir, task=make_task(config, workdir))
