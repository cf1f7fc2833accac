"""Cache entries are checked before use: a cached token store whose files do not have the sizes
its manifest records (or a token-cache entry whose arrays do not match its info.json) is removed
and rebuilt, never read; temporary directories left by killed tokenizations (`<entry>.tmp<pid>`)
are removed."""

from __future__ import annotations

import json
import logging
import os
import pathlib
import re
import shutil
import time

import numpy as np

log = logging.getLogger("llm_jax")
_TMP_SUFFIX = re.compile(r"\.(?:tmp|broken)(\d+)$")  # being written / being removed
STALE_AFTER_S = 600  # a dead PID's temporary directory older than this is removed


def process_alive(pid: int) -> bool:
    """Whether a process with this PID runs on this host."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, owned by another user
        return True
    return True


def load_token_entry(directory: pathlib.Path):
    """(info, train, val) of a whole cache entry; None when it is missing or was broken (then
    it is removed, with a warning, so that it is rebuilt)."""
    if not (directory / "info.json").is_file():
        return None
    try:
        info = json.loads((directory / "info.json").read_text())
        arrays = {s: np.load(directory / f"{s}.npy", mmap_mode="r") for s in ("train", "val")}
        wrong = [
            f"{s}.npy has {len(a)} {a.dtype} tokens, info.json says {info[f'n_{s}_tokens']} "
            f"{info['dtype']}"
            for s, a in arrays.items()
            if len(a) != info[f"n_{s}_tokens"] or a.dtype.name != info["dtype"]
        ]
    except (OSError, ValueError, KeyError, TypeError) as e:  # truncated, garbled, missing
        wrong = [f"{type(e).__name__}: {e}"]
    if not wrong:
        return info, arrays["train"], arrays["val"]
    log.warning("token cache entry %s is broken (%s): rebuilding it", directory, "; ".join(wrong))
    discard(directory)
    return None


def discard(directory: pathlib.Path) -> None:
    """Remove a cache entry: renamed first, so no reader ever sees half of it."""
    doomed = directory.with_name(f"{directory.name}.broken{os.getpid()}")
    try:
        os.rename(directory, doomed)
    except OSError:  # another process discarded it first
        return
    shutil.rmtree(doomed, ignore_errors=True)


def remove_stale_tmp(parent: pathlib.Path) -> None:
    """Delete `*.tmp<pid>` (and `*.broken<pid>`) directories whose process is dead and that are
    not brand new (another host sharing the cache may reuse the PID)."""
    if not parent.is_dir():
        return
    for path in parent.iterdir():
        match = _TMP_SUFFIX.search(path.name)
        if not match or process_alive(int(match.group(1))):
            continue
        if time.time() - path.stat().st_mtime > STALE_AFTER_S:
            log.warning("removing %s, left by a killed tokenization", path)
            shutil.rmtree(path, ignore_errors=True)
