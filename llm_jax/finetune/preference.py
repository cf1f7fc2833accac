"""Preference pairs: a reward model (Bradley–Terry on a scalar head) and DPO.

DPO's frozen reference is the initial model. Its log-probs of every pair are computed once, when
the run starts, with the initial parameters on the run's mesh, and kept in
DIR/reference_logprobs.npz: a step then costs the policy's forward and backward alone, and no
second copy of the parameters is held (benchmarks/RESULTS.md has the measurement). A resumed run
reads the file; its rows' digest must match the data's.
"""

from __future__ import annotations

import functools
import hashlib
import io
import logging

import jax
import numpy as np
from jax.experimental import multihost_utils

from llm_jax.data.examples import load_preferences
from llm_jax.data.packing import empty_rows, non_pad_fraction, to_rows
from llm_jax.data.sources import DataError
from llm_jax.finetune import losses
from llm_jax.finetune.sft import row_shapes
from llm_jax.finetune.task import FineTuning
from llm_jax.train.setup import InMesh
from llm_jax.train.tasks import Objective

log = logging.getLogger("llm_jax")
REFERENCE_FILE = "reference_logprobs.npz"


def pair_shapes(data_cfg, with_reference: bool = False):
    """One global batch of preference pairs (losses.py)."""
    column = jax.ShapeDtypeStruct((data_cfg.batch_size,), np.float32)
    shapes = {"chosen": row_shapes(data_cfg), "rejected": row_shapes(data_cfg), "valid": column}
    if with_reference:
        shapes.update(ref_chosen=column, ref_rejected=column)
    return shapes


class _Preferences(FineTuning):
    load_examples = staticmethod(load_preferences)
    sequences_per_row = 2  # chosen and rejected

    def encode(self, pairs, split):
        L, pad = self.config.data.seq_len, self.tokenizer.pad_id
        groups = [
            tuple(self.render(p.conversation(r), p.where) for r in (p.chosen, p.rejected))
            for p in pairs
        ]
        fitted, _, facts = self.fit(groups, split)
        one_each = [[i] for i in range(len(fitted))]
        arrays = {
            "chosen": to_rows([g[0] for g in fitted], one_each, L, pad),
            "rejected": to_rows([g[1] for g in fitted], one_each, L, pad),
            "valid": np.ones(len(fitted), np.float32),
        }
        facts.update(rows=len(fitted), non_pad_fraction=non_pad_fraction(arrays["chosen"]))
        return arrays, facts

    def empty_rows(self):
        d = self.config.data
        rows = empty_rows(d.batch_size, d.seq_len, self.tokenizer.pad_id)
        return {"chosen": rows, "rejected": rows, "valid": np.zeros(d.batch_size, np.float32)}

    def held_out_row(self, means, params):
        pairs = max(means["pairs"], 1e-9)  # eval_metrics are sums over pairs: per pair here
        return {k: v / pairs for k, v in means.items() if k not in ("pairs", "batches")}


def reward_loss(model, train_cfg, params, pairs):
    means = losses.weighted_means(losses.reward_terms(model, params, pairs), pairs["valid"])
    return means["loss"], means


def reward_eval_metrics(model, params, pairs):
    return losses.weighted_sums(losses.reward_terms(model, params, pairs), pairs["valid"])


class RewardModeling(_Preferences):
    """The LM with a scalar head (reward_head, initialised fresh), trained with Bradley–Terry."""

    objective = Objective("reward", reward_loss, reward_eval_metrics, pair_shapes)


def dpo_loss(model, train_cfg, params, pairs):
    terms = losses.dpo_terms(model, params, pairs, train_cfg.dpo_beta, train_cfg.dpo_loss)
    means = losses.weighted_means(terms, pairs["valid"])
    return means["loss"], means


def dpo_eval_metrics(model, params, pairs, *, beta, kind):
    terms = losses.dpo_terms(model, params, pairs, beta, kind)
    return losses.weighted_sums(terms, pairs["valid"])


def dpo_objective(train_cfg) -> Objective:
    """DPO's objective: its eval metrics take β and the loss variant from train_cfg."""
    t = train_cfg
    metrics = functools.partial(dpo_eval_metrics, beta=t.dpo_beta, kind=t.dpo_loss)
    shapes = functools.partial(pair_shapes, with_reference=True)
    return Objective("lm", dpo_loss, metrics, shapes)


class DirectPreference(_Preferences):
    """DPO (or IPO, train.dpo_loss) against the frozen initial model."""

    def __init__(self, config, workdir):
        super().__init__(config, workdir)
        self.objective = dpo_objective(config.train)
        self.has_reference = False

    def encode(self, pairs, split):
        arrays, facts = super().encode(pairs, split)
        zeros = np.zeros_like(arrays["valid"])  # the reference's, filled in by initial_state
        return dict(arrays, ref_chosen=zeros, ref_rejected=zeros), facts

    def empty_rows(self):
        zeros = np.zeros(self.config.data.batch_size, np.float32)
        return dict(super().empty_rows(), ref_chosen=zeros, ref_rejected=zeros)

    def initial_state(self, parts):
        state = super().initial_state(parts)
        self._compute_reference(parts, state.params)
        return state

    def batch_iterator(self, **slice_args):
        self._load_reference()
        return super().batch_iterator(**slice_args)

    def eval_batches(self, **slice_args):
        self._load_reference()
        return super().eval_batches(**slice_args)

    def _compute_reference(self, parts, params) -> None:
        """log π_ref of every pair (train and eval) with the initial parameters."""
        logprobs = InMesh(
            jax.jit(functools.partial(losses.sequence_logprobs, parts.model)),
            parts.mesh,
            parts.rules,
        )
        slice_args = dict(process_index=jax.process_index(), process_count=jax.process_count())
        saved = {}
        for split, rows in self.rows.items():
            batches = rows.fixed_batches(
                self.config.data.batch_size, self.empty_rows(), **slice_args
            )
            out = [
                multihost_utils.process_allgather(
                    logprobs(params, parts.global_batch(b)), tiled=True
                )
                for b in batches
            ]
            logp_N2 = np.concatenate(out)[: rows.n].astype(np.float32)
            rows.arrays.update(ref_chosen=logp_N2[:, 0], ref_rejected=logp_N2[:, 1])
            saved[split], saved[f"{split}_digest"] = logp_N2, _digest(rows)
        if jax.process_index() == 0:
            buffer = io.BytesIO()
            np.savez(buffer, **saved)
            (self.workdir / REFERENCE_FILE).write_bytes(buffer.getvalue())
        self.has_reference = True
        log.info("reference log-probs of %s pairs cached", {k: r.n for k, r in self.rows.items()})

    def _load_reference(self) -> None:
        """A resumed run's reference log-probs, from the file written when it started."""
        if self.has_reference:
            return
        path = self.workdir / REFERENCE_FILE
        if not path.exists():
            raise DataError(
                f"{path} is missing: a resumed DPO run needs the reference log-probs written when "
                "it started; restart in a new --workdir"
            )
        saved = np.load(io.BytesIO(path.read_bytes()))
        for split, rows in self.rows.items():
            if str(saved[f"{split}_digest"]) != _digest(rows):
                raise DataError(
                    f"{path} was computed for other {split} examples than data.examples now "
                    "holds; resume with the same data, or start a new --workdir"
                )
            rows.arrays.update(ref_chosen=saved[split][:, 0], ref_rejected=saved[split][:, 1])
        self.has_reference = True


def _digest(rows) -> str:
    """Identifies the pairs' token rows, so a cache is never applied to other data."""
    h = hashlib.sha256()
    for side in ("chosen", "rejected"):
        for key in ("inputs", "weights"):
            h.update(np.ascontiguousarray(rows.arrays[side][key]).tobytes())
    return h.hexdigest()[:32]
