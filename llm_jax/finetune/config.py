"""A fine-tuning run's config: defaults < the mode's defaults < the init run's model < yours."""

from __future__ import annotations

from llm_jax.config import FINETUNE_MODES, ConfigError, get_default_config
from llm_jax.finetune import source

# Fine-tuning moves a trained model a little: lower peak learning rates than pretraining's 3e-3,
# no weight decay towards zero (the init, not zero, is the prior), short warmups.
MODE_DEFAULTS = {
    "sft": {"train.lr": 1e-3, "train.warmup_steps": 10, "train.weight_decay": 0.0},
    "reward": {"train.lr": 1e-3, "train.warmup_steps": 10, "train.weight_decay": 0.0},
    "dpo": {"train.lr": 1e-4, "train.warmup_steps": 10, "train.weight_decay": 0.0},
}


def finetune_config(mode: str, init_from: str, examples: str, overrides: dict | None = None):
    """The resolved config of `mode` from run `init_from` on JSONL `examples`.

    overrides: flattened keys → values (`--config.<key>=<value>`), applied last; model keys
    that change the parameters' shapes are refused.
    """
    if mode not in FINETUNE_MODES:
        raise ConfigError(f"mode={mode!r} is not one of {FINETUNE_MODES}")
    overrides = dict(overrides or {})
    config = get_default_config()
    _apply(config, MODE_DEFAULTS[mode])
    config.train.mode, config.train.init_from, config.data.examples = mode, init_from, examples
    _apply(config, overrides)
    source.inherit(config, overrides)
    return config


def _apply(config, flat: dict) -> None:
    for key, value in flat.items():
        *path, name = key.split(".")
        node = config
        for part in path:
            node = node.get(part) if hasattr(node, "get") else None
        if node is None or not hasattr(node, "get") or name not in node:
            raise ConfigError(
                f"unknown config key {key!r} (every key is in llm_jax/config/defaults.py)"
            )
        node[name] = value
