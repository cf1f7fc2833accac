"""`--config.<key>=<value>` for CLIs whose --config names a study rather than a preset: the
overrides are taken out of argv before absl parses the rest, and go to every run's config."""

from absl import flags

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
    return flags.FLAGS(rest), overrides
