"""The one config tree (defaults.py: every key declared once, with a default and a comment),
its validation (validation.py) and the parsers of its compound values (parse.py)."""

from llm_jax.config.defaults import ENUMS, FINETUNE_MODES, get_default_config
from llm_jax.config.parse import parse_init_from, parse_mixture
from llm_jax.config.validation import (
    DOMAINS,
    ConfigError,
    subset_batches,
    subset_cost_fraction,
    validate,
)

__all__ = [
    "DOMAINS",
    "ENUMS",
    "FINETUNE_MODES",
    "ConfigError",
    "get_default_config",
    "parse_init_from",
    "parse_mixture",
    "subset_batches",
    "subset_cost_fraction",
    "validate",
]
