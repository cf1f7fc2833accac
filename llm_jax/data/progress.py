"""Progress of a store's preparation: a tqdm bar on a terminal, a log line per unit otherwise."""

from __future__ import annotations

import collections
import logging
import sys
import time

from tqdm import tqdm

log = logging.getLogger("llm_jax")


class PrepareProgress:
    """A tqdm bar (files, MB/s, ETA) on a terminal; a log line per unit otherwise."""

    def __init__(self, units, todo: list[int]):
        self.units = units
        self.units_left = collections.Counter(s.input.name for u in todo for s in units[u])
        self.files = len({s.input.name for u in units for s in u})
        self.files_done = self.files - len(self.units_left)
        self.sizes = {u: sum(s.end - s.start for s in units[u]) for u in todo}
        self.total, self.done, self.start = sum(self.sizes.values()), 0, time.perf_counter()
        self.bar = None
        if sys.stderr.isatty():
            self.bar = tqdm(total=self.total, unit="B", unit_scale=True, desc="tokenizing")

    def update(self, record: dict) -> None:
        for segment in self.units[record["unit"]]:
            self.units_left[segment.input.name] -= 1
            self.files_done += self.units_left[segment.input.name] == 0
        size = self.sizes[record["unit"]]
        self.done += size
        files = f"{self.files_done}/{self.files} files"
        if self.bar is not None:
            self.bar.set_postfix_str(files)
            self.bar.update(size)
            return
        rate = self.done / max(1e-9, time.perf_counter() - self.start)
        eta = (self.total - self.done) / max(rate, 1e-9)
        log.info(
            "prepared unit %d: %s, %.0f of %.0f MB, %.1f MB/s, ETA %.0f s",
            record["unit"],
            files,
            self.done / 1e6,
            self.total / 1e6,
            rate / 1e6,
            eta,
        )

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
