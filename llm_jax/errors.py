"""The base of the project's own error types: a problem with what the user gave (a config, a file,
a flag, a run directory), not a bug. Its message names the key or file and the fix; every CLI
prints it as one line `error: …` and exits with status 2 (llm_jax/cli/errors.py)."""


class UserError(Exception):
    """Bad input the user can fix; the message says what and how, in one line."""
