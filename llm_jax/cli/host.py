"""Process set-up that must happen before the interpreter starts: glibc's malloc tunables.

XLA's CPU runtime allocates each execution's temporaries as one block (hundreds of MB for a
small model's train step) with posix_memalign from a worker thread. glibc serves a block that big
with a fresh mmap and unmaps it on free, so the kernel zero-fills and faults the whole block in,
4 KiB at a time, on every step: 183k page faults and ~10-17% of the CPU time of the d256 step
(benchmarks/RESULTS.md, "CPU profile"). `glibc.malloc.hugetlb=1` makes glibc advise transparent
huge pages on those mmaps: ~1k faults a step. glibc reads tunables only at start-up, so the CLI
re-executes itself once with the variable set.
"""

from __future__ import annotations

import os
import pathlib
import sys

TUNABLE = "glibc.malloc.hugetlb=1"
_THP_MODE = pathlib.Path("/sys/kernel/mm/transparent_hugepage/enabled")


def _thp_on_request() -> bool:
    """True when the kernel gives huge pages to regions that ask (mode "madvise")."""
    try:
        return "[madvise]" in _THP_MODE.read_text()
    except OSError:  # not Linux, or no THP
        return False


def host_env(env: dict) -> dict:
    """`env` with the malloc tunable added (unchanged when already set or of no use here)."""
    tunables = env.get("GLIBC_TUNABLES", "")
    if "glibc.malloc.hugetlb" in tunables or not _thp_on_request():
        return env
    return dict(env, GLIBC_TUNABLES=":".join(t for t in (tunables, TUNABLE) if t))


def reexec_with_host_tunables() -> None:
    """Re-execute this process with the tunable set, once; call first thing in a CLI."""
    current = dict(os.environ)
    env = host_env(current)
    if env is current:
        return
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, [sys.executable, *sys.orig_argv[1:]], env)
