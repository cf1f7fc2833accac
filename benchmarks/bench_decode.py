"""Decoding speed: KV-cache decode vs recomputing the full forward per token; time to first token.

    .venv/bin/python benchmarks/bench_decode.py [--new_tokens=128] [--repeats=5]

Model: d256, 4 layers, 8 heads, d_ff 1024, vocab 4096, float32, batch 1 (a random init: speed
does not depend on the weights). Cached decode is `sampling.generate` (prefill + a jitted
while_loop): "decode" is n / (t(1 + n tokens) − t(1 token)), prefill excluded; "end to end" is
(1 + n) / t(1 + n), prefill included (a lower bound, robust to noise on a shared machine).
The baseline recomputes the whole window each step in a jitted fori_loop over a fixed-shape
buffer of context + n tokens (fixed, or it would recompile every step), greedy; its cost per
token does not depend on how many steps are timed, so it times 8. Compile time is excluded
(each is warmed up first; times are the best of --repeats). Time to first token =
generate(max_new_tokens=1) on a 512-token prompt, warm.
"""

import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np

from llm_jax import sampling
from llm_jax.config import get_default_config
from llm_jax.model import Transformer

GREEDY = sampling.Sampler(temperature=0.0)


def model_cfg(max_seq_len: int):
    cfg = get_default_config().model
    cfg.update(vocab_size=4096, d_model=256, n_layers=4, n_heads=8, n_kv_heads=8, d_ff=1024)
    cfg.update(max_seq_len=max_seq_len)
    return cfg


def random_params(cfg):
    """Params of the right shapes from numpy (compiling init costs more than the benchmark)."""
    shapes = jax.eval_shape(Transformer(cfg).init, jax.random.key(0), jnp.zeros((1, 1), jnp.int32))
    rng = np.random.default_rng(0)
    boxed = shapes["params"]
    unboxed = jax.tree.map(lambda x: x.value if hasattr(x, "names") else x, boxed,
                           is_leaf=lambda x: hasattr(x, "names"))  # fmt: skip
    return jax.tree.map(lambda s: jnp.asarray(rng.normal(0, 0.02, s.shape), s.dtype), unboxed)


def best_time(fn, repeats: int) -> float:
    """Fastest of `repeats` warm runs (the first, compiling, call is not timed)."""
    jax.block_until_ready(fn())
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn())
        times.append(time.perf_counter() - start)
    return min(times)


def cached_rates(cfg, params, prompt, n_new: int, repeats: int) -> tuple[float, float]:
    """Tokens/s with the KV cache: (decode only, end to end with the prefill)."""

    def run(n):
        return lambda: sampling.generate(cfg, params, [prompt], max_new_tokens=n, sampler=GREEDY)

    t_all, t_first = best_time(run(1 + n_new), repeats), best_time(run(1), repeats)
    return n_new / (t_all - t_first), (1 + n_new) / t_all


def recompute_rate(cfg, params, prompt, n_new: int, repeats: int, timed: int = 8) -> float:
    """Greedy tokens/s when every step runs the full forward over the whole window."""
    model = Transformer(cfg)
    window = len(prompt) + n_new

    @jax.jit
    def decode(params, buffer_L):
        def step(i, buf_L):
            logits_1LV = model.apply({"params": params}, buf_L[None])
            return buf_L.at[i].set(jnp.argmax(logits_1LV[0, i - 1]).astype(jnp.int32))

        return jax.lax.fori_loop(len(prompt), len(prompt) + timed, step, buffer_L)

    buffer_L = jnp.zeros((window,), jnp.int32).at[: len(prompt)].set(jnp.asarray(prompt))
    return timed / best_time(lambda: decode(params, buffer_L), repeats)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--new_tokens", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    rng = np.random.default_rng(1)
    print("| context | KV cache, decode | KV cache, end to end | full recompute | speed-up |")
    print("|---|---|---|---|---|")
    for context in (256, 1024):
        cfg = model_cfg(context + args.new_tokens + 1)
        params = random_params(cfg)
        prompt = rng.integers(0, cfg.vocab_size, context).tolist()
        decode, end_to_end = cached_rates(cfg, params, prompt, args.new_tokens, args.repeats)
        full = recompute_rate(cfg, params, prompt, args.new_tokens, min(args.repeats, 3))
        speedup = f"{decode / full:.0f}× ({end_to_end / full:.0f}× end to end)"
        print(
            f"| {context} | {decode:.0f} | {end_to_end:.0f} | {full:.1f} | {speedup} |", flush=True
        )
    cfg = model_cfg(1024)
    params, prompt = random_params(cfg), rng.integers(0, cfg.vocab_size, 512).tolist()
    first = lambda: sampling.generate(cfg, params, [prompt], max_new_tokens=1, sampler=GREEDY)
    start = time.perf_counter()
    first()
    compiled = time.perf_counter() - start
    print(f"\ntime to first token, 512-token prompt: {best_time(first, args.repeats) * 1e3:.0f} ms "
          f"warm ({compiled:.1f} s on the first, compiling, call)")  # fmt: skip


if __name__ == "__main__":
    main()
