"""One tiny trained run for the whole session (4 steps, checkpoints at 2 and 4), trained in
this process through the train CLI, plus the input files the bad-input cases point at."""

import gzip
import hashlib
import os
import pathlib
import shutil

import pytest

from tests.cli.invoke import invoke

ROOT = pathlib.Path(__file__).resolve().parents[2]
TINY_RUN = [
    f"--config={ROOT}/configs/smoke.py",
    "--config.model.d_model=32", "--config.model.d_ff=64", "--config.model.n_heads=2",
    "--config.model.n_kv_heads=1", "--config.model.max_seq_len=32", "--config.data.seq_len=32",
    "--config.data.max_bytes=200000", "--config.data.eval_tokens=1024",
    "--config.train.steps=4", "--config.train.warmup_steps=1", "--config.log.every_steps=1",
    "--config.eval.every_steps=2", "--config.checkpoint.every_steps=2",
    "--config.checkpoint.keep=3",
]  # fmt: skip


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("token_cache")


def train_args(workdir, cache_dir, *overrides) -> list[str]:
    return [*TINY_RUN, f"--workdir={workdir}", f"--config.data.cache_dir={cache_dir}", *overrides]


@pytest.fixture(scope="session")
def trained(tmp_path_factory, cache_dir):
    """The tiny run; tests that change a run work on a copy (copy_run)."""
    workdir = tmp_path_factory.mktemp("trained") / "run"
    result = invoke("train", *train_args(workdir, cache_dir))
    assert result.code == 0, result.stderr[-3000:]
    return workdir


def copy_run(trained, destination) -> pathlib.Path:
    shutil.copytree(trained, destination, symlinks=True)
    return destination


def tree_hash(root) -> str:
    """Names, kinds and bytes of everything under root (symlinks as their targets' names)."""
    digest = hashlib.sha256()
    for directory, subdirs, files in sorted(os.walk(root)):
        subdirs.sort()
        digest.update(f"d {os.path.relpath(directory, root)}\n".encode())
        for name in sorted(files):
            path = os.path.join(directory, name)
            digest.update(f"f {name}\n".encode())
            if os.path.islink(path):
                digest.update(os.readlink(path).encode())
            else:
                digest.update(pathlib.Path(path).read_bytes())
    return digest.hexdigest()


@pytest.fixture(scope="session")
def inputs(tmp_path_factory):
    """Bad and odd input files, by name."""
    d = tmp_path_factory.mktemp("inputs")
    (d / "binary.txt").write_bytes(b"text\0\x01\x02 more")
    (d / "latin1.txt").write_bytes("caf\xe9 au lait\n\nencore".encode("latin-1"))
    (d / "empty.txt").write_text("")
    (d / "bad.jsonl").write_text('{"text": "ok"}\n{"text": truncated\n')
    (d / "notext.jsonl").write_text('{"body": "x"}\n')
    (d / "corpus_dir").mkdir()
    with gzip.open(d / "broken.txt.gz", "wb") as f:
        f.write(b"paragraph one\n\nparagraph two\n" * 50)
    (d / "broken.txt.gz").write_bytes((d / "broken.txt.gz").read_bytes()[:20])
    (d / "foreign").mkdir()
    (d / "foreign" / "notes.txt").write_text("my notes")
    (d / "a_file").write_text("not a directory")
    (d / "not_a.model").write_bytes(b"garbage, not a SentencePiece proto")
    (d / "empty_dir").mkdir()
    fit_header = "run,params,tokens,loss,budget\n"
    (d / "fit_bad.jsonl").write_text('{"params": 1e6, "tokens": 1e7, "loss": 3.1}\n{"params": 2\n')
    (d / "fit_nan.csv").write_text(fit_header + "a,1e6,1e7,3.1,1e18\nb,2e6,5e6,nan,1e18\n")
    (d / "fit_text.csv").write_text(fit_header + "a,1e6,1e7,3.1,1e18\nb,2e6,lots,3.0,1e18\n")
    (d / "fit_no_loss.csv").write_text("run,params,tokens\na,1e6,1e7\n")
    (d / "fit_empty.csv").write_text(fit_header)
    (d / "fit_conflict.csv").write_text(
        fit_header + "a,1e6,1e7,3.1,1e18\nb,2e6,5e6,3.0,1e18\na,1e6,1e7,3.3,1e18\n"
    )
    sizes = [1e6 * 1.5**i for i in range(9)]  # one budget: Approach 2 cannot fit a
    (d / "fit_one_budget.csv").write_text(
        fit_header
        + "".join(
            f"r{i},{n:.6g},{1e18 / (6 * n):.6g},{3 + (i - 4) ** 2 / 50},1e18\n"
            for i, n in enumerate(sizes)
        )  # fmt: skip
    )
    return d
