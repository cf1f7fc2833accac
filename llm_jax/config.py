"""The one config tree: every key declared once with a default and a comment, and its validation."""

from __future__ import annotations

import functools
import math
import os

import ml_collections

from llm_jax.errors import UserError

# Small string enums (docs/design.md §3.6): the single place their allowed values are listed.
ENUMS = {
    "model.pos_encoding": ("rope", "sinusoidal", "learned", "none"),
    "model.norm": ("rmsnorm", "layernorm"),
    "model.mlp": ("swiglu", "gelu"),
    "model.remat": ("none", "full", "dots_saveable"),
    "model.attention": ("xla", "cudnn", "auto"),
    "model.dtype": ("float32", "bfloat16", "float16"),
    "model.param_dtype": ("float32", "bfloat16"),
    "train.schedule": ("cosine", "wsd", "linear", "constant"),
    "train.decay_shape": ("linear", "sqrt"),
    "data.bad_records": ("fail", "skip"),
    "data.verify": ("size", "checksum"),
    "eval.schedule": ("every", "log"),
    "train.mode": ("pretrain", "sft", "reward", "dpo"),
    "train.dpo_loss": ("sigmoid", "ipo"),
    "data.too_long": ("truncate", "skip"),
}
FINETUNE_MODES = ("sft", "reward", "dpo")


def get_default_config() -> ml_collections.ConfigDict:
    """Every key with its default. Presets in configs/ start from this and override."""
    c = ml_collections.ConfigDict()

    c.model = m = ml_collections.ConfigDict()
    m.vocab_size = 0  # 0: the tokenizer's vocab rounded up to a multiple of 64; else ≥ tokenizer's
    m.d_model = 128  # residual stream width D
    m.n_layers = 2  # number of transformer blocks
    m.n_heads = 4  # query heads H; must divide d_model
    m.n_kv_heads = 4  # key/value heads G: = n_heads is MHA, 1 is MQA, between is GQA
    m.d_ff = 512  # MLP hidden width F
    m.max_seq_len = 256  # longest sequence the positional encoding supports
    m.pos_encoding = "rope"  # rope | sinusoidal | learned | none
    m.rope_theta = 10_000.0  # RoPE base frequency
    m.norm = "rmsnorm"  # rmsnorm | layernorm
    m.norm_eps = 1e-6  # epsilon inside the norms
    m.mlp = "swiglu"  # swiglu | gelu
    m.tie_embeddings = True  # share the input embedding with the output head
    m.init_std = 0.02  # std of the normal init of embeddings and kernels
    m.dtype = "float32"  # activation / matmul compute dtype
    m.param_dtype = "float32"  # dtype parameters are stored (and optimised) in
    m.remat = "none"  # activation rematerialisation per block: none | full | dots_saveable
    m.scan_layers = True  # nn.scan over blocks, so compile time does not grow with depth
    # Layers per scan iteration (params stay stacked): 0 = by backend, all of them on CPU (faster
    # there), 1 on GPU/TPU (compile time flat in depth); n forces n.
    m.scan_unroll = 0
    m.attention = "xla"  # xla (einsum reference) | cudnn | auto (jax.nn.dot_product_attention)
    # attention=xla computes the causal scores in blocks of this many queries, skipping the blocks
    # above the diagonal: 0 = by backend (64 on CPU, none on GPU/TPU); ≥ seq_len: one block.
    m.attention_block = 0

    c.data = d = ml_collections.ConfigDict()
    # stdlib | site-packages (this interpreter's .py files) | a prepared store directory
    # (tools/prepare_data.py --out=DIR) | a .txt/.txt.gz/.jsonl/.jsonl.gz/.parquet file or glob,
    # local or remote (gs://...); raw corpora are prepared into data.cache_dir on first use
    d.corpus = "stdlib"
    d.tokenizer = "byte"  # byte | path/to/tokenizer.model | bpe:<vocab_size>
    d.seq_len = 128  # tokens per training sequence
    d.batch_size = 16  # global batch size in sequences (per optimizer step)
    d.eval_tokens = 65_536  # held-out tokens in the fixed eval set
    d.val_fraction = 0.01  # fraction of documents held out for validation
    d.max_bytes = 0  # cap on raw corpus bytes read (0: no cap); for quick experiments
    d.cache_dir = ""  # token/tokenizer cache ("" : $LLM_JAX_CACHE or ~/.cache/llm_jax)
    d.prefetch = 2  # batches prepared ahead by a background thread
    d.text_key = "text"  # the JSONL field / Parquet column that holds each document's text
    d.bad_records = "fail"  # malformed JSON line / record without text: fail | skip (counted)
    # "NAME:WEIGHT:CORPUS,...": several sources (stores or corpus specs), each step's rows drawn
    # by weight; eval reports each source. Replaces data.corpus when set ("": data.corpus alone)
    d.mixture = ""
    d.repeat = True  # a source that runs out is read again (epochs logged); False: refuse
    d.verify = "size"  # store check at start: size (each shard's) | checksum (sha256: reads all)
    d.prepare_workers = 1  # processes tokenizing a raw corpus on first use (0: one per CPU)
    # Fine-tuning (train.mode sft | reward | dpo): JSONL examples, local or a URL (fsspec).
    # sft: {"prompt", "response"} or {"messages": [{"role", "content"}, ...]} per line;
    # reward, dpo: {"prompt", "chosen", "rejected"}. An optional "answer" (sft) is checked
    # against greedy completions of held-out prompts (eval exact_match).
    d.examples = ""
    d.eval_examples = ""  # held-out examples ("": hold out data.val_fraction of data.examples)
    d.pack = True  # sft: pack several examples per sequence (segment ids keep them apart)
    d.too_long = "truncate"  # example > seq_len: truncate | skip; truncate cuts the prompt's left

    c.train = t = ml_collections.ConfigDict()
    t.steps = 100  # optimizer steps
    t.lr = 3e-3  # peak learning rate
    t.min_lr_ratio = 0.1  # final lr as a fraction of the peak (cosine, wsd, linear)
    t.warmup_steps = 10  # linear warmup steps; must be < steps
    t.schedule = "cosine"  # cosine | wsd | linear | constant
    t.decay_fraction = 0.2  # wsd: fraction of steps spent in the cooldown
    t.decay_shape = "sqrt"  # wsd cooldown shape: linear | sqrt (1 - sqrt)
    t.weight_decay = 0.1  # decoupled AdamW weight decay (kernels only, not norms/biases/embed)
    t.decay_embeddings = False  # also decay the embedding table
    t.beta1 = 0.9  # Adam β1
    t.beta2 = 0.95  # Adam β2
    t.eps = 1e-8  # Adam ε
    t.grad_clip = 1.0  # global-norm gradient clipping (0: off)
    t.grad_accum = 1  # micro-batches per step; must divide the per-replica batch
    t.z_loss = 0.0  # coefficient of the log(Z)^2 auxiliary loss (PaLM uses 1e-4)
    t.seed = 0  # seeds init and data order
    # "" or "WORKDIR:STEP": start this (new) run from another run's full state at that step,
    # so a WSD cooldown branch is exactly a continuation of its trunk. Ignored once this
    # workdir has its own checkpoint (a half-finished branch resumes from that).
    # "hf:DIR": start from a Hugging Face Llama model (its params, model keys and tokenizer).
    # Fine-tuning modes take "WORKDIR[:STEP]" (default: its latest checkpoint) and start from
    # its parameters alone, at step 0 with a fresh optimizer.
    t.init_from = ""
    t.mode = "pretrain"  # pretrain | sft | reward | dpo (the last three: tools/finetune.py)
    t.dpo_beta = 0.1  # dpo: β, the strength of the KL tie to the reference (the init model)
    t.dpo_loss = "sigmoid"  # dpo: sigmoid (Rafailov et al. 2023) | ipo (Azar et al. 2023)

    c.eval = e = ml_collections.ConfigDict()
    # every: the full eval set every every_steps steps and at the end. log: a learning curve on a
    # fixed subset of it at log_points log-spaced steps (warmup end … last step; an eval batch
    # costs 1/3 of a training step), and the full set once, at the end (train/eval_schedule.py).
    e.schedule = "every"
    e.every_steps = 50  # schedule every: evaluate the held-out set every N steps (and at the end)
    e.log_points = 12  # schedule log: subset evaluations per run, the last step included
    e.subset_tokens = 4096  # schedule log: subset size, rounded down to whole eval batches (≥ 1)
    e.max_cost_fraction = 0.05  # schedule log: subset evals' FLOPs ≤ this × the training FLOPs
    e.generations = 256  # sft with "answer"s: held-out prompts completed greedily (0: off)

    c.checkpoint = ml_collections.ConfigDict()
    c.checkpoint.every_steps = 50  # save every N steps (and at the end)
    c.checkpoint.keep = 2  # how many recent checkpoints to keep

    c.log = ml_collections.ConfigDict()
    c.log.every_steps = 10  # write train metrics every N steps
    # (start, stop): a jax.profiler trace of the steps with index in [start, stop) (index = steps
    # done before it), into DIR/tensorboard for TensorBoard's profile plugin; () is off.
    c.log.profile_steps = ()

    c.mesh = ms = ml_collections.ConfigDict()
    ms.data = -1  # data-parallel axis size (-1: all devices left over)
    ms.fsdp = 1  # fully-sharded data-parallel axis size
    ms.tensor = 1  # tensor (Megatron) parallel axis size
    # Logical axis → mesh axes (comma-separated, "" = replicated). The MLP's two kernels get
    # (embed, mlp) and (mlp, embed): the Megatron layout, exact on XLA CPU (docs/design.md §4).
    ms.rules = r = ml_collections.ConfigDict()
    r.batch = "data,fsdp"  # batch dimension of activations
    r.embed = "fsdp"  # d_model dimension of parameters
    r.mlp = "tensor"  # MLP hidden dimension
    r.heads = "tensor"  # query heads
    r.kv_heads = "tensor"  # key/value heads
    r.head_dim = ""  # per-head dimension
    r.vocab = "tensor"  # vocabulary dimension
    r.layers = ""  # stacked-layer dimension under scan
    r.length = ""  # sequence dimension of activations
    r.act_embed = ""  # d_model dimension of activations
    return c


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
    _check(m.scan_unroll >= 0, f"model.scan_unroll={m.scan_unroll} must be ≥ 0 (0: auto)", problems)
    _check(
        m.attention_block >= 0,
        f"model.attention_block={m.attention_block} must be ≥ 0 (0: auto)",
        problems,
    )
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


def parse_init_from(value: str, step_optional: bool = False) -> tuple[str, int | None]:
    """'WORKDIR:STEP' → (WORKDIR, STEP); the last colon splits, so gs:// paths work.

    With step_optional (fine-tuning), 'WORKDIR' alone gives (WORKDIR, None): its latest step.
    """
    workdir, sep, step = value.rpartition(":")
    if step_optional and not (sep and workdir and step.isdigit()):
        return value, None
    if not sep or not workdir or not step.isdigit():
        raise ValueError(
            f"train.init_from={value!r} must be 'WORKDIR:STEP' (e.g. runs/trunk:1200), "
            "'hf:DIR' (a Hugging Face model directory), or ''"
        )
    return workdir, int(step)


def parse_mixture(value: str) -> list[tuple[str, float, str]]:
    """'NAME:WEIGHT:CORPUS,...' → [(name, weight, corpus)]; weights > 0, names unique."""
    sources, problems = [], []
    for entry in value.split(","):
        name, weight, corpus = (entry.strip().split(":", 2) + ["", ""])[:3]
        try:
            w = float(weight)
        except ValueError:
            w = float("nan")
        if not (name.replace("_", "").replace("-", "").isalnum() and corpus):
            problems.append(
                f"entry {entry.strip()!r} is not NAME:WEIGHT:CORPUS (NAME: [A-Za-z0-9_-])"
            )
        elif not w > 0 or w == float("inf"):
            problems.append(f"source {name!r} has weight {weight!r}; weights must be > 0")
        elif name in (s[0] for s in sources):
            problems.append(f"source {name!r} appears twice")
        else:
            sources.append((name, w, corpus))
    if problems:
        raise ValueError(
            f"data.mixture={value!r}: " + "; ".join(problems) + ". Write e.g. "
            "'code:0.3:stdlib,web:0.7:/data/web_store' (drop a source rather than weighting it 0)"
        )
    return sources


def _divisors(n: int) -> list[int]:
    return [k for k in range(1, n + 1) if n % k == 0]
