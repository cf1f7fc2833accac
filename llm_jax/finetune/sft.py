"""Supervised fine-tuning: the loss on response (assistant) tokens only, several examples packed
into each row (segment ids keep their attention apart; positions restart per example). Held-out
metrics: the masked loss, and the exact match of greedy completions where examples have an
"answer"."""

from __future__ import annotations

import math

import jax
import numpy as np

from llm_jax.data.chat import prompt_ids
from llm_jax.data.examples import load_conversations
from llm_jax.data.packing import empty_rows, non_pad_fraction, pack_rows, to_rows
from llm_jax.finetune.losses import sft_eval_metrics, sft_loss
from llm_jax.finetune.task import FineTuning
from llm_jax.sampling import Sampler, generate
from llm_jax.train.tasks import Objective

GENERATION_BATCH = 64  # prompts per generate call (one compiled decode loop per prompt length)


def row_shapes(data_cfg):
    """One global batch of rows (data/packing.py)."""
    shape = (data_cfg.batch_size, data_cfg.seq_len)
    rows = empty_rows(0, data_cfg.seq_len, 0)
    return {k: jax.ShapeDtypeStruct(shape, v.dtype) for k, v in rows.items()}


class SupervisedFineTuning(FineTuning):
    objective = Objective("lm", sft_loss, sft_eval_metrics, row_shapes)
    load_examples = staticmethod(load_conversations)
    checked = ()  # held-out conversations with an "answer" (set by encode)

    def encode(self, conversations, split):
        d = self.config.data
        rendered = [self.render(c.messages, c.where) for c in conversations]
        groups, kept, facts = self.fit([(r,) for r in rendered], split)
        examples = [g[0] for g in groups]
        lengths = [len(e.ids) for e in examples]
        if d.pack:
            rows = pack_rows(lengths, d.seq_len, self.config.train.seed)
        else:
            rows = [[i] for i in range(len(examples))]
        arrays = to_rows(examples, rows, d.seq_len, self.tokenizer.pad_id)
        if split == "eval":
            checked = [conversations[i] for i in kept if conversations[i].answer is not None]
            self.checked = checked[: self.config.eval.generations]
        facts.update(
            rows=len(rows),
            non_pad_fraction=non_pad_fraction(arrays),
            response_tokens=int(arrays["weights"].sum()),
        )
        return arrays, facts

    def empty_rows(self):
        d = self.config.data
        return empty_rows(d.batch_size, d.seq_len, self.tokenizer.pad_id)

    def held_out_row(self, means, params):
        loss = means["nll"] / max(means["tokens"], 1e-9)
        row = {"loss": loss, "perplexity": math.exp(min(loss, 50.0))}
        if self.checked:
            row["exact_match"] = self.exact_match(params, self.checked)
        return row

    def completions(self, params, conversations) -> list[str]:
        """Greedy completions of the conversations' prompts, as long as their answers allow."""
        max_new = max(len(self.tokenizer.encode(c.answer or "")) for c in conversations) + 1
        prompts = [c.messages[:-1] for c in conversations]  # the answer is the last message's
        return greedy_completions(
            self.config.model, params, self.tokenizer, self.template, prompts, max_new
        )

    def exact_match(self, params, conversations) -> float:
        texts = self.completions(params, conversations)
        hits = [t.strip() == c.answer.strip() for t, c in zip(texts, conversations, strict=True)]
        return float(np.mean(hits))


def greedy_completions(model_cfg, params, tokenizer, template, prompts, max_new_tokens):
    """The assistant's greedy answer to each prompt (a list of messages before the response);
    prompts too long for model.max_seq_len lose tokens from the left, as in training."""
    room = model_cfg.max_seq_len - max_new_tokens
    ids = []
    for messages in prompts:
        x = prompt_ids(template, tokenizer, messages)
        ids.append(x if len(x) <= room else [x[0], *x[len(x) - room + 1 :]])
    texts = []
    for start in range(0, len(ids), GENERATION_BATCH):
        out = generate(
            model_cfg, params, ids[start : start + GENERATION_BATCH],
            max_new_tokens=max_new_tokens, sampler=Sampler(temperature=0.0),
            eos_id=tokenizer.eos_id, pad_id=tokenizer.pad_id, vocab_limit=tokenizer.vocab_size,
        )  # fmt: skip
        texts += [tokenizer.decode(row) for row in out.rows()]
    return texts
