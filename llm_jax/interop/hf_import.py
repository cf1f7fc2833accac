"""train.init_from = "hf:DIR": start a run from a Hugging Face Llama checkpoint.

The run's model keys come from DIR/config.json and its tokenizer from DIR; a config that sets any
of these to something else is refused, naming the keys. The parameters are read from DIR's
safetensors (single or sharded) straight onto the run's shardings; the optimizer starts fresh.
"""

from __future__ import annotations

import pathlib

from llm_jax.config import ConfigError, get_default_config
from llm_jax.data.tokenizer import ByteTokenizer
from llm_jax.interop.hf_config import apply_llama_config, read_llama_config
from llm_jax.interop.hf_tokenizer import load_hf_tokenizer
from llm_jax.interop.hf_weights import read_params

PREFIX = "hf:"


def hf_dir(init_from: str) -> pathlib.Path | None:
    """DIR of "hf:DIR", else None (a workdir named hf is written ./hf:STEP)."""
    if not init_from.startswith(PREFIX):
        return None
    directory = pathlib.Path(init_from[len(PREFIX) :]).expanduser().absolute()
    if not directory.is_dir():
        raise ConfigError(
            f"train.init_from={init_from!r}: {directory} is not a directory; point it at a "
            "Hugging Face model directory (config.json, *.safetensors, tokenizer)"
        )
    return directory


def resolve_config(config, directory: pathlib.Path) -> None:
    """Take model.* and data.tokenizer from DIR; refuse overrides that contradict them."""
    where = f"{directory}/config.json"
    apply_llama_config(config.model, read_llama_config(directory), where)
    tokenizer = load_hf_tokenizer(directory)
    spec = "byte" if isinstance(tokenizer, ByteTokenizer) else tokenizer.spec
    default = get_default_config().data.tokenizer
    if config.data.tokenizer not in (default, spec):
        raise ConfigError(
            f"data.tokenizer={config.data.tokenizer!r} but the model in {directory} comes with "
            f"its own tokenizer ({spec}); drop the data.tokenizer override"
        )
    if tokenizer.vocab_size > config.model.vocab_size:
        raise ConfigError(
            f"{directory}: the tokenizer has {tokenizer.vocab_size} ids but config.json's "
            f"vocab_size is {config.model.vocab_size}; the tokenizer is not this model's"
        )
    config.data.tokenizer = spec


def initial_params(config, directory: pathlib.Path, abstract_params, shardings):
    """The parameters of DIR, placed on `shardings` (the run's parameter shardings)."""
    return read_params(directory, abstract_params, shardings, tied=config.model.tie_embeddings)
