"""validate(): a config is checked before any data work — every key's domain, the keys that
depend on each other, on the machine (backend, device memory) and on the tokenizer — and every
problem is reported at once, naming the key and the fix."""

from __future__ import annotations

import functools
import math
import os

import ml_collections

from llm_jax.config.defaults import ENUMS, FINETUNE_MODES
from llm_jax.config.parse import parse_init_from, parse_mixture
from llm_jax.errors import UserError


class ConfigError(UserError, ValueError):
    """A config that cannot run; the message names the fields and the fix."""


def _check(ok: bool, message: str, problems: list[str]) -> None:
    if not ok:
        problems.append(message)


def validate(
    c: ml_collections.ConfigDict,
    *,
    n_devices: int | None = None,
    tokenizer_vocab=None,
    backend: str | None = None,
    memory_bytes: int | None = None,
):
    """Reject a config that cannot run, before anything is compiled. Collects every problem.

    backend (jax.default_backend()) and memory_bytes (all devices together) enable the checks
    that depend on the machine: cuDNN attention, an embedding table too big to train.
    """
    problems: list[str] = []
    _check_domains(c, problems)
    _check_tokenizer_spec(c.data.tokenizer, problems)
    for key, allowed in ENUMS.items():
        section, name = key.split(".")
        value = c[section][name]
        _check(value in allowed, f"{key}={value!r} is not one of {allowed}", problems)
    m, d, t = c.model, c.data, c.train
    for key in ("d_model", "n_layers", "n_heads", "n_kv_heads", "d_ff", "max_seq_len"):
        _check(m[key] > 0, f"model.{key}={m[key]} must be positive", problems)
    for key in ("scan_unroll", "attention_block"):
        _check(m[key] >= 0, f"model.{key}={m[key]} must be ≥ 0 (0: by backend)", problems)
    for key in ("seq_len", "batch_size", "eval_tokens"):
        _check(d[key] > 0, f"data.{key}={d[key]} must be positive", problems)
    if problems:  # the checks below divide by these
        raise ConfigError("invalid config: " + "; ".join(problems))
    _check(
        m.d_model % m.n_heads == 0,
        f"model.n_heads={m.n_heads} must divide model.d_model={m.d_model}; "
        f"pick n_heads from {_divisors(m.d_model)}",
        problems,
    )
    _check(
        m.n_heads % m.n_kv_heads == 0,
        f"model.n_kv_heads={m.n_kv_heads} must divide model.n_heads={m.n_heads} "
        f"(1 = MQA, n_heads = MHA); pick from {_divisors(m.n_heads)}",
        problems,
    )
    if m.pos_encoding == "rope":
        _check(
            (m.d_model // m.n_heads) % 2 == 0,
            "rope needs an even head dim (model.d_model / model.n_heads)",
            problems,
        )
    _check(
        d.seq_len <= m.max_seq_len,
        f"data.seq_len={d.seq_len} exceeds model.max_seq_len={m.max_seq_len}; "
        "raise max_seq_len or shorten seq_len",
        problems,
    )
    if tokenizer_vocab is not None and m.vocab_size:
        _check(
            m.vocab_size >= tokenizer_vocab,
            f"model.vocab_size={m.vocab_size} is smaller than the tokenizer's vocab "
            f"({tokenizer_vocab}, data.tokenizer={d.tokenizer!r}); set model.vocab_size=0 "
            f"(auto) or ≥ {tokenizer_vocab}",
            problems,
        )
    _check(t.steps > 0, f"train.steps={t.steps} must be positive", problems)
    _check(
        0 <= t.warmup_steps < t.steps,
        f"train.warmup_steps={t.warmup_steps} must be in [0, train.steps={t.steps})",
        problems,
    )
    _check(
        0 < t.decay_fraction <= 1,
        f"train.decay_fraction={t.decay_fraction} must be in (0, 1]",
        problems,
    )
    _check(
        0 <= t.min_lr_ratio <= 1, f"train.min_lr_ratio={t.min_lr_ratio} must be in [0, 1]", problems
    )
    _check(t.grad_accum >= 1, f"train.grad_accum={t.grad_accum} must be ≥ 1", problems)
    init_from = "" if t.init_from.startswith("hf:") else t.init_from  # hf: is read by interop
    finetuning = t.mode in FINETUNE_MODES  # RUN alone means its latest checkpoint
    init_parser = functools.partial(parse_init_from, step_optional=finetuning)
    for parse, value in ((init_parser, init_from), (parse_mixture, d.mixture)):
        try:
            if value:
                parse(value)
        except ValueError as e:
            problems.append(str(e))
    _check(d.prepare_workers >= 0, "data.prepare_workers must be ≥ 0 (0: one per CPU)", problems)
    _check(bool(d.text_key), "data.text_key must name a JSONL field / Parquet column", problems)
    _check_finetune(c, problems)
    for section in ("eval", "checkpoint", "log"):
        every = c[section].every_steps
        _check(every > 0, f"{section}.every_steps={every} must be positive", problems)
    _check(c.checkpoint.keep >= 1, f"checkpoint.keep={c.checkpoint.keep} must be ≥ 1", problems)
    _check_profile_steps(c.log.profile_steps, t.steps, problems)
    _check_eval(c, problems)
    _check_batch(c, n_devices, problems)
    _check_machine(c, backend, memory_bytes, problems)
    if problems:
        raise ConfigError("invalid config: " + "; ".join(problems))


# Numeric keys and their domains (ends, low, high): every value must be finite and inside. Integer
# sizes and step counts are checked in validate(), next to the checks that use them.
DOMAINS = {
    "model.vocab_size": ("[)", 0, math.inf),  # 0: the tokenizer's vocab, rounded up
    "model.rope_theta": ("()", 0, math.inf),
    "model.norm_eps": ("()", 0, math.inf),
    "model.init_std": ("()", 0, math.inf),
    "data.val_fraction": ("()", 0, 1),
    "data.max_bytes": ("[)", 0, math.inf),
    "data.prefetch": ("[)", 0, math.inf),
    "train.lr": ("()", 0, math.inf),
    "train.beta1": ("[)", 0, 1),
    "train.beta2": ("[)", 0, 1),
    "train.eps": ("()", 0, math.inf),
    "train.weight_decay": ("[)", 0, math.inf),
    "train.grad_clip": ("[)", 0, math.inf),  # 0: off
    "train.z_loss": ("[)", 0, math.inf),
    "train.seed": ("[)", 0, 2**63),
}
_BPE_MIN_VOCAB = 262  # 256 byte pieces, 4 specials, the newline piece, and one more


def _check_domains(c, problems) -> None:
    for key, (ends, low, high) in DOMAINS.items():
        section, name = key.split(".")
        value = c[section][name]
        number = isinstance(value, int | float) and not isinstance(value, bool)
        ok = number and math.isfinite(value)
        ok = ok and (low <= value if ends[0] == "[" else low < value)
        ok = ok and (value <= high if ends[1] == "]" else value < high)
        if not ok:
            problems.append(
                f"{key}={value!r} must be a finite number in {ends[0]}{low}, {high}{ends[1]}"
            )


def _check_tokenizer_spec(spec: str, problems) -> None:
    """byte, bpe:<N ≥ 262>, or an existing .model file: known without reading any data."""
    if spec == "byte":
        return
    if spec.startswith("bpe:"):
        size = spec[4:]
        if not size.isdigit() or int(size) < _BPE_MIN_VOCAB:
            problems.append(
                f"data.tokenizer={spec!r}: write bpe:<vocab_size> with vocab_size ≥ "
                f"{_BPE_MIN_VOCAB} (256 bytes, 4 specials, newline, the text's characters), "
                "e.g. bpe:8192"
            )
    elif "://" not in spec and not os.path.isfile(spec):  # a URL is checked when it is read
        problems.append(
            f"data.tokenizer={spec!r} is not 'byte', 'bpe:<vocab_size>' or an existing "
            "SentencePiece .model file; check the path"
        )


def _check_machine(c, backend, memory_bytes, problems) -> None:
    """cuDNN attention needs a GPU; the embedding (and Adam's copies) must fit in memory."""
    m = c.model
    if m.attention == "cudnn" and backend not in (None, "gpu"):
        problems.append(
            f"model.attention='cudnn' needs a GPU but JAX runs on {backend}; use "
            "model.attention=xla, or auto (cuDNN where there is one)"
        )
    spec = c.data.tokenizer
    bpe = spec.startswith("bpe:") and spec[4:].isdigit()
    vocab = m.vocab_size or (int(spec[4:]) if bpe else 0)
    tables = 1 if m.tie_embeddings else 2
    itemsize = 2 if m.param_dtype == "bfloat16" else 4
    need = 4 * vocab * m.d_model * itemsize * tables  # parameters, gradients, 2 Adam moments
    if memory_bytes and need > memory_bytes:
        problems.append(
            f"the embedding of vocab {vocab} × model.d_model={m.d_model} needs "
            f"{need / 2**30:.1f} GiB to train (parameters, gradients, Adam moments) but the "
            f"devices have {memory_bytes / 2**30:.1f} GiB; use a smaller vocabulary "
            "(data.tokenizer, model.vocab_size) or more devices"
        )


def _check_profile_steps(window, steps: int, problems) -> None:
    if not window:
        return
    ok = len(window) == 2 and all(isinstance(x, int) for x in window)
    _check(
        ok and 0 <= window[0] < window[1] <= steps,
        f"log.profile_steps={tuple(window)!r} must be () or (start, stop) with "
        f"0 ≤ start < stop ≤ train.steps={steps}, e.g. (10, 13)",
        problems,
    )


def _check_batch(c, n_devices, problems):
    """The batch must split evenly over data-parallel replicas and then into micro-batches."""
    from llm_jax.sharding import logical_rules, mesh_shape  # local: sharding imports jax

    try:
        logical_rules(c.mesh)
        shape = mesh_shape(c.mesh, n_devices) if n_devices else None
    except ValueError as e:
        problems.append(str(e))
        return
    replicas = shape["data"] * shape["fsdp"] if shape else 1
    b = c.data.batch_size
    if b % replicas:
        problems.append(
            f"data.batch_size={b} is not divisible by the data-parallel size "
            f"mesh.data × mesh.fsdp = {replicas}; use a multiple of {replicas}"
        )
    elif c.train.grad_accum >= 1 and (b // replicas) % c.train.grad_accum:
        problems.append(
            f"train.grad_accum={c.train.grad_accum} must divide the per-replica batch "
            f"{b // replicas} (data.batch_size / data-parallel size)"
        )


def subset_batches(c) -> int:
    """Eval batches (the training batch's shape) in the log schedule's subset."""
    tokens = min(c.eval.subset_tokens, c.data.eval_tokens)
    return max(1, tokens // (c.data.batch_size * c.data.seq_len))


def subset_cost_fraction(c) -> float:
    """Upper bound of the log schedule's subset evals' FLOPs over the run's training FLOPs: each
    of ≤ log_points evals runs subset_batches forward passes, each 1/3 of a training step."""
    return c.eval.log_points * subset_batches(c) / (3 * c.train.steps)


def _check_eval(c, problems):
    e, bad = c.eval, []
    _check(e.log_points >= 1, f"eval.log_points={e.log_points} must be ≥ 1", bad)
    _check(e.subset_tokens > 0, f"eval.subset_tokens={e.subset_tokens} must be positive", bad)
    _check(0 < e.max_cost_fraction <= 1, "eval.max_cost_fraction must be in (0, 1]", bad)
    problems += bad
    if bad or e.schedule != "log" or c.train.steps <= 0:
        return
    cost, k = subset_cost_fraction(c), subset_batches(c)
    most = int(3 * e.max_cost_fraction * c.train.steps / k)
    _check(
        cost <= e.max_cost_fraction,
        f"eval.schedule='log': {e.log_points} evals of {k} batch(es) cost {cost:.1%} of the "
        f"run's {c.train.steps} training steps, over eval.max_cost_fraction="
        f"{e.max_cost_fraction}; "
        + (f"set eval.log_points ≤ {most}, " if most >= 1 else "")
        + "lower eval.subset_tokens, or train longer",
        problems,
    )


def _check_finetune(c, problems):
    t, d = c.train, c.data
    if t.mode not in FINETUNE_MODES:
        return
    _check(
        bool(t.init_from),
        f"train.mode={t.mode!r} starts from a trained model: set train.init_from "
        "(tools/finetune.py --init_from=RUN[:STEP])",
        problems,
    )
    _check(
        bool(d.examples),
        f"train.mode={t.mode!r} needs data.examples (tools/finetune.py --data=FILE.jsonl)",
        problems,
    )
    _check(t.dpo_beta > 0, f"train.dpo_beta={t.dpo_beta} must be positive", problems)
    _check(c.eval.generations >= 0, "eval.generations must be ≥ 0", problems)
    _check(
        c.eval.schedule == "every",
        f"eval.schedule={c.eval.schedule!r}: fine-tuning evaluates its held-out examples on "
        "the 'every' schedule (learning curves on a token subset are for pretraining)",
        problems,
    )


def _divisors(n: int) -> list[int]:
    return [k for k in range(1, n + 1) if n % k == 0]
