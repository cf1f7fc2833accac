"""The one config tree: every key declared once with a default and a comment, and its validation."""

from __future__ import annotations

import ml_collections

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
}


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
    m.attention = "xla"  # xla (einsum reference) | cudnn | auto (jax.nn.dot_product_attention)

    c.data = d = ml_collections.ConfigDict()
    # stdlib | site-packages (this interpreter's .py files) | text file/glob | .jsonl file
    d.corpus = "stdlib"
    d.tokenizer = "byte"  # byte | path/to/tokenizer.model | bpe:<vocab_size>
    d.seq_len = 128  # tokens per training sequence
    d.batch_size = 16  # global batch size in sequences (per optimizer step)
    d.eval_tokens = 65_536  # held-out tokens in the fixed eval set
    d.val_fraction = 0.01  # fraction of documents held out for validation
    d.max_bytes = 0  # cap on corpus bytes read (0: no cap); for quick experiments
    d.cache_dir = ""  # token/tokenizer cache ("" : $LLM_JAX_CACHE or ~/.cache/llm_jax)
    d.prefetch = 2  # batches prepared ahead by a background thread

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
    t.init_from = ""

    c.eval = ml_collections.ConfigDict()
    c.eval.every_steps = 50  # evaluate on the held-out set every N steps (and at the end)

    c.checkpoint = ml_collections.ConfigDict()
    c.checkpoint.every_steps = 50  # save every N steps (and at the end)
    c.checkpoint.keep = 2  # how many recent checkpoints to keep

    c.log = ml_collections.ConfigDict()
    c.log.every_steps = 10  # write train metrics every N steps
    c.log.name = ""  # trial name in TensorBoard's HParams table and W&B ("": the workdir's name)
    c.log.study = ""  # the study a sweep run belongs to (an hparam; the W&B group)
    c.log.role = ""  # a sweep run's role: main | seed | lr | trunk (an hparam)
    c.log.budget = 0.0  # a sweep run's design FLOP budget (an hparam; 0: none)
    c.log.wandb_project = ""  # "": off; else also log to this W&B project (the [wandb] extra)

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


class ConfigError(ValueError):
    """A config that cannot run; the message names the fields and the fix."""


def _check(ok: bool, message: str, problems: list[str]) -> None:
    if not ok:
        problems.append(message)


def validate(c: ml_collections.ConfigDict, *, n_devices: int | None = None, tokenizer_vocab=None):
    """Reject a config that cannot run, before anything is compiled. Collects every problem."""
    problems: list[str] = []
    for key, allowed in ENUMS.items():
        section, name = key.split(".")
        value = c[section][name]
        _check(value in allowed, f"{key}={value!r} is not one of {allowed}", problems)
    m, d, t = c.model, c.data, c.train
    for key in ("d_model", "n_layers", "n_heads", "n_kv_heads", "d_ff", "max_seq_len"):
        _check(m[key] > 0, f"model.{key}={m[key]} must be positive", problems)
    for key in ("seq_len", "batch_size", "eval_tokens"):
        _check(d[key] > 0, f"data.{key}={d[key]} must be positive", problems)
    if problems:  # the checks below divide by these
        raise ConfigError("invalid config:\n  " + "\n  ".join(problems))
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
    _check(0 < t.decay_fraction <= 1, "train.decay_fraction must be in (0, 1]", problems)
    _check(0 <= t.min_lr_ratio <= 1, "train.min_lr_ratio must be in [0, 1]", problems)
    _check(t.grad_accum >= 1, "train.grad_accum must be ≥ 1", problems)
    if t.init_from:
        try:
            parse_init_from(t.init_from)
        except ValueError as e:
            problems.append(str(e))
    for section in ("eval", "checkpoint", "log"):
        _check(c[section].every_steps > 0, f"{section}.every_steps must be positive", problems)
    _check(c.checkpoint.keep >= 1, "checkpoint.keep must be ≥ 1", problems)
    _check_batch(c, n_devices, problems)
    if problems:
        raise ConfigError("invalid config:\n  " + "\n  ".join(problems))


def _check_batch(c, n_devices, problems):
    """The batch must split evenly over data-parallel replicas and then into micro-batches."""
    from llm_jax.sharding import mesh_shape  # local: sharding imports jax, config must not

    try:
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
    elif (b // replicas) % c.train.grad_accum:
        problems.append(
            f"train.grad_accum={c.train.grad_accum} must divide the per-replica batch "
            f"{b // replicas} (data.batch_size / data-parallel size)"
        )


def parse_init_from(value: str) -> tuple[str, int]:
    """'WORKDIR:STEP' → (WORKDIR, STEP); the last colon splits, so gs:// paths work."""
    workdir, sep, step = value.rpartition(":")
    if not sep or not workdir or not step.isdigit():
        raise ValueError(
            f"train.init_from={value!r} must be 'WORKDIR:STEP' (e.g. runs/trunk:1200), or ''"
        )
    return workdir, int(step)


def _divisors(n: int) -> list[int]:
    return [k for k in range(1, n + 1) if n % k == 0]
