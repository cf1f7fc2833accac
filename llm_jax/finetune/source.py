"""Where a fine-tuning run starts: train.init_from = RUN[:STEP] (a trained run's directory) or
hf:DIR (a Hugging Face Llama directory, read by llm_jax/interop).

The source gives the model (every config.model key; data.seq_len unless set, capped at the
model's max_seq_len), the tokenizer and the parameters, placed straight onto this run's shardings
at step 0 with a fresh optimizer. RUN's tokenizer is RUN/tokenizer, with its chat template when
it was fine-tuned before; DIR's is its tokenizer files, with the default chat template.
"""

from __future__ import annotations

import logging

import flax.linen as nn
import jax
import jax.numpy as jnp

from llm_jax import checkpoint as ckpt
from llm_jax.config import ConfigError, get_default_config, parse_init_from
from llm_jax.data.chat import ChatTemplate, load_template
from llm_jax.data.tokenizer import load_tokenizer_from_dir
from llm_jax.interop import hf_import, hf_weights
from llm_jax.interop.hf_tokenizer import load_hf_tokenizer
from llm_jax.train.state import TrainState, with_shardings

log = logging.getLogger("llm_jax")


def _where(config) -> str:
    return f"train.init_from={config.train.init_from!r}"


def _origin(config) -> str:
    return "the Hugging Face model" if _hf_dir(config) else "the run"


def _hf_dir(config):
    """DIR of train.init_from=hf:DIR (refused unless a directory), else None."""
    return hf_import.hf_dir(config.train.init_from)


def source_run(config) -> tuple[str, int | None]:
    """(run directory, step or None for its latest checkpoint) of train.init_from=RUN[:STEP]."""
    return parse_init_from(config.train.init_from, step_optional=True)


def source_config(config):
    """The init run's resolved config (its config.json); for hf:DIR, the defaults with the model
    keys and data.tokenizer of DIR."""
    directory = _hf_dir(config)
    if directory:
        imported = get_default_config()
        hf_import.resolve_config(imported, directory)
        return imported
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
    have, want = _shapes(_lm_params(saved.model)), _shapes(_lm_params(config.model))
    if have == want:
        return
    changed = [
        f"model.{k}={config.model[k]!r} ({_origin(config)} has {saved.model[k]!r})"
        for k in config.model
        if k in saved.model and saved.model[k] != config.model[k]
    ]
    raise ConfigError(
        f"{_where(config)}: the config changes the model's parameter shapes "
        f"({', '.join(changed) or 'see config.json'}); fine-tuning keeps the init model's shapes: "
        "drop those overrides"
    )


def _lm_params(model_cfg):
    """The LM's abstract parameter tree (its unembedding included), on one device."""
    return ckpt.abstract_params(model_cfg, jax.devices()[0])


def _shapes(tree) -> dict:
    return jax.tree.map(lambda x: (tuple(x.shape), str(x.dtype)), tree)


def check_checkpoint(config) -> None:
    """The init run has the checkpoint train.init_from names (cheap: a directory listing); DIR
    has safetensors whose names and shapes match its config.json (cheap: their headers)."""
    directory = _hf_dir(config)
    if directory:
        maps = hf_weights.tensor_maps(_lm_params(config.model))
        try:
            files = hf_weights.SafetensorsFiles(directory)
            hf_weights.check_tensors(files, maps, config.model.tie_embeddings)
        except ckpt.CheckpointError as e:
            raise ckpt.CheckpointError(f"{_where(config)}: {e}") from e
        return
    run, step = source_run(config)
    directory = ckpt.checkpoint_dir(run)
    steps = sorted(int(p.name) for p in directory.glob("*") if p.name.isdigit())
    if not steps:
        raise ckpt.CheckpointError(f"{_where(config)}: no checkpoint in {directory}; train first")
    if step is not None and step not in steps:
        raise ckpt.CheckpointError(f"{_where(config)}: no checkpoint at step {step}; have {steps}")


def tokenizer(config):
    """The init run's tokenizer, and its chat template (the default when it has none)."""
    directory = _hf_dir(config)
    if directory:  # a Hugging Face chat template is Jinja code, not llm_jax's ChatTemplate
        return load_hf_tokenizer(directory), ChatTemplate()
    run, _ = source_run(config)
    directory = f"{run}/tokenizer"
    return load_tokenizer_from_dir(directory), load_template(directory) or ChatTemplate()


def initial_params(config, target):
    """The init run's parameters for the leaves of `target` (abstract, with shardings)."""
    directory = _hf_dir(config)
    if directory:
        shardings = jax.tree.map(lambda x: x.sharding, target)
        full, tied = _lm_params(config.model), config.model.tie_embeddings
        try:  # target may lack the unembedding (a reward model): DIR is checked against `full`
            params = hf_weights.read_params(directory, target, shardings, tied, model_params=full)
        except ckpt.CheckpointError as e:
            raise ckpt.CheckpointError(f"{_where(config)}: {e}") from e
        log.info("parameters from the Hugging Face model in %s", directory)
        return params
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
    source_keys = _lm_params(source_config(config).model).keys()
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
