"""The CLIs' error contract, in one place: bad input is one line `error: …` on stderr and exit
status 2; a traceback means a bug. Bad input is a UserError, a flag error, an unknown config key,
a --config file that does not load, or an OSError naming a file (disk full, permissions).

Library INFO logs (Orbax logs every file it reads) stay off the terminal unless --verbosity is
given; llm_jax's own INFO lines (progress, resume) are kept.
"""

from __future__ import annotations

import difflib
import errno
import logging
import sys

from absl import app, flags
from absl import logging as absl_logging
from ml_collections import config_flags

from llm_jax.config import get_default_config
from llm_jax.errors import UserError

EXIT_USER_ERROR = 2
FLAGS = flags.FLAGS


def run(main, argv=None, flags_parser=None) -> None:
    """absl's app.run under the contract; argv defaults to sys.argv, the parser to absl's."""
    parse = flags_parser or FLAGS
    app.run(_guard_main(main), argv=argv, flags_parser=_guard_parser(parse))


def fail(message: str) -> None:
    """Print the one-line error and exit with the user-error status."""
    print(f"error: {one_line(message)}", file=sys.stderr, flush=True)
    sys.exit(EXIT_USER_ERROR)


def one_line(message: str) -> str:
    """Lines joined; an embedded traceback (config_flags adds them) shrinks to its last line."""
    lines = [line.strip() for line in str(message).strip().splitlines() if line.strip()]
    if any(line.startswith("Traceback (most recent call last)") for line in lines):
        lines = [lines[0], lines[-1]]
    return " ".join(lines)


def _guard_parser(parse):
    def guarded(argv):
        try:
            parsed = parse(argv)
        except flags.Error as e:
            fail(str(e))
        except (AttributeError, KeyError):
            unknown = unknown_config_keys(argv)
            if not unknown:
                raise
            fail(unknown_keys_message(unknown))
        except UserError as e:  # a flags_parser of our own (overrides.parse) checks keys
            fail(str(e))
        _load_config_flags(parse if isinstance(parse, flags.FlagValues) else FLAGS)
        return parsed

    return guarded


def _load_config_flags(fv) -> None:
    """config_flags defers a --config file's load error until first use: surface it now."""
    for name in fv:
        flag = fv[name]
        if flag.present and _is_config_file_flag(flag):
            try:
                flag.value.get("model")
            except OSError as e:
                fail(f"--{name}={config_flags.get_config_filename(flag)}: {_last_line(e)}")


def _is_config_file_flag(flag) -> bool:
    try:
        config_flags.get_config_filename(flag)
    except TypeError:  # not a config flag
        return False
    return True


def _last_line(error: Exception) -> str:
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return lines[-1] if lines else type(error).__name__


def _guard_main(main):
    def guarded(argv):
        if not FLAGS["verbosity"].present:
            absl_logging.set_verbosity(absl_logging.WARNING)
        logging.getLogger("llm_jax").setLevel(logging.INFO)
        try:
            return main(argv)
        except UserError as e:
            fail(str(e))
        except OSError as e:
            if e.filename is None:
                raise
            fail(os_error_message(e))

    return guarded


def os_error_message(e: OSError) -> str:
    """One line naming the file; disk full also says that what was written before is kept."""
    if e.errno == errno.ENOSPC:
        return (
            f"no space left on the device writing {e.filename}; everything written before is "
            "kept (a run resumes from its last checkpoint): free space and rerun the same command"
        )
    return f"{e.strerror or type(e).__name__}: {e.filename}"


def known_config_keys() -> list[str]:
    """Every declared key, dotted: model.d_model, mesh.rules.embed, ..."""

    def walk(node, prefix):
        for key, value in node.items():
            if hasattr(value, "items"):
                yield from walk(value, f"{prefix}{key}.")
            else:
                yield f"{prefix}{key}"

    return list(walk(get_default_config(), ""))


def unknown_config_keys(argv) -> list[str]:
    """The --config.<key> overrides in argv that name no declared key."""
    known = set(known_config_keys())
    given = [a.split("=", 1)[0].removeprefix("--config.") for a in argv[1:]
             if a.startswith("--config.")]  # fmt: skip
    return [key for key in given if key not in known]


def unknown_keys_message(unknown: list[str]) -> str:
    known = known_config_keys()
    parts = []
    for key in unknown:
        close = difflib.get_close_matches(key, known, n=3, cutoff=0.5)
        hint = f" (closest: {', '.join(close)})" if close else ""
        parts.append(f"unknown config key {key}{hint}")
    return (
        "; ".join(parts)
        + "; every key is declared, with its default, in llm_jax/config/defaults.py"
    )


def no_arguments(argv) -> None:
    """Refuse stray positional arguments (a flag typed without its --name=)."""
    if len(argv) > 1:
        fail(f"unexpected argument(s) {argv[1:]}: every option is a flag, --name=value")


def require(flag: str, check, message: str) -> None:
    """A flag validator: a value failing `check` is a one-line flag error naming the flag."""
    flags.register_validator(flag, check, message=f"--{flag} {message}")
