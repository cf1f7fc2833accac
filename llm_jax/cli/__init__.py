"""Command-line entry points: `python -m llm_jax.cli.<name>` (tools/<name>.py are shims)."""
