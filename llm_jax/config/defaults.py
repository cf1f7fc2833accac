"""The one config tree: every key declared once, with its default and a comment."""

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
    c.log.name = ""  # trial name in TensorBoard's HParams table and W&B ("": the workdir's name)
    c.log.study = ""  # the study a sweep run belongs to (an hparam; the W&B group)
    c.log.role = ""  # a sweep run's role: main | seed | lr | trunk (an hparam)
    c.log.budget = 0.0  # a sweep run's design FLOP budget (an hparam; 0: none)
    c.log.wandb_project = ""  # "": off; else also log to this W&B project (the [wandb] extra)
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
