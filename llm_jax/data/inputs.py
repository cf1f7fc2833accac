"""Which files a corpus spec names: the built-in corpora, or a path/glob, local or remote (fsspec).

A spec is ``stdlib``, ``site-packages``, or a file or glob on any fsspec filesystem (a plain path,
``file://``, ``gs://``, ``memory://``...). Listing costs one stat or one glob: nothing is read.
"""

from __future__ import annotations

import dataclasses
import glob
import os
import sys
import sysconfig

import fsspec

from llm_jax.errors import UserError


class DataError(UserError, ValueError):
    """A corpus, tokenizer or data config that cannot be used; the message names the fix."""


@dataclasses.dataclass(frozen=True)
class Input:
    """One input file: what to call it, how to open it, its size, and how to read it."""

    name: str  # recorded in manifests: the relative name of a built-in file, else the URL/path
    url: str  # what fsspec opens
    size: int  # bytes on storage (compressed size for .gz)
    version: str  # modification time or etag: detects changes without reading the file
    kind: str  # python (built-in: one document per file) | text | jsonl | parquet

    @property
    def gzip(self) -> bool:
        return self.url.endswith(".gz")

    @property
    def splittable(self) -> bool:
        """Byte ranges of it can be read independently (records found from any offset)."""
        return self.kind == "parquet" or (self.kind == "jsonl" and not self.gzip)


def kind_of(path: str) -> str:
    if path.endswith(".parquet"):
        return "parquet"
    if path.endswith((".jsonl", ".jsonl.gz")):
        return "jsonl"
    return "text"


def stdlib_files() -> list[tuple[str, str]]:
    """(relative name, path) of every .py file of this interpreter's stdlib, sorted."""
    root = sysconfig.get_paths()["stdlib"]
    found = []
    for directory, subdirs, names in os.walk(root):
        # site-packages holds installed packages, not the standard library.
        subdirs[:] = [d for d in subdirs if d not in ("site-packages", "dist-packages")]
        found += [os.path.join(directory, n) for n in names if n.endswith(".py")]
    return sorted((os.path.relpath(p, root), p) for p in found)


def site_packages_files() -> list[tuple[str, str]]:
    """(relative name, path) of every .py file under this interpreter's site-packages, sorted."""
    paths = sysconfig.get_paths()
    found = {}
    for root in sorted({paths["purelib"], paths["platlib"]}):  # often one directory
        for directory, _, names in os.walk(root):
            for name in names:
                if name.endswith(".py"):
                    path = os.path.join(directory, name)
                    found[os.path.relpath(path, root)] = path
    return sorted(found.items())


BUILT_IN = {"stdlib": stdlib_files, "site-packages": site_packages_files}


def resolve(spec: str) -> list[Input]:
    """The files of ``spec`` in a fixed order; a clear error when there are none."""
    if not spec:
        raise DataError(
            "data.corpus is empty; use 'stdlib', 'site-packages', a text file/glob, a .jsonl "
            "or .parquet file/glob, or a prepared store directory"
        )
    if spec in BUILT_IN:
        return [_built_in(name, path) for name, path in BUILT_IN[spec]()]
    fs, path = fsspec.core.url_to_fs(spec)
    where = f" (cwd: {os.getcwd()})" if _is_local(fs) else ""
    if glob.has_magic(path):
        found = {p: info for p, info in fs.glob(path, detail=True).items() if _is_file(info)}
        if not found:
            raise DataError(
                f"data.corpus={spec!r} matched no files{where}; check the pattern, or use "
                "'stdlib' for the built-in corpus"
            )
    elif fs.isdir(path):
        raise DataError(
            f"data.corpus={spec!r} is a directory; use a glob such as '{spec}/*.txt' "
            "(or prepare it into a store with tools/prepare_data.py --out=DIR)"
        )
    elif not fs.isfile(path):
        raise DataError(
            f"data.corpus={spec!r} does not exist{where}; give a text file, a glob, a .jsonl or "
            ".parquet file, a prepared store, or 'stdlib'"
        )
    else:
        found = {path: fs.info(path)}
    return [_user_input(fs, p, found[p]) for p in sorted(found)]


def built_in_version(spec: str) -> str:
    """Built-in corpora differ between Python versions: part of their identity."""
    return sys.version if spec in BUILT_IN else ""


def url_to_fs(url: str):
    """(filesystem, path) for a URL or plain path."""
    return fsspec.core.url_to_fs(url)


def _is_local(fs) -> bool:
    return "file" in (fs.protocol if isinstance(fs.protocol, tuple) else (fs.protocol,))


def _is_file(info: dict) -> bool:
    return info.get("type") == "file"


def _built_in(name: str, path: str) -> Input:
    stat = os.stat(path)
    return Input(name, path, stat.st_size, str(stat.st_mtime_ns), "python")


def _user_input(fs, path: str, info: dict) -> Input:
    url = path if _is_local(fs) else fs.unstrip_protocol(path)
    version = next(
        (
            str(info[k])
            for k in ("mtime", "updated", "LastModified", "etag", "created")
            if k in info
        ),
        "",
    )
    return Input(url, url, int(info["size"]), version, kind_of(path))
