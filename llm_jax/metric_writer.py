"""Run-directory logs (process 0 only): config.json, run.json, metrics.jsonl, and trackers —
TensorBoard always, Weights & Biases when `log.wandb_project` is set.

Trackers get a run's study facts as hyperparameters (study, budget, N, D, tokens/param, lr, seed,
role, a few shape keys) under the run's name, so a sweep sorts and filters by what matters; the
whole config goes along as text (TensorBoard) or run config (W&B).
"""

from __future__ import annotations

import json
import logging
import math
import time
import uuid

from etils import epath
from tensorboard.compat.proto import event_pb2, summary_pb2
from tensorboard.plugins.hparams import summary_v2 as hparams_summary
from tensorboard.plugins.text import summary_v2 as text_summary
from tensorboard.summary.writer.event_file_writer import EventFileWriter

from llm_jax.config import ConfigError

# Config keys shown next to the study facts in the HParams table (the rest is in config.json).
SHAPE_KEYS = ("model.d_model", "model.n_layers", "data.batch_size", "train.steps", "train.schedule")

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


def study_hparams(config: dict, run_info: dict) -> dict:
    """The facts a sweep compares runs by; D is the run's planned training tokens."""
    flat, run_log = flatten(config), config["log"]
    n_params = run_info["params"]["total"]
    tokens = config["train"]["steps"] * config["data"]["batch_size"] * config["data"]["seq_len"]
    facts = {
        "study": run_log["study"],
        "role": run_log["role"],
        "budget": float(run_log["budget"]),
        "N": n_params,
        "N_nonembed": run_info["params"]["non_embedding"],
        "D": tokens,
        "tokens_per_param": tokens / n_params,
        "lr": config["train"]["lr"],
        "seed": config["train"]["seed"],
    }
    return facts | {k: flat[k] for k in SHAPE_KEYS}


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


def is_local(path) -> bool:
    return "://" not in str(path)


class TensorBoard:
    """Event files: scalars, the facts as an HParams session named after the run, config text."""

    def __init__(self, logdir: epath.Path):
        self.events = EventFileWriter(str(logdir))

    def start(self, name: str, hparams: dict, config: dict) -> None:
        self._add(hparams_summary.hparams_pb(hparams, trial_id=name), step=0)
        text = "```\n" + json.dumps(config, indent=2, sort_keys=True) + "\n```"
        self._add(text_summary.text_pb("config", text), step=0)

    def log(self, split: str, step: int, values: dict) -> None:
        Value = summary_pb2.Summary.Value
        tags = [Value(tag=f"{split}/{k}", simple_value=v) for k, v in values.items()]
        self._add(summary_pb2.Summary(value=tags), step)

    def _add(self, summary, step: int) -> None:
        self.events.add_event(event_pb2.Event(wall_time=time.time(), step=step, summary=summary))

    def flush(self) -> None:
        self.events.flush()

    def close(self) -> None:
        self.events.close()


class WandB:
    """One W&B run per training run; its id, kept in DIR/wandb_id, makes a resumed run go on."""

    def __init__(self, workdir: epath.Path, project: str):
        try:
            import wandb
        except ImportError as e:
            raise ConfigError(
                f"log.wandb_project={project!r} needs wandb: pip install 'llm_jax[wandb]' "
                "(or set log.wandb_project='')"
            ) from e
        self.wandb, self.workdir, self.project, self.run = wandb, workdir, project, None

    def start(self, name: str, hparams: dict, config: dict) -> None:
        id_file = self.workdir / "wandb_id"
        if not id_file.exists():
            id_file.write_text(uuid.uuid4().hex[:16])  # W&B run ids: letters and digits
        self.run = self.wandb.init(
            project=self.project,
            id=id_file.read_text().strip(),
            name=name,
            group=hparams["study"] or None,
            job_type=hparams["role"] or None,
            config=hparams | {"config": config},
            resume="allow",  # steps W&B already has (before a crash) are replays: it drops them
            dir=str(self.workdir) if is_local(self.workdir) else None,
            settings=self.wandb.Settings(console="off"),  # stdout/stderr stay the trainer's
        )

    def log(self, split: str, step: int, values: dict) -> None:
        self.run.log({f"{split}/{k}": v for k, v in values.items()}, step=step)

    def flush(self) -> None:
        pass  # W&B streams on its own

    def close(self) -> None:
        if self.run is not None:
            self.run.finish()


class MetricWriter:
    """Metric rows to metrics.jsonl and to every tracker.

    A local metrics.jsonl is appended to as rows come. Object stores (gs://) have no append:
    there the file is rewritten whole, through a temporary file and a rename, only at durable
    flushes (checkpoints) and at close, so a resumed run never sees rows past its checkpoint.
    """

    def __init__(self, workdir, enabled: bool = True):
        self.enabled = enabled
        self.workdir = epath.Path(workdir)
        self.path = self.workdir / "metrics.jsonl"
        self.local = is_local(self.workdir)
        self.lines: list[str] = []  # local: rows not yet appended; remote: every row
        self.trackers: list = []
        self.appender = None
        self.unflushed = False  # rows written since the last flush
        if not enabled:
            return
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.trackers.append(TensorBoard(self.workdir / "tensorboard"))

    def write_config(self, config: dict, run_info: dict) -> None:
        """config.json (resolved config), run.json (derived facts); trackers start the run."""
        if not self.enabled:
            return
        for name, value in (("config.json", config), ("run.json", run_info)):
            replace_text(self.workdir / name, json.dumps(value, indent=2, sort_keys=True))
        if config["log"]["wandb_project"]:
            self.trackers.append(WandB(self.workdir, config["log"]["wandb_project"]))
        name = config["log"]["name"] or self.workdir.name
        for tracker in self.trackers:
            tracker.start(name, study_hparams(config, run_info), config)

    def drop_after(self, step: int) -> None:
        """Keep the rows up to the resumed step (none for a new run), so no step is duplicated."""
        if not self.enabled or not self.path.exists():
            return
        kept = [line for line, row in readable_rows(self.path) if row["step"] <= step]
        self._rewrite(kept)
        self.lines = [] if self.local else kept

    def _rewrite(self, lines: list[str]) -> None:
        replace_text(self.path, "".join(line + "\n" for line in lines))

    def write(self, row: dict) -> None:
        """row has at least step and split; every other finite number also goes to trackers."""
        if not self.enabled:
            return
        self.lines.append(json.dumps(row))
        self.unflushed = True
        values = {
            k: float(v)
            for k, v in row.items()
            if k not in ("step", "split") and isinstance(v, int | float) and math.isfinite(v)
        }
        for tracker in self.trackers:
            tracker.log(row["split"], row["step"], values)

    def flush(self, durable: bool = False) -> None:
        """Local: append new rows. Remote: rewrite the file when `durable` (a checkpoint)."""
        if not self.enabled or not (self.unflushed or durable):
            return
        if self.local and self.lines:
            if self.appender is None:
                self.appender = open(self.path, "a")  # noqa: SIM115 (closed in close())
            self.appender.write("".join(line + "\n" for line in self.lines))
            self.appender.flush()
            self.lines = []
        elif not self.local and durable:
            self._rewrite(self.lines)
        for tracker in self.trackers:
            tracker.flush()
        self.unflushed = False

    def close(self) -> None:
        if not self.enabled:
            return
        self.flush(durable=True)
        if self.appender is not None:
            self.appender.close()
        for tracker in self.trackers:
            tracker.close()
