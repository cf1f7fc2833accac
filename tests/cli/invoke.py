"""Run a CLI in this process, as `python -m llm_jax.cli.<name> ARGS` would: a fresh set of absl
flags for that module, sys.argv set (config_flags reads it), stdout/stderr captured, and the
exit status caught. Seconds per call instead of a new Python and JAX start-up."""

import contextlib
import dataclasses
import importlib
import io
import sys

from absl import flags

FLAGS = flags.FLAGS


@dataclasses.dataclass
class Result:
    code: int
    stdout: str
    stderr: str


def _forget_cli_flags() -> None:
    """Delete the flags of every llm_jax CLI module and config_flags' per-override flags."""
    owned = FLAGS.flags_by_module_dict()
    doomed = {f.name for m, fs in owned.items() if m.startswith("llm_jax.cli.") for f in fs}
    doomed |= {name for name in FLAGS if name.startswith("config.")}
    for name in doomed:
        if name in FLAGS:
            delattr(FLAGS, name)
    FLAGS.unparse_flags()


def invoke(cli: str, *args: str) -> Result:
    """`python -m llm_jax.cli.<cli> *args`; a bug's exception propagates (it is a traceback)."""
    _forget_cli_flags()
    name = f"llm_jax.cli.{cli}"
    module = importlib.reload(sys.modules[name]) if name in sys.modules else None
    module = module or importlib.import_module(name)
    argv = [f"{cli}.py", *args]
    out, err = io.StringIO(), io.StringIO()
    saved_argv, sys.argv = sys.argv, argv
    code = 0
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            module.run(argv)
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    finally:
        sys.argv = saved_argv
    return Result(code, out.getvalue(), err.getvalue())
