"""Where a fine-tuning run starts: a trained run's directory, train.init_from = RUN[:STEP].

The run gives the model (every config.model key; data.seq_len unless set), the tokenizer
(RUN/tokenizer, with its chat template when it was fine-tuned before) and the parameters,
restored straight onto this run's shardings at step 0 with a fresh optimizer. Another format (a
Hugging Face directory, train.init_from=hf:DIR) plugs in at `source_config`, `tokenizer` and
`initial_params`.
"""

from __future__ import annotations

import logging

import flax.linen as nn
import jax
import jax.numpy as jnp

from llm_jax import checkpoint as ckpt
from llm_jax.config import ConfigError, parse_init_from
from llm_jax.data.chat import ChatTemplate, load_template
from llm_jax.data.tokenizer import load_tokenizer_from_dir
from llm_jax.train.state import TrainState, with_shardings

log = logging.getLogger("llm_jax")


def _where(config) -> str:
    return f"train.init_from={config.train.init_from!r}"


def source_run(config) -> tuple[str, int | None]:
    """(run directory, step or None for its latest checkpoint)."""
    init_from = config.train.init_from
    if init_from.startswith("hf:"):
        raise ConfigError(
            f"{_where(config)}: importing Hugging Face models is not part of this build; "
            "fine-tune from a run directory (RUN[:STEP])"
        )
    return parse_init_from(init_from, step_optional=True)


def source_config(config):
    """The init run's resolved config (its config.json)."""
    run, _ = source_run(config)
    try:
        saved = ckpt.load_config(run)
    except ckpt.CheckpointError as e:
        raise ckpt.CheckpointError(f"{_where(config)}: {e}") from e
    if saved.train.get("mode") == "reward":
        raise ckpt.CheckpointError(
            f"{_where(config)}: {run} is a reward model (train.mode=reward); start "
            "fine-tuning from a language model run"
        )
    return saved


def inherit(config, overrides: dict) -> None:
    """Take the model, data.seq_len and data.tokenizer from the init run, except keys the user
    set (`overrides`, flattened); refuse those that change the parameters' shapes."""
    saved = source_config(config)
    for key, value in saved.model.items():
        if f"model.{key}" not in overrides and key in config.model:
            config.model[key] = value
    if "data.seq_len" not in overrides:
        config.data.seq_len = min(saved.data.seq_len, config.model.max_seq_len)
    tokenizer_override = overrides.get("data.tokenizer", saved.data.tokenizer)
    if tokenizer_override != saved.data.tokenizer:
        raise ConfigError(
            f"data.tokenizer={tokenizer_override!r}, but {_where(config)} was trained with "
            f"{saved.data.tokenizer!r}: fine-tuning keeps the init run's tokenizer; drop the "
            "override"
        )
    config.data.tokenizer = saved.data.tokenizer  # recorded; the tokenizer is RUN/tokenizer
    _check_shapes(config, saved)


def _check_shapes(config, saved) -> None:
    device = jax.devices()[0]
    have = _shapes(ckpt.abstract_params(saved.model, device))
    want = _shapes(ckpt.abstract_params(config.model, device))
    if have == want:
        return
    changed = [
        f"model.{k}={config.model[k]!r} (the run has {saved.model[k]!r})"
        for k in config.model
        if k in saved.model and saved.model[k] != config.model[k]
    ]
    raise ConfigError(
        f"{_where(config)}: the config changes the model's parameter shapes "
        f"({', '.join(changed) or 'see config.json'}); fine-tuning keeps the init model's shapes: "
        "drop those overrides"
    )


def _shapes(tree) -> dict:
    return jax.tree.map(lambda x: (tuple(x.shape), str(x.dtype)), tree)


def check_checkpoint(config) -> None:
    """The init run has the checkpoint train.init_from names (cheap: a directory listing)."""
    run, step = source_run(config)
    directory = ckpt.checkpoint_dir(run)
    steps = sorted(int(p.name) for p in directory.glob("*") if p.name.isdigit())
    if not steps:
        raise ckpt.CheckpointError(f"{_where(config)}: no checkpoint in {directory}; train first")
    if step is not None and step not in steps:
        raise ckpt.CheckpointError(f"{_where(config)}: no checkpoint at step {step}; have {steps}")


def tokenizer(config):
    """The init run's tokenizer, and its chat template (the default when it has none)."""
    run, _ = source_run(config)
    directory = f"{run}/tokenizer"
    return load_tokenizer_from_dir(directory), load_template(directory) or ChatTemplate()


def initial_params(config, target):
    """The init run's parameters for the leaves of `target` (abstract, with shardings)."""
    run, step = source_run(config)
    try:
        _, params = ckpt.load_params(run, step, target)
    except ckpt.CheckpointError as e:
        raise ckpt.CheckpointError(f"{_where(config)}: {e}") from e
    log.info("parameters from %s (%s)", run, "latest" if step is None else f"step {step}")
    return params


def initial_state(config, parts):
    """Step 0: the init run's parameters (a reward head, which it lacks, freshly initialised),
    a fresh optimizer state and the seed's RNG, all created on their shardings."""
    seed, shardings = config.train.seed, parts.state_shardings
    target = with_shardings(parts.abstract_state.params, shardings.params)
    source_keys = ckpt.abstract_params(source_config(config).model, jax.devices()[0]).keys()
    loaded = initial_params(config, {k: v for k, v in target.items() if k in source_keys})
    fresh_keys = [k for k in target if k not in loaded]
    tokens = jnp.zeros((1, config.data.seq_len), jnp.int32)

    def start(rng, loaded):
        fresh = nn.unbox(parts.model.init(rng, tokens))["params"]
        params = {k: loaded.get(k, fresh[k]) for k in fresh}
        return TrainState(jnp.zeros((), jnp.int32), params, parts.tx.init(params), rng)

    if fresh_keys:
        log.info("initialised fresh: %s", ", ".join(fresh_keys))
    return jax.jit(start, out_shardings=shardings)(jax.random.PRNGKey(seed), loaded)
