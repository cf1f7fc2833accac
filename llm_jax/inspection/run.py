"""Load a run directory for inference: its config, its checkpointed params and its tokenizer."""

from __future__ import annotations

import dataclasses
import functools
import pathlib

import flax.linen as nn
import jax
import jax.numpy as jnp

from llm_jax.errors import UserError
from llm_jax.model import ModelConfig, Transformer, model_config


class RunError(UserError, ValueError):
    """A run directory that cannot be used for inference; the message says why and what to do."""


@dataclasses.dataclass
class Run:
    """What inference needs from a run directory."""

    config: object  # the full resolved ConfigDict (config.json)
    params: dict | None  # unboxed params, or None when only the tokenizer was asked for
    tokenizer: object  # encode, decode, vocab_size, bos_id, eos_id, pad_id
    chat_template: object = None  # fine-tuned runs: the template prompts are formatted with

    @property
    def model_cfg(self):
        return self.config.model


def load_run(workdir, step: int | None = None, with_params: bool = True) -> Run:
    """The run at `workdir`, with the latest checkpoint's params unless `step` names one."""
    from llm_jax.checkpoint import CheckpointError, load_config, load_params
    from llm_jax.data.chat import load_template
    from llm_jax.data.tokenizer import load_tokenizer_from_dir

    workdir = pathlib.Path(workdir)
    if not workdir.is_dir():
        raise RunError(f"--workdir={workdir} is not a directory; pass a tools/train.py run dir")
    failed = (CheckpointError, ValueError, OSError)
    try:
        tokenizer = load_tokenizer_from_dir(workdir / "tokenizer")
        template = load_template(workdir / "tokenizer")
        config = load_config(workdir)
    except failed as e:
        raise RunError(f"cannot load the run at {workdir}: {e}") from e
    if not with_params:
        return Run(config, None, tokenizer, template)
    if config.train.get("mode") == "reward":
        raise RunError(
            f"{workdir} is a reward model (train.mode=reward): it scores text rather than "
            "generating it; use tools/score.py"
        )
    try:
        config, params = load_params(workdir, step)
    except failed as e:
        raise RunError(f"cannot load the run at {workdir}: {e}") from e
    run = Run(config, nn.meta.unbox(params), tokenizer, template)
    check_run(run)
    return run


def check_run(run: Run) -> None:
    """Refuse a tokenizer or a parameter tree that does not fit the run's model config."""
    cfg = run.model_cfg
    if run.tokenizer.vocab_size > cfg.vocab_size:
        raise RunError(
            f"the tokenizer has {run.tokenizer.vocab_size} ids but model.vocab_size is "
            f"{cfg.vocab_size}: this tokenizer is not the one the model was trained with"
        )
    tokens = jnp.zeros((1, 1), jnp.int32)
    model = Transformer(model_config(cfg))
    expected = jax.eval_shape(model.init, jax.random.key(0), tokens)["params"]
    want = jax.tree.map(lambda x: (x.shape, str(x.dtype)), nn.meta.unbox(expected))
    have = jax.tree.map(lambda x: (tuple(x.shape), str(x.dtype)), nn.meta.unbox(run.params))
    if want != have:
        raise RunError(
            "the checkpoint's parameters do not match the model in config.json "
            f"(expected {_summary(want)}, found {_summary(have)}); the checkpoint is from a "
            "different model"
        )


def _summary(tree) -> str:
    leaves = jax.tree_util.tree_leaves_with_path(tree, is_leaf=lambda x: isinstance(x, tuple))
    return f"{len(leaves)} arrays, first {jax.tree_util.keystr(leaves[0][0])}: {leaves[0][1]}"


@functools.lru_cache(maxsize=8)
def jitted_apply(model_cfg: ModelConfig, mutable: tuple = ()):
    """Transformer(cfg).apply, jitted once per (config, mutable collections)."""
    model = Transformer(model_cfg)
    collections = list(mutable) or False  # False: return the logits alone
    return jax.jit(lambda params, tokens: model.apply(params, tokens, mutable=collections))


def forward(model_cfg, params, ids: list[int], mutable: tuple = ()):
    """Full forward of one prompt: logits (1, L, V), plus the mutated collections if asked.

    model_cfg: a ModelConfig or config.model (a ConfigDict)."""
    if len(ids) > model_cfg.max_seq_len:
        raise RunError(
            f"the text is {len(ids)} tokens (with the EOS that starts a document), more than "
            f"model.max_seq_len={model_cfg.max_seq_len}; shorten --text"
        )
    apply = jitted_apply(model_config(model_cfg), mutable)
    return apply({"params": params}, jnp.asarray([ids], jnp.int32))


def encode_prompt(tokenizer, text: str, doc_start: bool = True) -> list[int]:
    """Prompt ids; doc_start prefixes EOS, which separates (so starts) documents in training."""
    ids = list(tokenizer.encode(text))
    return [tokenizer.eos_id, *ids] if doc_start or not ids else ids


def piece(tokenizer, token_id: int) -> str:
    """One token's text, with whitespace made visible for tables and plot labels."""
    text = tokenizer.decode([token_id]).replace("\n", "\\n").replace("\t", "\\t")
    text = "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in text)  # fonts lack them
    return text.replace(" ", "·") or f"<{token_id}>"
