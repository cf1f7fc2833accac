"""Run tools/train.py as a user would, on a tiny byte-level config."""

import json
import os
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]

TINY = [
    "--config=configs/smoke.py",
    "--config.model.d_model=32",
    "--config.model.d_ff=64",
    "--config.model.n_heads=2",
    "--config.model.n_kv_heads=1",
    "--config.data.seq_len=32",
    "--config.model.max_seq_len=32",
    "--config.data.max_bytes=200000",
    "--config.data.eval_tokens=1024",
]


def train_command(workdir, cache_dir, *overrides):
    return [
        sys.executable,
        "tools/train.py",
        *TINY,
        f"--workdir={workdir}",
        f"--config.data.cache_dir={cache_dir}",
        *overrides,
    ]


def run_train(workdir, cache_dir, *overrides, timeout=300):
    result = subprocess.run(
        train_command(workdir, cache_dir, *overrides),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=cli_env(),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def cli_env():
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    env.pop("XLA_FLAGS", None)  # one device, as a user would have on a laptop
    return env


def read_metrics(workdir, split="train"):
    rows = [json.loads(line) for line in (pathlib.Path(workdir) / "metrics.jsonl").open()]
    return [row for row in rows if row["split"] == split]
