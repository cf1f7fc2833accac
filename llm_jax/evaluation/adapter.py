"""An lm-eval-harness model over llm_jax's own forward pass and KV-cache sampler (no torch).

Scoring follows lm-eval's causal-LM conventions (those of its Hugging Face model): a request is
context + continuation, truncated on the left to max_seq_len + 1 tokens, and the continuation's
tokens are scored; an empty context is replaced by the prefix token, EOS here, which is how
documents start in llm_jax's training data. Rows are right-padded to a power-of-two length and the
batch to a fixed size, so only a few shapes are compiled.
"""

from __future__ import annotations

import functools
import json

import jax
import jax.numpy as jnp
import numpy as np
from lm_eval import utils as lm_utils
from lm_eval.api.model import TemplateLM
from lm_eval.models.utils import handle_stop_sequences

from llm_jax.model import ModelConfig, Transformer, model_config
from llm_jax.sampling import Sampler, generate

_MIN_BUCKET = 16


class LlmJaxLM(TemplateLM):
    """lm-eval model: loglikelihood, loglikelihood_rolling and generate_until, batched."""

    def __init__(self, model_cfg, params, tokenizer, batch_size: int = 16, max_gen_toks=256):
        super().__init__()
        self.model_cfg, self.params, self.tok = model_cfg, params, tokenizer
        self.batch_size, self.max_gen_toks = int(batch_size), int(max_gen_toks)
        self._score = _scorer(model_config(model_cfg))

    @property
    def eot_token_id(self) -> int:
        return self.tok.eos_id

    @property
    def max_length(self) -> int:
        return self.model_cfg.max_seq_len

    def tok_encode(self, string: str, add_special_tokens=None, **kwargs) -> list[int]:
        return list(self.tok.encode(string))

    def tok_decode(self, ids) -> str:
        return self.tok.decode(ids)

    def _loglikelihood_tokens(self, requests, disable_tqdm: bool = False, **kwargs):
        """requests: (cache key, context ids, continuation ids) → [(logprob, is_greedy)]."""
        rows = []
        for _, context, continuation in requests:
            whole = (list(context) + list(continuation))[-(self.max_length + 1) :]
            rows.append((whole[:-1], whole[1:], min(len(continuation), len(whole) - 1)))
        results = [None] * len(rows)
        order = sorted(range(len(rows)), key=lambda i: -len(rows[i][0]))  # similar lengths batch
        for start in range(0, len(order), self.batch_size):
            chosen = order[start : start + self.batch_size]
            for i, result in zip(chosen, self._score_rows([rows[i] for i in chosen]), strict=True):
                results[i] = result
                if requests[i][0] is not None:
                    self.cache_hook.add_partial("loglikelihood", requests[i][0], result)
        return results

    def _score_rows(self, rows) -> list[tuple[float, bool]]:
        length = _bucket(max(len(inputs) for inputs, _, _ in rows), self.max_length)
        tokens = np.full((self.batch_size, length), self.tok.pad_id, np.int32)
        targets = np.zeros((self.batch_size, length), np.int32)
        scored = np.zeros((self.batch_size, length), bool)
        for r, (inputs, outputs, n) in enumerate(rows):
            tokens[r, : len(inputs)], targets[r, : len(outputs)] = inputs, outputs
            scored[r, len(inputs) - n : len(inputs)] = True
        logprob, greedy = jax.device_get(self._score(self.params, tokens, targets))
        return [
            (
                float(logprob[r][scored[r]].astype(np.float64).sum()),
                bool(greedy[r][scored[r]].all()),
            )
            for r in range(len(rows))
        ]

    def loglikelihood_rolling(self, requests, disable_tqdm: bool = False) -> list[float]:
        """Whole-document log-likelihood in max_seq_len windows, each token scored once."""
        windows, owners = [], []
        for i, (text,) in enumerate(req.args for req in requests):
            pieces = lm_utils.get_rolling_token_windows(
                token_list=self.tok_encode(text),
                prefix_token=self.prefix_token_id,
                max_seq_len=self.max_length,
                context_len=1,
            )
            for context, continuation in map(lm_utils.make_disjoint_window, pieces):
                windows.append((None, context, continuation))
                owners.append(i)
        totals = [0.0] * len(requests)
        for i, (logprob, _) in zip(owners, self._loglikelihood_tokens(windows), strict=True):
            totals[i] += logprob
        for req, total in zip(requests, totals, strict=True):
            self.cache_hook.add_partial("loglikelihood_rolling", req.args, total)
        return totals

    def generate_until(self, requests, disable_tqdm: bool = False) -> list[str]:
        """Decode each context with the KV-cache sampler, cut at the first stop sequence."""
        groups: dict[str, list[int]] = {}
        for i, req in enumerate(requests):
            groups.setdefault(json.dumps(req.args[1], sort_keys=True, default=str), []).append(i)
        texts = [""] * len(requests)
        for members in groups.values():
            for i, text in zip(
                members, self._generate([requests[i] for i in members]), strict=True
            ):
                texts[i] = text
                self.cache_hook.add_partial("generate_until", requests[i].args, text)
        return texts

    def _generate(self, requests) -> list[str]:
        """Requests that share one gen_kwargs dict."""
        kwargs = dict(requests[0].args[1])
        until = handle_stop_sequences(kwargs.get("until"), eos=None)
        max_new = min(int(kwargs.get("max_gen_toks", self.max_gen_toks)), self.max_length - 1)
        sampler = _sampler(kwargs)
        prompts = [self._prompt(req.args[0], max_new) for req in requests]
        order = sorted(range(len(prompts)), key=lambda i: -len(prompts[i]))
        texts = [""] * len(prompts)
        for start in range(0, len(order), self.batch_size):
            chosen = order[start : start + self.batch_size]
            completion = generate(
                self.model_cfg,
                self.params,
                [prompts[i] for i in chosen],
                max_new_tokens=max_new,
                sampler=sampler,
                seed=int(kwargs.get("seed", 0)),
                eos_id=self.tok.eos_id,
                pad_id=self.tok.pad_id,
                first_row=start,
                vocab_limit=self.tok.vocab_size,
            )
            for i, ids in zip(chosen, completion.rows(), strict=True):
                texts[i] = _cut(self.tok_decode(ids), until)
        return texts

    def _prompt(self, context: str, max_new: int) -> list[int]:
        """The context's last tokens that leave room for max_new (the prefix token if empty)."""
        ids = self.tok_encode(context) or [self.prefix_token_id]
        return ids[-(self.max_length - max_new) :]


def _sampler(kwargs: dict) -> Sampler:
    """lm-eval's gen_kwargs as a Sampler: greedy unless do_sample with a temperature > 0."""
    temperature = float(kwargs.get("temperature", 0.0)) if kwargs.get("do_sample") else 0.0
    return Sampler(
        temperature=temperature,
        top_k=int(kwargs.get("top_k") or 0),
        top_p=float(kwargs.get("top_p") or 1.0),
    )


def _cut(text: str, stops: list[str]) -> str:
    for stop in stops:
        if stop:
            text = text.split(stop)[0]
    return text


def _bucket(n: int, limit: int) -> int:
    """The next power of two ≥ n (at least _MIN_BUCKET), capped at the model's limit."""
    return min(max(_MIN_BUCKET, 1 << (n - 1).bit_length()), limit)


@functools.lru_cache(maxsize=8)
def _scorer(model_cfg: ModelConfig):
    """jit: (params, tokens_BL, targets_BL) → (log p(target) per position, target is argmax)."""
    model = Transformer(model_cfg)

    @jax.jit
    def score(params, tokens_BL, targets_BL):
        logits_BLV = model.apply({"params": params}, tokens_BL)
        logprobs_BLV = jax.nn.log_softmax(logits_BLV, axis=-1)
        logprob_BL = jnp.take_along_axis(logprobs_BLV, targets_BL[..., None], axis=-1)[..., 0]
        return logprob_BL, jnp.argmax(logits_BLV, axis=-1) == targets_BL

    return score
