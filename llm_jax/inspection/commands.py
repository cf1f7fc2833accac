"""The inspect_model subcommands by name: load what each needs from the run, write PNG + table."""

import pathlib

from llm_jax.inspection.attention import inspect_attention
from llm_jax.inspection.embeddings import inspect_embeddings
from llm_jax.inspection.next_token import inspect_next
from llm_jax.inspection.run import RunError, load_run
from llm_jax.inspection.tokens import inspect_tokens

COMMANDS = ("tokens", "next", "attention", "embeddings")


def run_command(name: str, workdir, *, step=None, out=None, **options) -> tuple[str, pathlib.Path]:
    """Run subcommand `name` on the run at `workdir`; returns (text table, PNG path).

    options: text (tokens, next, attention), temperatures/top_k/top_p/n (next), layers/heads
    (attention), token/k/chosen (embeddings). The PNG goes to `out` or WORKDIR/inspect/NAME.png.
    """
    if name not in COMMANDS:
        raise RunError(f"unknown subcommand {name!r}; choose from {', '.join(COMMANDS)}")
    png = pathlib.Path(out) if out else pathlib.Path(workdir) / "inspect" / f"{name}.png"
    run = load_run(workdir, step, with_params=name != "tokens")
    text = options.pop("text", "")
    if name == "tokens":
        return inspect_tokens(run.tokenizer, text, png), png
    if name == "next":
        return inspect_next(run, text, png, **options), png
    if name == "attention":
        return inspect_attention(run, text, png, **options), png
    return inspect_embeddings(run, png=png, **options), png
