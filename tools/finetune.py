"""Shim for `python -m llm_jax.cli.finetune`; the docstring there is this tool's --help."""

from llm_jax.cli.finetune import __doc__, run  # noqa: F401  (absl's --help reads __main__.__doc__)

if __name__ == "__main__":
    run()
