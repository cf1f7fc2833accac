"""Small corpora in every input format, configs, and store snapshots for the data tests."""

import gzip
import json
import os
import pathlib
import sys

from llm_jax.config import get_default_config

ROOT = pathlib.Path(__file__).resolve().parents[2]


def data_cfg(tmp_path, **overrides):
    cfg = get_default_config().data
    cfg.cache_dir = str(tmp_path / "cache")
    cfg.update(overrides)
    return cfg


def paragraph(i: int) -> str:
    return f"Paragraph {i}: " + "words and more words, ünïcödé 😀. " * (1 + i % 4)


def write_text(directory, n_files=6, per_file=40) -> str:
    """n_files .txt files of paragraphs; returns the glob."""
    directory = pathlib.Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    for f in range(n_files):
        text = "\n\n".join(paragraph(f * per_file + i) for i in range(per_file))
        (directory / f"part{f:02d}.txt").write_text(text + "\n")
    return str(directory / "*.txt")


def write_jsonl(path, texts, compress=False, extra=None) -> str:
    lines = "".join(json.dumps({"text": t, **(extra or {})}) + "\n" for t in texts).encode()
    path = pathlib.Path(path)
    path.write_bytes(gzip.compress(lines, mtime=0) if compress else lines)
    return str(path)


def write_parquet(path, texts, row_group_size=10, column="text") -> str:
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({column: texts, "n": list(range(len(texts)))}), path, row_group_size)
    return str(path)


def snapshot(directory) -> dict[str, bytes]:
    """Every file of a store, by relative path: stores compare bitwise."""
    root = pathlib.Path(directory)
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def subprocess_env(**extra) -> dict:
    """Child processes import this checkout's llm_jax, JAX-free and on one thread."""
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1", **extra)
    env.pop("XLA_FLAGS", None)
    return env


PYTHON = sys.executable
