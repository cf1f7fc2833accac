"""What SFT, reward models and DPO share as trainer Tasks (train/tasks.py): examples read and
checked from JSONL, the init run's tokenizer and chat template, rows batched like token windows,
and parameters from the init run."""

from __future__ import annotations

import logging

import numpy as np
from etils import epath

from llm_jax.data.chat import render
from llm_jax.data.loader import BatchIterator
from llm_jax.data.packing import RowSet, fit
from llm_jax.data.sources import DataError
from llm_jax.finetune import source

log = logging.getLogger("llm_jax")


class FineTuning:
    """Subclasses set `objective`, `load_examples` (path → records), `sequences_per_row`, and
    define `encode(records, split) -> (arrays, facts)`, `empty_rows()` and
    `held_out_row(means, params)` (the eval row from the held-out examples' means)."""

    objective = None
    sequences_per_row = 1

    def __init__(self, config, workdir):
        self.config, self.workdir = config, epath.Path(workdir)
        source.check_checkpoint(config)
        self.tokenizer, self.template = source.tokenizer(config)
        d = config.data
        self.examples = self._split(d)  # read and checked now: bad lines fail before any work
        self.tokens_per_step = d.batch_size * d.seq_len * self.sequences_per_row
        self.rows: dict[str, RowSet] = {}

    @staticmethod
    def load_examples(path: str) -> list:
        raise NotImplementedError

    def _split(self, d) -> dict:
        """{"train": records, "eval": records}: data.eval_examples, else a seeded held-out part."""
        records = self.load_examples(d.examples)
        if d.eval_examples:
            return {"train": records, "eval": self.load_examples(d.eval_examples)}
        if len(records) < 2:
            raise DataError(
                f"{d.examples}: {len(records)} example; hold-out needs ≥ 2, or set "
                "data.eval_examples (--eval_data=FILE)"
            )
        n_eval = min(len(records) - 1, max(1, round(d.val_fraction * len(records))))
        order = np.random.default_rng([self.config.train.seed % 2**63, 2]).permutation(len(records))
        held_out = set(order[:n_eval].tolist())
        return {
            "train": [r for i, r in enumerate(records) if i not in held_out],
            "eval": [r for i, r in enumerate(records) if i in held_out],
        }

    def prepare(self) -> dict:
        info = {}
        for split, records in self.examples.items():
            arrays, facts = self.encode(records, split)
            self.rows[split] = RowSet(arrays, f"{split} examples")
            info[split] = facts
        return info

    def render(self, messages, where: str):
        rendered = render(self.template, self.tokenizer, messages)
        unk = getattr(self.tokenizer, "unk_id", -1)
        if unk >= 0 and (rendered.ids == unk).any():
            raise DataError(
                f"{where}: text the init run's tokenizer cannot represent (it becomes <unk>); "
                "fine-tune on text that tokenizer covers, or from a run with a byte-fallback one"
            )
        return rendered

    def fit(self, groups, split: str):
        """Groups fitted to data.seq_len; the counts are logged and kept for run.json."""
        d = self.config.data
        fitted, counts = fit(groups, d.seq_len, d.too_long)
        message = counts.describe(f"{split} examples", d.seq_len)
        (log.warning if counts.truncated or counts.skipped else log.info)("%s", message)
        facts = {"examples": len(groups), "truncated": counts.truncated, "skipped": counts.skipped}
        return fitted, counts.kept, facts

    def batch_iterator(self, *, process_index, process_count):
        d = self.config.data
        return BatchIterator(
            self.rows["train"],
            seed=self.config.train.seed,
            batch_size=d.batch_size,
            seq_len=d.seq_len,
            prefetch=d.prefetch,
            process_index=process_index,
            process_count=process_count,
        )

    def eval_batches(self, *, process_index, process_count):
        rows = self.rows["eval"].fixed_batches(
            self.config.data.batch_size,
            self.empty_rows(),
            process_index=process_index,
            process_count=process_count,
        )
        return {"": rows}

    def eval_row(self, means, params):
        return self.held_out_row(means[""], params)

    def initial_state(self, parts):
        return source.initial_state(self.config, parts)

    def save(self, directory) -> None:
        self.tokenizer.save(directory)
        self.template.save(directory)
