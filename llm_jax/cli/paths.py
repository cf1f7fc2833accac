"""The one place where paths typed by a user become absolute: Orbax refuses relative checkpoint
paths, and a run directory must not depend on the directory a child process starts in. URLs
(gs://, memory://, ...) are left alone: pathlib would turn `gs://b/x` into `./gs:/b/x`."""

import os


def absolute(path: str) -> str:
    """A local path made absolute (~ expanded); a URL unchanged; '' stays ''."""
    if not path or "://" in path:
        return path
    return os.path.abspath(os.path.expanduser(path))
