"""`--config.<key>=<value>` for CLIs whose --config names a study rather than a preset: the
overrides are taken out of argv before absl parses the rest, and go to every run's config.
Unknown keys are refused here (naming the closest), and path values made absolute."""

from absl import flags

from llm_jax.cli import errors, paths
from llm_jax.errors import UserError

PREFIX = "--config."


def parse(argv: list[str]) -> tuple[list[str], list[str]]:
    """absl flags_parser: (positional args, overrides); `--set=key=value` is an alias."""
    overrides, rest, args = [], [], iter(argv)
    for arg in args:
        if arg.startswith(PREFIX):
            overrides.append(arg if "=" in arg else f"{arg}={next(args, '')}")
        elif arg.startswith("--set="):
            overrides.append(PREFIX + arg.removeprefix("--set="))
        elif arg == "--set":
            overrides.append(PREFIX + next(args, ""))
        else:
            rest.append(arg)
    unknown = errors.unknown_config_keys(["", *overrides])
    if unknown:
        raise UserError(errors.unknown_keys_message(unknown))
    return flags.FLAGS(rest), [paths.absolute_override(o) for o in overrides]
