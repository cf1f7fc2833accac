"""The one place where paths typed by a user become absolute: Orbax refuses relative checkpoint
paths, and a run directory must not depend on the directory a child process starts in. URLs
(gs://, memory://, ...) are left alone: pathlib would turn `gs://b/x` into `./gs:/b/x`.

Flags that are paths go through absolute() (or required() when they may not be empty); config
keys that are paths through absolute_config() / absolute_override().
"""

import os

from llm_jax.data.inputs import BUILT_IN
from llm_jax.errors import UserError


def absolute(path: str) -> str:
    """A local path made absolute (~ expanded); a URL unchanged; '' stays ''."""
    if not path or "://" in path:
        return path
    return os.path.abspath(os.path.expanduser(path))


def required(flag: str, path: str) -> str:
    """absolute(path) of a flag that must name something: '' would mean the current directory."""
    if not path.strip():
        raise UserError(f"--{flag} is empty; give a path")
    return absolute(path)


def absolute_spec(spec: str) -> str:
    """'file.py[:arg]' (a preset or study) with the file made absolute, the argument kept."""
    path, sep, arg = spec.partition(":")
    return absolute(path) + sep + arg


def _key_value(key: str, value: str) -> str:
    """One path-valued config key made absolute; names (stdlib, byte, bpe:N) left alone."""
    if key == "data.corpus":
        return value if value in BUILT_IN else absolute(value)
    if key == "data.mixture":  # NAME:WEIGHT:CORPUS,...: each corpus as data.corpus
        entries = [entry.split(":", 2) for entry in value.split(",")] if value else []
        return ",".join(
            ":".join([*e[:2], _key_value("data.corpus", e[2])]) if len(e) == 3 else ":".join(e)
            for e in entries
        )
    if key == "data.tokenizer":  # a path that does not exist stays as typed, for the error
        return absolute(value) if os.path.isfile(value) else value
    if key in ("data.cache_dir", "data.examples", "data.eval_examples"):
        return absolute(value)
    if key == "train.init_from":  # WORKDIR[:STEP], or hf:DIR (a Hugging Face model directory)
        if value.startswith("hf:"):
            return "hf:" + absolute(value[3:])
        workdir, sep, step = value.rpartition(":")
        if sep and workdir and step.isdigit():
            return f"{absolute(workdir)}:{step}"
        return absolute(value)  # a fine-tuning RUN (its latest step)
    return value


PATH_KEYS = (
    "data.corpus",
    "data.mixture",
    "data.tokenizer",
    "data.cache_dir",
    "data.examples",
    "data.eval_examples",
    "train.init_from",
)


def absolute_config_value(key: str, value):
    """One config value made absolute if `key` holds a path (other keys' values unchanged)."""
    return _key_value(key, value) if key in PATH_KEYS else value


def absolute_config(config):
    """The config with its path-valued keys made absolute (in place; returned)."""
    for key in PATH_KEYS:
        section, name = key.split(".")
        config[section][name] = _key_value(key, config[section][name])
    return config


def absolute_override(arg: str) -> str:
    """`--config.<key>=<value>` with a path-valued value made absolute."""
    name, sep, value = arg.partition("=")
    key = name.removeprefix("--config.")
    return f"{name}{sep}{_key_value(key, value)}" if key in PATH_KEYS and sep else arg
