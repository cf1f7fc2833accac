"""Data-loader throughput: tokens/s that BatchIterator delivers, against training consumption.

    .venv/bin/python benchmarks/bench_loader.py [--cache_dir=DIR] [--seconds=3]

Tokens are the built-in stdlib corpus, byte-tokenized (~31M tokens, memory-mapped uint16; the
first run tokenizes it, ~1 s). The consumer takes each batch and does nothing else, so the
number is the loader's ceiling. A d256/4-layer model trains at ~3.5k tokens/s on the 2-core
CPU (docs/design.md §4), so the loader must deliver ≥ 35k tokens/s (10×).
"""

import argparse
import time

from llm_jax.config import get_default_config
from llm_jax.data import BatchIterator, batch_at, prepare_data

TRAIN_TOKENS_PER_S = 3_500  # docs/design.md §4: d256/4-layer/seq256/batch16 float32 on this CPU
SHAPES = [(16, 256), (64, 1024)]  # (batch, seq_len): the d256 training shape and a bigger one


def rate(make_batches, tokens_per_batch: int, seconds: float) -> float:
    """Tokens per second over at least `seconds` of pulling batches."""
    n, start = 0, time.perf_counter()
    for _ in make_batches():
        n += 1
        if time.perf_counter() - start >= seconds:
            break
    return n * tokens_per_batch / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache_dir", default="", help="token cache ('' = the default cache)")
    parser.add_argument("--seconds", type=float, default=3.0, help="time per measurement")
    args = parser.parse_args()
    cfg = get_default_config().data
    cfg.cache_dir = args.cache_dir
    tokens = prepare_data(cfg).train
    print(f"tokens: {len(tokens):,} ({tokens.dtype}); need ≥ {10 * TRAIN_TOKENS_PER_S:,} tokens/s")
    print("| batch × seq | prefetch thread (tokens/s) | batch_at inline (tokens/s) | × 3.5k/s |")
    print("|---|---|---|---|")
    for batch_size, seq_len in SHAPES:
        kw = dict(seed=0, batch_size=batch_size, seq_len=seq_len)
        with BatchIterator(tokens, **kw, prefetch=cfg.prefetch) as it:
            threaded = rate(lambda it=it: it.iterate(1000), batch_size * seq_len, args.seconds)
        inline = rate(
            lambda kw=kw: (batch_at(tokens, s, **kw) for s in range(10**9)),
            batch_size * seq_len,
            args.seconds,
        )
        ratio = threaded / TRAIN_TOKENS_PER_S
        print(f"| {batch_size} × {seq_len} | {threaded:,.0f} | {inline:,.0f} | {ratio:,.0f}× |")


if __name__ == "__main__":
    main()
