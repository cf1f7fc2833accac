"""Run-directory logs: config.json, metrics.jsonl and TensorBoard event files (process 0 only)."""

from __future__ import annotations

import json
import logging
import math
import time

from etils import epath
from tensorboard.compat.proto import event_pb2, summary_pb2
from tensorboard.plugins.hparams import summary_v2 as hparams_summary
from tensorboard.plugins.text import summary_v2 as text_summary
from tensorboard.summary.writer.event_file_writer import EventFileWriter

log = logging.getLogger("llm_jax")


def flatten(config: dict, prefix: str = "") -> dict:
    """{'model': {'d_model': 8}} → {'model.d_model': 8}."""
    out = {}
    for key, value in config.items():
        if isinstance(value, dict):
            out.update(flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def replace_text(path, text: str) -> None:
    """Write through a temporary file and a rename (a kill mid-write leaves the old file); an
    OSError names the file, which a failed write() alone does not (disk full)."""
    temporary = path.with_name(f"{path.name}.tmp")
    try:
        temporary.write_text(text)
    except OSError as e:
        raise OSError(e.errno, e.strerror, e.filename or str(temporary)) from e
    temporary.replace(path)


def readable_rows(path) -> list[tuple[str, dict]]:
    """(line, row) of each metrics line that parses; a truncated or garbled line (a killed
    writer, a bad copy) is dropped with a warning naming the file and the line numbers."""
    rows, bad = [], []
    for number, line in enumerate(epath.Path(path).read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError:
            row = None
        if isinstance(row, dict) and isinstance(row.get("step"), int):
            rows.append((line, row))
        else:
            bad.append(number)
    if bad:
        log.warning("%s: dropped %d unreadable line(s): %s", path, len(bad), bad[:10])
    return rows


class MetricWriter:
    """Metric rows to metrics.jsonl, mirrored into TensorBoard.

    Rows are kept in memory and the file is rewritten whole at each flush, through a temporary
    file and a rename: object stores (gs://) have no append, and a kill mid-write loses nothing.
    """

    def __init__(self, workdir, enabled: bool = True):
        self.enabled = enabled
        self.workdir = epath.Path(workdir)
        self.lines: list[str] = []
        self.written = 0  # len(self.lines) at the last rewrite
        if not enabled:
            return
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.events = EventFileWriter(str(self.workdir / "tensorboard"))

    def write_config(self, config: dict, run_info: dict) -> None:
        """config.json (resolved config), run.json (derived facts), and both in TensorBoard."""
        if not self.enabled:
            return
        for name, value in (("config.json", config), ("run.json", run_info)):
            replace_text(self.workdir / name, json.dumps(value, indent=2, sort_keys=True))
        hparams = {
            k: v for k, v in flatten(config).items() if isinstance(v, bool | int | float | str)
        }
        self._add(hparams_summary.hparams_pb(hparams, trial_id=str(self.workdir)), step=0)
        text = "```\n" + json.dumps(config, indent=2, sort_keys=True) + "\n```"
        self._add(text_summary.text_pb("config", text), step=0)

    def drop_after(self, step: int) -> None:
        """Keep the rows up to the resumed step (none for a new run), so no step is duplicated."""
        path = self.workdir / "metrics.jsonl"
        if not self.enabled or not path.exists():
            return
        rows = readable_rows(path)
        self.lines = [line for line, row in rows if row["step"] <= step]
        self._write_lines()

    def _write_lines(self) -> None:
        replace_text(self.workdir / "metrics.jsonl", "".join(line + "\n" for line in self.lines))
        self.written = len(self.lines)

    def write(self, row: dict) -> None:
        """row has at least step and split; every other number also goes to TensorBoard."""
        if not self.enabled:
            return
        self.lines.append(json.dumps(row))
        values = [
            summary_pb2.Summary.Value(tag=f"{row['split']}/{k}", simple_value=float(v))
            for k, v in row.items()
            if k not in ("step", "split") and isinstance(v, int | float) and math.isfinite(v)
        ]
        self._add(summary_pb2.Summary(value=values), row["step"])

    def _add(self, summary, step: int) -> None:
        self.events.add_event(event_pb2.Event(wall_time=time.time(), step=step, summary=summary))

    def flush(self) -> None:
        if self.enabled and self.written < len(self.lines):
            self._write_lines()
            self.events.flush()

    def close(self) -> None:
        if self.enabled:
            self._write_lines()
            self.events.close()
