"""gs:// in memory for tests: etils.epath (and TensorBoard's gfile) reach gs:// through fsspec,
so fsspec's MemoryFileSystem registered for the `gs`/`gcs` protocols makes every gs:// path
run through the real code path into memory (gcsfs is not installed; nothing reaches a network).
epath accepts only gs/s3/az/hf URLs, so memory:// itself cannot stand in."""

import contextlib

import fsspec
from fsspec.implementations.memory import MemoryFileSystem


class MemoryGCS(MemoryFileSystem):
    protocol = ("gs", "gcs")
    store: dict = {}  # its own store, not memory://'s
    pseudo_dirs = [""]


@contextlib.contextmanager
def memory_gcs():
    """gs:// (and gcs://) backed by an empty in-memory store for the duration."""
    for name in ("gs", "gcs"):
        fsspec.register_implementation(name, MemoryGCS, clobber=True)
    MemoryGCS.store.clear()
    MemoryGCS.pseudo_dirs[:] = [""]
    try:
        yield
    finally:
        MemoryGCS.store.clear()
