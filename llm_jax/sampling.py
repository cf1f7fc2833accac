"""KV-cache decoding and sampling strategies.

Prompts of different lengths are left-padded into one (B, P) batch whose positions are
right-aligned (0..n-1 on the tokens, -1 on the pads, which attention never sees), prefilled in one
call, then extended one token per step inside a single jitted lax.while_loop. Each row stops at EOS
or after max_new_tokens. There is no sliding window: the cache has model.max_seq_len slots, so
prompt + max_new_tokens must fit in max_seq_len or `generate` raises ValueError.

Strategies are small functions on logits_BV (filters set dropped tokens to -inf) composed by
`process_logits` in the usual order: repetition penalty → temperature → top-k → top-p → min-p.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from llm_jax.model import ModelConfig, Transformer, model_config

_DROPPED = -jnp.inf
# float32 rounding of a cumulative sum must not add a token to a set that already reaches top_p.
_TOP_P_SLACK = 1e-6


@dataclasses.dataclass(frozen=True)
class Sampler:
    """How the next token is chosen; the defaults switch every filter off. temperature 0: greedy."""

    temperature: float = 1.0
    top_k: int = 0  # keep the k most likely tokens (0: off)
    top_p: float = 1.0  # keep the smallest most-likely set whose probability reaches p (1: off)
    min_p: float = 0.0  # keep tokens with probability ≥ min_p × the top probability (0: off)
    repetition_penalty: float = 1.0  # CTRL-style penalty on tokens already seen (1: off)

    def __post_init__(self):
        checks = {
            "temperature ≥ 0": self.temperature >= 0,
            "top_k ≥ 0": self.top_k >= 0,
            "0 < top_p ≤ 1": 0 < self.top_p <= 1,
            "0 ≤ min_p ≤ 1": 0 <= self.min_p <= 1,
            "repetition_penalty > 0": self.repetition_penalty > 0,
        }
        bad = [rule for rule, ok in checks.items() if not ok]
        if bad:
            raise ValueError(f"invalid sampler {self}: need {', '.join(bad)}")


def apply_temperature(logits_BV, temperature: float):
    """Divide by T: T < 1 sharpens, T > 1 flattens."""
    return logits_BV / temperature


def top_k_filter(logits_BV, k: int):
    """Keep exactly the k largest logits per row (ties go to the lower id)."""
    _, top_ids_BN = jax.lax.top_k(logits_BV, k)  # N = k
    keep_BV = _scatter_rows(jnp.zeros(logits_BV.shape, bool), top_ids_BN, True)
    return jnp.where(keep_BV, logits_BV, _DROPPED)


def top_p_filter(logits_BV, p: float):
    """Nucleus: keep the smallest set of most likely tokens whose total probability reaches p."""
    order_BV = jnp.argsort(-logits_BV, axis=-1, stable=True)  # ties: lower id first
    probs_BV = jax.nn.softmax(jnp.take_along_axis(logits_BV, order_BV, axis=-1), axis=-1)
    mass_before_BV = jnp.cumsum(probs_BV, axis=-1) - probs_BV
    keep_sorted_BV = mass_before_BV < p - _TOP_P_SLACK  # the top token is always kept
    keep_BV = _scatter_rows(jnp.zeros(logits_BV.shape, bool), order_BV, keep_sorted_BV)
    return jnp.where(keep_BV, logits_BV, _DROPPED)


def min_p_filter(logits_BV, min_p: float):
    """Keep tokens whose probability is at least min_p times the most likely one's."""
    log_probs_BV = jax.nn.log_softmax(logits_BV, axis=-1)
    threshold_B1 = log_probs_BV.max(-1, keepdims=True) + jnp.log(min_p)
    return jnp.where(log_probs_BV >= threshold_B1, logits_BV, _DROPPED)


def penalize_repetition(logits_BV, seen_BV, penalty: float):
    """Keskar et al. 2019: divide positive / multiply negative logits of already seen tokens."""
    penalized_BV = jnp.where(logits_BV > 0, logits_BV / penalty, logits_BV * penalty)
    return jnp.where(seen_BV, penalized_BV, logits_BV)


def process_logits(logits_BV, sampler: Sampler, seen_BV=None):
    """Apply the sampler's active pieces in order; the result is what is sampled from."""
    logits_BV = logits_BV.astype(jnp.float32)
    if sampler.repetition_penalty != 1.0 and seen_BV is not None:
        logits_BV = penalize_repetition(logits_BV, seen_BV, sampler.repetition_penalty)
    if sampler.temperature == 0:
        return logits_BV
    logits_BV = apply_temperature(logits_BV, sampler.temperature)
    if 0 < sampler.top_k < logits_BV.shape[-1]:
        logits_BV = top_k_filter(logits_BV, sampler.top_k)
    if sampler.top_p < 1.0:
        logits_BV = top_p_filter(logits_BV, sampler.top_p)
    if sampler.min_p > 0.0:
        logits_BV = min_p_filter(logits_BV, sampler.min_p)
    return logits_BV


def choose(logits_BV, keys_B, sampler: Sampler, seen_BV=None):
    """Next token per row: argmax when temperature is 0, else a draw from the processed logits."""
    logits_BV = process_logits(logits_BV, sampler, seen_BV)
    if sampler.temperature == 0:
        return jnp.argmax(logits_BV, axis=-1).astype(jnp.int32)
    return jax.vmap(jax.random.categorical)(keys_B, logits_BV).astype(jnp.int32)


def _scatter_rows(target_BV, idx_BN, values):
    """target[b, idx[b, n]] = values[b, n] (or a scalar), row by row."""
    values_BN = jnp.broadcast_to(values, idx_BN.shape)
    return jax.vmap(lambda t, i, v: t.at[i].set(v))(target_BV, idx_BN, values_BN)


@dataclasses.dataclass
class Completion:
    """Generated tokens (B, N), pad_id after a row stops; n_tokens counts each row's EOS too."""

    tokens: np.ndarray  # (B, N) int32
    n_tokens: np.ndarray  # (B,) tokens produced per row, EOS included
    eos_id: int | None
    logits: np.ndarray | None = None  # (B, N, V) the logits each token was chosen from

    def rows(self) -> list[list[int]]:
        """Each row's generated ids without the trailing EOS."""
        out = []
        for row, n in zip(self.tokens, self.n_tokens, strict=True):
            ids = [int(t) for t in row[:n]]
            out.append(ids[:-1] if ids and ids[-1] == self.eos_id else ids)
        return out


def left_pad(prompts: Sequence[Sequence[int]], pad_id: int):
    """Left-pad to the longest prompt: (tokens_BP, positions_BP) with -1 positions on pads."""
    if not prompts or min(len(p) for p in prompts) == 0:
        raise ValueError("every prompt needs at least one token (prepend BOS to empty prompts)")
    p = max(len(x) for x in prompts)
    tokens_BP = np.full((len(prompts), p), pad_id, np.int32)
    positions_BP = np.full((len(prompts), p), -1, np.int32)
    for i, x in enumerate(prompts):
        tokens_BP[i, p - len(x) :] = x
        positions_BP[i, p - len(x) :] = np.arange(len(x))
    return tokens_BP, positions_BP


@dataclasses.dataclass
class _StepStream:
    """A compiled loop's per-step jax.debug.callback. It is baked into the loop, so to keep the loop
    cached it stays fixed: each cached loop owns one, and `generate` points it at its on_step."""

    on_step: Callable[[int, np.ndarray, np.ndarray], None] | None = None

    def __call__(self, step, tokens_B, done_B):
        if self.on_step is not None:
            self.on_step(int(step), np.asarray(tokens_B), np.asarray(done_B))


def generate(
    model_cfg: ModelConfig,
    params,
    prompts: Sequence[Sequence[int]],
    *,
    max_new_tokens: int,
    sampler: Sampler = Sampler(),
    seed: int = 0,
    eos_id: int | None = None,
    pad_id: int = 0,
    first_row: int = 0,
    vocab_limit: int | None = None,
    return_logits: bool = False,
    on_step: Callable[[int, np.ndarray, np.ndarray], None] | None = None,
) -> Completion:
    """Decode up to max_new_tokens after each prompt (lists of ids) in one jitted loop.

    Row i draws its randomness from fold_in(key(seed), first_row + i), so a sample is the same
    whether produced alone (first_row=i) or in a batch. Ids ≥ vocab_limit (the model's vocab padded
    past the tokenizer's) are never chosen. on_step(step, tokens_B, done_B) is called from inside
    the loop after each step (for streaming); done_B is the state before the step. model_cfg may
    also be config.model (a ConfigDict).
    """
    if max_new_tokens < 1:
        raise ValueError(f"max_new_tokens={max_new_tokens} must be ≥ 1")
    cfg = model_config(model_cfg)  # hashable: the compiled-loop cache key
    tokens_BP, positions_BP = left_pad(prompts, pad_id)
    p, limit = tokens_BP.shape[1], cfg.max_seq_len
    if p + max_new_tokens > limit:
        raise ValueError(
            f"prompt ({p} tokens, the longest in the batch) + max_new_tokens ({max_new_tokens}) "
            f"= {p + max_new_tokens} exceeds model.max_seq_len={limit}; shorten the prompt or "
            "lower max_new_tokens (no sliding window: the KV cache has max_seq_len slots)"
        )
    if sampler.temperature == 0:  # filters do not change an argmax: share one compiled loop
        sampler = Sampler(temperature=0.0, repetition_penalty=sampler.repetition_penalty)
    static = (max_new_tokens, sampler, -1 if eos_id is None else eos_id, pad_id, vocab_limit)
    decode, stream = _decode_fn(cfg, *static, return_logits, on_step is not None)
    row_ids_B = first_row + jnp.arange(len(prompts))
    stream.on_step = on_step
    try:
        out = jax.device_get(
            decode(params, tokens_BP, positions_BP, jax.random.key(seed), row_ids_B)
        )
    finally:
        stream.on_step = None
    return Completion(out["tokens"], out["n_tokens"], eos_id, out.get("logits"))


@functools.lru_cache(maxsize=32)
def _decode_fn(cfg, n_new, sampler, eos_id, pad_id, vocab_limit, return_logits, streamed):
    """The jitted prefill + decode loop for one (model config, length, strategy), and its stream."""
    # Decode with one module per layer: under nn.scan the stacked cache is sliced and re-stacked
    # (copied whole) every step, which made decoding ~2x slower at 1024 tokens of context.
    model = Transformer(dataclasses.replace(cfg, scan_layers=False), decode=True)
    stream = _StepStream()

    def forward(params, cache, tokens_BL, positions_BL):
        logits_BLV, mutated = model.apply(
            {"params": params, "cache": cache}, tokens_BL, positions_BL, mutable=["cache"]
        )
        return logits_BLV[:, -1], mutated["cache"]

    def record(state, logits_BV, step, row_keys_B):
        keys_B = jax.vmap(jax.random.fold_in, (0, None))(row_keys_B, step)
        if vocab_limit is not None:
            allowed_1V = (jnp.arange(cfg.vocab_size) < vocab_limit)[None, :]
            logits_BV = jnp.where(allowed_1V, logits_BV, _DROPPED)
        chosen_B = choose(logits_BV, keys_B, sampler, state["seen_BV"])
        done_B = state["done_B"]
        tok_B = jnp.where(done_B, pad_id, chosen_B).astype(jnp.int32)
        if streamed:
            jax.debug.callback(stream, step, tok_B, done_B, ordered=True)
        state = dict(state, step=step + 1, last_B=tok_B, done_B=done_B | (tok_B == eos_id))
        state["tokens_BN"] = state["tokens_BN"].at[:, step].set(tok_B)
        state["n_tokens_B"] = state["n_tokens_B"] + (~done_B).astype(jnp.int32)
        state["seen_BV"] = _mark_seen(state["seen_BV"], tok_B[:, None], ~done_B[:, None])
        if return_logits:
            state["logits_BNV"] = state["logits_BNV"].at[:, step].set(logits_BV)
        return state

    @jax.jit
    def run(params, tokens_BP, positions_BP, key, row_ids_B):
        b, _ = tokens_BP.shape
        if cfg.scan_layers:
            params = _unstack_layers(params, cfg.n_layers)
        row_keys_B = jax.vmap(jax.random.fold_in, (None, 0))(key, row_ids_B)
        # Params are unused by the returned cache, so XLA drops their (re)initialisation.
        cache = model.init(jax.random.key(0), tokens_BP[:, :1])["cache"]
        logits_BV, cache = forward(params, cache, tokens_BP, positions_BP)
        lens_B = positions_BP[:, -1] + 1
        state = {
            "cache": cache,
            "step": jnp.int32(0),
            "tokens_BN": jnp.full((b, n_new), pad_id, jnp.int32),
            "n_tokens_B": jnp.zeros((b,), jnp.int32),
            "done_B": jnp.zeros((b,), bool),
            "last_B": jnp.zeros((b,), jnp.int32),
            "seen_BV": _mark_seen(
                jnp.zeros((b, cfg.vocab_size), bool), tokens_BP, positions_BP >= 0
            ),
        }
        if return_logits:
            state["logits_BNV"] = jnp.zeros((b, n_new, cfg.vocab_size), jnp.float32)
        state = record(state, logits_BV, jnp.int32(0), row_keys_B)

        def cond(s):
            return (s["step"] < n_new) & ~jnp.all(s["done_B"])

        def body(s):
            # The token chosen at step t-1 sits at position len + t - 1 of its row.
            pos_B1 = (lens_B + s["step"] - 1)[:, None]
            logits_BV, cache = forward(params, s["cache"], s["last_B"][:, None], pos_B1)
            return record(dict(s, cache=cache), logits_BV, s["step"], row_keys_B)

        state = jax.lax.while_loop(cond, body, state)
        out = {"tokens": state["tokens_BN"], "n_tokens": state["n_tokens_B"]}
        if return_logits:
            out["logits"] = state["logits_BNV"]
        return out

    return run, stream


def _unstack_layers(params, n_layers: int) -> dict:
    """Scanned params (blocks: leaves stacked over layers) → the per-layer block_i layout."""
    params = dict(nn.meta.unbox(params))
    stacked = params.pop("blocks")
    for i in range(n_layers):
        params[f"block_{i}"] = jax.tree.map(lambda x, i=i: x[i], stacked)
    return params


def _mark_seen(seen_BV, tokens_BL, valid_BL):
    """Set seen[b, t] for every valid token t of row b (for the repetition penalty)."""
    v = seen_BV.shape[-1]
    idx_BL = jnp.where(valid_BL, tokens_BL, v)  # out of range: dropped by the scatter
    return jax.vmap(lambda s, i: s.at[i].set(True, mode="drop"))(seen_BV, idx_BL)
