"""Fine-tuning step costs: SFT with packing vs one example per row (tokens/s, the fraction of
non-pad tokens), and a DPO step against an SFT step of the same shapes, with the reference's
log-probs cached (llm_jax's choice) or computed in the step.

  python benchmarks/bench_finetune.py [--steps=20] [--d_model=256] [--n_layers=4] [--seq_len=256]

Synthetic chat examples whose lengths spread like instruction data (many short, a few long);
random parameters (step cost does not depend on them). Times are medians over --steps steps
after one compile step.
"""

import functools
import os
import platform
import random
import statistics
import time

import jax
import numpy as np
from absl import app, flags

from llm_jax.config import get_default_config
from llm_jax.data import ByteTokenizer
from llm_jax.data.chat import ChatTemplate, render
from llm_jax.data.packing import RowSet, pack_rows, to_rows
from llm_jax.finetune import losses
from llm_jax.finetune.preference import dpo_loss, dpo_objective
from llm_jax.finetune.sft import SupervisedFineTuning
from llm_jax.train.setup import InMesh, build
from llm_jax.train.state import init_state
from llm_jax.train.step import make_train_step

flags.DEFINE_integer("steps", 20, "Timed steps per variant")
flags.DEFINE_integer("d_model", 256, "Model width")
flags.DEFINE_integer("n_layers", 4, "Blocks")
flags.DEFINE_integer("seq_len", 256, "Tokens per row")
flags.DEFINE_integer("batch_size", 16, "Rows per step (SFT); DPO takes half as many pairs")
FLAGS = flags.FLAGS
TOK = ByteTokenizer()


def _config(batch_size):
    c = get_default_config()
    c.model.update(
        vocab_size=320, d_model=FLAGS.d_model, n_layers=FLAGS.n_layers, n_heads=4, n_kv_heads=4,
        d_ff=4 * FLAGS.d_model, max_seq_len=FLAGS.seq_len, mlp="gelu",
    )  # fmt: skip
    c.data.update(seq_len=FLAGS.seq_len, batch_size=batch_size)
    c.train.update(steps=1000, warmup_steps=0)
    return c


def _examples(n, seed=0):
    """Chat examples of 20 to seq_len tokens, lengths log-uniform (instruction-data-like)."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        total = int(np.exp(rng.uniform(np.log(20), np.log(FLAGS.seq_len - 2))))
        prompt_len = rng.randint(1, max(1, total // 2))
        text = "".join(rng.choice("abcdefghij ") for _ in range(total))
        chat = [{"role": "user", "content": text[:prompt_len]}]
        chat.append({"role": "assistant", "content": text[prompt_len:] or "x"})
        rendered = render(ChatTemplate(), TOK, chat)
        if len(rendered.ids) <= FLAGS.seq_len:
            out.append(rendered)
    return out


def _time_steps(step, state, batches):
    """Median seconds per step over the batches, after one compile step."""
    state, metrics = step(state, batches[0])
    jax.block_until_ready(metrics)
    times = []
    for batch in batches[1:]:
        start = time.perf_counter()
        state, metrics = step(state, batch)
        jax.block_until_ready(metrics)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _sft(examples, pack):
    config = _config(FLAGS.batch_size)
    layout = pack_rows([len(e.ids) for e in examples], FLAGS.seq_len, 0)
    layout = layout if pack else [[i] for i in range(len(examples))]
    rows = RowSet(to_rows(examples, layout, FLAGS.seq_len, TOK.pad_id), "bench")
    parts = build(config, objective=SupervisedFineTuning.objective)
    state = init_state(parts.model, parts.tx, FLAGS.seq_len, 0, parts.state_shardings)
    batches = [
        parts.global_batch(rows.batch_at(s, seed=0, batch_size=FLAGS.batch_size))
        for s in range(FLAGS.steps + 1)
    ]
    seconds = _time_steps(parts.train_step, state, batches)
    non_pad = float((rows.arrays["positions"] >= 0).mean())
    per_step = FLAGS.batch_size * FLAGS.seq_len
    return dict(
        seconds=seconds, non_pad=non_pad, tokens_per_s=per_step / seconds,
        real_tokens_per_s=per_step * non_pad / seconds,
        examples_per_s=len(examples) / len(layout) * FLAGS.batch_size / seconds,
    )  # fmt: skip


def _pairs(examples, n_pairs):
    one = [[i] for i in range(n_pairs)]
    chosen = to_rows(examples[:n_pairs], one, FLAGS.seq_len, TOK.pad_id)
    rejected = to_rows(examples[n_pairs : 2 * n_pairs], one, FLAGS.seq_len, TOK.pad_id)
    zeros = np.zeros(n_pairs, np.float32)
    arrays = dict(chosen=chosen, rejected=rejected, valid=zeros + 1)
    return RowSet(dict(arrays, ref_chosen=zeros, ref_rejected=zeros), "bench")


def _dpo(examples):
    """(cached reference step, reference-in-step step, cache seconds per pair)."""
    pairs = FLAGS.batch_size // 2  # 2 sequences each: the SFT step's shapes
    config = _config(pairs)
    parts = build(config, objective=dpo_objective(config.train))

    def fresh():  # a new state for each timing: the train steps donate theirs
        return init_state(parts.model, parts.tx, FLAGS.seq_len, 0, parts.state_shardings)

    rows = _pairs(examples, len(examples) // 2)
    batches = [
        parts.global_batch(rows.batch_at(s, seed=0, batch_size=pairs))
        for s in range(FLAGS.steps + 1)
    ]
    cached = _time_steps(parts.train_step, fresh(), batches)

    inner = make_train_step(parts.model, config.train, dpo_loss)
    logprobs = functools.partial(losses.sequence_logprobs, parts.model)

    def with_reference(state, reference, batch, schedule):
        ref = jax.lax.stop_gradient(logprobs(reference, batch))
        return inner(state, dict(batch, ref_chosen=ref[:, 0], ref_rejected=ref[:, 1]), schedule)

    reference = fresh().params  # the frozen second copy
    schedule = parts.train_step.bound[0]
    in_step = InMesh(jax.jit(with_reference, donate_argnums=0), parts.mesh, parts.rules, schedule)
    in_step_seconds = _time_steps(lambda s, b: in_step(s, reference, b), fresh(), batches)
    forward = InMesh(jax.jit(logprobs), parts.mesh, parts.rules)
    jax.block_until_ready(forward(reference, batches[0]))
    start = time.perf_counter()
    for batch in batches[1:]:
        jax.block_until_ready(forward(reference, batch))
    per_pair = (time.perf_counter() - start) / (len(batches[1:]) * pairs)
    return cached, in_step_seconds, per_pair


def main(argv):
    del argv
    examples = _examples(4000)
    load = os.getloadavg()
    print(f"{time.strftime('%Y-%m-%d')} {platform.processor() or platform.machine()} "
          f"{os.cpu_count()} cores, load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}, "
          f"jax {jax.__version__} {jax.devices()[0].platform}")  # fmt: skip
    print(f"d_model {FLAGS.d_model}, {FLAGS.n_layers} layers, seq_len {FLAGS.seq_len}, "
          f"batch {FLAGS.batch_size} rows; {len(examples)} examples, mean "
          f"{np.mean([len(e.ids) for e in examples]):.0f} tokens")  # fmt: skip
    rows = {pack: _sft(examples, pack) for pack in (True, False)}
    for pack, r in rows.items():
        print(f"SFT {'packed  ' if pack else 'unpacked'}: {r['seconds'] * 1e3:7.1f} ms/step, "
              f"non-pad {r['non_pad']:.1%}, {r['tokens_per_s']:7.0f} tokens/s, "
              f"{r['real_tokens_per_s']:7.0f} non-pad tokens/s, "
              f"{r['examples_per_s']:6.1f} examples/s")  # fmt: skip
    cached, in_step, per_pair = _dpo(examples)
    sft = rows[False]["seconds"]  # one example per row: the same shapes as the DPO rows
    print(f"DPO step, reference cached:  {cached * 1e3:7.1f} ms ({cached / sft:.2f}x SFT)")
    print(f"DPO step, reference in step: {in_step * 1e3:7.1f} ms ({in_step / sft:.2f}x SFT)")
    print(f"reference cache: {per_pair * 1e3:.2f} ms per pair, once per run")


if __name__ == "__main__":
    app.run(main)
