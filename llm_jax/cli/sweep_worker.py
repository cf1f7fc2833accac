"""A sweep's long-lived worker: trains run after run in one process, so imports and the JAX
backend are paid once, not once per run, and compiled programs are shared through JAX's
persistent compilation cache.

Started by the sweep runner (llm_jax/sweep/runner.py) as `python -m llm_jax.cli.sweep_worker`,
never by hand. One JSON object per line: the runner writes {"argv": [flags], "log": PATH} on
stdin; the worker trains exactly what `python -m llm_jax.cli.train FLAGS` would (same flag
parsing, same config, same one-line errors with exit status 2) with stdout and stderr (Python's
and XLA's) appended to PATH, then answers {"rc": exit status, "rss_mb": resident memory after
the run} on its stdout. A run that raises is rc 1 with its traceback in PATH, and the worker
takes the next one. EOF: exit.
"""

import contextlib
import ctypes
import functools
import gc
import json
import os
import sys
import traceback

import jax
from absl import flags
from absl import logging as absl_logging

from llm_jax import distributed
from llm_jax.cli import errors
from llm_jax.cli import train as train_cli
from llm_jax.train import setup


def train_once(argv: list[str]) -> None:
    """`python -m llm_jax.cli.train *argv` in this process, under the same error contract (bad
    input: one `error: …` line, exit status 2), on flags of its own: no run inherits another's."""
    fv, argv = flags.FlagValues(), ["train", *argv]
    train_cli.define_flags(fv, argv)
    errors.run(functools.partial(train_cli.main, fv=fv), argv, flags_parser=fv)


def run_logged(argv: list[str], log_path: str) -> int:
    """Exit status of one run, its output (file descriptors 1 and 2) appended to log_path."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with open(log_path, "a") as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        try:
            train_once(argv)
            return 0
        except SystemExit as e:  # absl's app.run always exits: None is success
            return 0 if e.code is None else e.code if isinstance(e.code, int) else 1
        except Exception:  # the run failed, the worker did not: record it and go on
            traceback.print_exc()
            return 1
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            for fd, copy in zip((1, 2), saved, strict=True):
                os.dup2(copy, fd)
                os.close(copy)


def release_memory() -> None:
    """What a finished run leaves: its compiled programs (jax.clear_caches; without it ~3 MB a
    run stays resident, measured on tiny runs) except the programs kept for later runs of its size
    (KEPT_PROGRAMS), its arrays (gc), and free heap glibc would keep."""
    gc.collect()
    jax.clear_caches()
    with contextlib.suppress(OSError, AttributeError):  # not glibc: the allocator keeps it
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def compilation_cache() -> None:
    """JAX's persistent compilation cache (unless one is configured), for every program however
    quick to compile: jax.clear_caches() after each run drops the compiled eager ops too (the
    schedule, metrics: ~15 programs a run), which then load from disk instead of compiling, and
    a run whose steps an earlier one compiled (a seed rerun, a resume, a retry) loads those."""
    if not jax.config.jax_compilation_cache_dir:
        root = os.environ.get("LLM_JAX_CACHE") or os.path.expanduser("~/.cache/llm_jax")
        jax.config.update("jax_compilation_cache_dir", os.path.join(root, "jax_compilation"))
    if "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS" not in os.environ:
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)


# Compiled programs kept for later runs of the same size: three per size (init, train, eval), and
# a study's runs of one size are not consecutive (longest first), so enough for a ladder's sizes.
KEPT_PROGRAMS = 36


def main():
    distributed.die_with_parent()
    compilation_cache()
    setup.keep_compiled(KEPT_PROGRAMS)
    replies = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # stray prints between runs go to stderr, never into the replies
    for line in sys.stdin:
        request = json.loads(line)
        rc = run_logged(request["argv"], request["log"])
        release_memory()
        replies.write(json.dumps({"rc": rc, "rss_mb": round(rss_mb(), 1)}) + "\n")


def run():
    flags.FLAGS.mark_as_parsed()  # the worker has no flags; each run's are parsed on their own
    absl_logging.use_absl_handler()  # log lines as `python -m llm_jax.cli.train` writes them
    main()


if __name__ == "__main__":
    run()
