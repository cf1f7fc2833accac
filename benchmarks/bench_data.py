"""Data at scale: prepare throughput and peak RSS, training start-up, loader tokens/s from a store.

    .venv/bin/python benchmarks/bench_data.py [--dir=/tmp/llm_jax_bench_data] [--gb=2] \
        [--bpe_mb=200]

Generates synthetic JSONL corpora in --dir (every stdlib .py file as a document, salted with a
copy number so no document repeats): --gb GB, one 10× smaller, and 20 MB. Each preparation runs
in its own process (peak RSS from getrusage: the main process and its largest worker). bpe:32768
is a model trained on a 16 MB sample (train_bpe), prepared from --bpe_mb MB of the corpus (on a
shared 2-core machine BPE encodes at ~1-3 MB/s per core: 2 GB would take half an hour). Start-up
is open_training_data (manifest, size check, tokenizer) plus the first batch. Everything written
is deleted at the end.
"""

import argparse
import json
import math
import os
import pathlib
import shutil
import statistics
import subprocess
import sys
import time

import fsspec

from llm_jax.config import get_default_config
from llm_jax.data import BatchIterator, Store, load_corpus
from llm_jax.data.dataset import open_training_data
from llm_jax.data.tokenizer import bpe_sample, read_options, train_bpe

ROOT = pathlib.Path(__file__).resolve().parents[1]
FILE_MB = 100  # corpus files of this size: > one 64 MB unit, so each is read as byte ranges

# Peak RSS is sampled from /proc every 20 ms for the process and its workers (getrusage's
# ru_maxrss carries the forking parent's peak across exec, so it would not measure this).
CHILD = """
import json, os, sys, threading, time
from llm_jax.config import get_default_config
from llm_jax.data.prepare import prepare_store

def rss(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            return next(int(l.split()[1]) for l in f if l.startswith("VmRSS")) / 1024
    except (OSError, StopIteration):
        return 0.0

def workers():
    with open(f"/proc/{os.getpid()}/task/{os.getpid()}/children") as f:
        return [int(p) for p in f.read().split()]

peak = {"main": 0.0, "worker": 0.0, "total": 0.0}
done = threading.Event()

def sample():
    while not done.wait(0.02):
        main, kids = rss(os.getpid()), [rss(p) for p in workers()]
        peak["main"] = max(peak["main"], main)
        peak["worker"] = max([peak["worker"], *kids])
        peak["total"] = max(peak["total"], main + sum(kids))

threading.Thread(target=sample, daemon=True).start()
cfg = get_default_config().data
cfg.corpus, cfg.tokenizer = sys.argv[1], sys.argv[2]
start = time.perf_counter()
manifest = prepare_store(cfg, sys.argv[3], workers=int(sys.argv[4]))
wall = time.perf_counter() - start
done.set()
tokens = sum(manifest["splits"][s]["tokens"] for s in ("train", "val"))
print(json.dumps(dict(wall=wall, tokens=tokens, **{f"rss_{k}": v for k, v in peak.items()})))
"""


def write_corpus(directory: pathlib.Path, megabytes: int, documents: list[str]) -> str:
    """JSONL files of FILE_MB MB (the last one smaller) totalling `megabytes`; returns the glob."""
    directory.mkdir(parents=True, exist_ok=True)
    escaped = [json.dumps(d)[1:-1] for d in documents]
    lines = (f'{{"text": "# copy {copy}\\n{text}"}}\n' for copy in range(10**9) for text in escaped)
    left = megabytes * 10**6
    for index in range(math.ceil(megabytes / FILE_MB)):
        with open(directory / f"part{index:03d}.jsonl", "w") as f:
            size = 0
            while size < min(left, FILE_MB * 10**6):
                size += f.write(next(lines))
        left -= size
    return str(directory / "*.jsonl")


def prepare(corpus: str, tokenizer: str, out: pathlib.Path, workers: int) -> dict:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    command = [sys.executable, "-c", CHILD, corpus, tokenizer, str(out), str(workers)]
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    if result.returncode:
        raise SystemExit(result.stderr[-3000:])
    row = json.loads(result.stdout.strip().splitlines()[-1])
    size = sum(p.stat().st_size for p in pathlib.Path(corpus).parent.glob("*.jsonl"))
    return row | {"mb": size / 1e6, "mb_s": size / 1e6 / row["wall"]}


def startup(store: str) -> tuple[float, float]:
    """Median seconds: open_training_data on the store, then its first batch."""
    cfg = get_default_config().data
    cfg.update(corpus=store, seq_len=1024, batch_size=64)
    opens, firsts = [], []
    for _ in range(5):
        start = time.perf_counter()
        data = open_training_data(cfg, steps=1000, seed=0)
        opened = time.perf_counter()
        with data.batch_iterator() as it:
            next(it.iterate(0))
        opens.append(opened - start)
        firsts.append(time.perf_counter() - opened)
    return statistics.median(opens), statistics.median(firsts)


def loader_rate(tokens, batch_size: int, seq_len: int, seconds: float = 3.0) -> float:
    """Tokens/s that BatchIterator (prefetch 2) delivers from a store split."""
    with BatchIterator(tokens, seed=0, batch_size=batch_size, seq_len=seq_len, prefetch=2) as it:
        n, start = 0, time.perf_counter()
        for _ in it.iterate(100):
            n += 1
            if time.perf_counter() - start >= seconds:
                break
        return n * batch_size * seq_len / (time.perf_counter() - start)


def table(*header: str) -> None:
    print("\n| " + " | ".join(header) + " |\n|" + "---|" * len(header), flush=True)


def row(*cells) -> None:
    print("| " + " | ".join(str(c) for c in cells) + " |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", default="/tmp/llm_jax_bench_data")
    parser.add_argument("--gb", type=float, default=2.0, help="size of the large corpus")
    parser.add_argument("--bpe_mb", type=int, default=200, help="corpus MB prepared with bpe")
    parser.add_argument("--reads_only", action="store_true", help="skip the prepare table")
    args = parser.parse_args()
    root = pathlib.Path(args.dir)
    shutil.rmtree(root, ignore_errors=True)
    print(f"load average {os.getloadavg()}, {os.cpu_count()} CPUs", flush=True)
    try:
        run(root, int(args.gb * 1000), args.bpe_mb, args.reads_only)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(f"load average {os.getloadavg()}")


def run(root: pathlib.Path, big_mb: int, bpe_mb: int, reads_only: bool) -> None:
    documents = load_corpus("stdlib").documents
    sizes = sorted({20, big_mb} if reads_only else {20, big_mb // 10, big_mb, bpe_mb})
    corpora = {mb: write_corpus(root / f"c{mb}", mb, documents) for mb in sizes}
    small, big = root / "store-20", root / f"store-{big_mb}-2-byte"
    if reads_only:
        prepare(corpora[big_mb], "byte", big, 2)
    else:
        prepare_table(root, corpora, big_mb, bpe_mb)
    prepare(corpora[20], "byte", small, 1)
    read_tables(small, big)


def prepare_table(root: pathlib.Path, corpora: dict, big_mb: int, bpe_mb: int) -> None:
    cfg = get_default_config().data
    cfg.corpus = corpora[bpe_mb]
    bpe_model = root / "bpe32768.model"
    bpe_model.write_bytes(train_bpe(*bpe_sample(cfg.corpus, read_options(cfg)), 32768).proto)
    table("corpus", "tokenizer", "workers", "MB/s", "wall s", "peak RSS MB: main / worker / all")
    for mb, tokenizer in ((big_mb // 10, "byte"), (big_mb, "byte"), (bpe_mb, str(bpe_model))):
        for workers in (1, 2):
            out = root / f"store-{mb}-{workers}-{pathlib.Path(tokenizer).stem}"
            r = prepare(corpora[mb], tokenizer, out, workers)
            name = "byte" if tokenizer == "byte" else "bpe:32768"
            rss = f"{r['rss_main']:.0f} / {r['rss_worker']:.0f} / {r['rss_total']:.0f}"
            row(f"{r['mb']:.0f} MB", name, workers, f"{r['mb_s']:.1f}", f"{r['wall']:.0f}", rss)
            if (mb, workers, tokenizer) != (big_mb, 2, "byte"):
                shutil.rmtree(out)


def read_tables(small: pathlib.Path, big: pathlib.Path) -> None:
    table("store", "train tokens", "open_training_data (s)", "first batch 64 × 1024 (s)")
    for store in (small, big):
        opened, first = startup(str(store))
        tokens = len(Store(str(store)).split("train"))
        row(store.name, f"{tokens / 1e6:.0f}M", f"{opened:.3f}", f"{first:.3f}")
    memory = fsspec.filesystem("memory")
    memory.put(str(small), "/bench-store", recursive=True)
    table("store", "read path", "page cache", "batch × seq", "tokens/s (prefetch 2)")
    for name, url, path in (
        (big.name, str(big), "np.memmap"),
        ("store-20 in memory://", "memory://bench-store", "fsspec cat_ranges"),
    ):
        for cache in ("cold", "warm") if url == str(big) else ("-",):
            for batch_size, seq_len in ((16, 256), (64, 1024)):
                page_cache(big, keep=cache == "warm")
                rate = loader_rate(Store(url).split("train"), batch_size, seq_len)
                row(name, path, cache, f"{batch_size} × {seq_len}", f"{rate / 1e6:.1f}M")
    memory.rm("/bench-store", recursive=True)


def page_cache(store: pathlib.Path, keep: bool) -> None:
    """Evict the store's shards from the page cache (cold: every window is a disk read), or
    read them all once (warm: windows are memory reads)."""
    os.sync()  # the store was just written: evicting dirty pages would measure the writeback
    for shard in (store / "shards").glob("*.bin"):
        with open(shard, "rb") as f:
            if keep:
                while f.read(1 << 24):
                    pass
            else:
                os.posix_fadvise(f.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)


if __name__ == "__main__":
    main()
