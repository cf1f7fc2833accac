"""The error contract, case by case: bad or odd input to any CLI exits with status 2 and one line
`error: …` naming the key, flag or file; no traceback; and the run directory it pointed at is
byte-for-byte unchanged (a new one is not left behind).

Cases run in this process through each CLI's run() (tests/cli/invoke.py), so the table costs
seconds, not a Python start-up per case. Resume and checkpoint cases share one tiny trained run.
"""

import dataclasses
import os
import pathlib
from collections.abc import Callable

import pytest

from tests.cli.conftest import copy_run, train_args, tree_hash
from tests.cli.invoke import invoke


@dataclasses.dataclass
class Case:
    cli: str
    args: list[str]  # {dir} is the target directory, {run} the trained run, {inputs} the inputs
    expect: list[str]  # fragments the error line must contain
    target: str = "fresh"  # fresh: a new directory (must not appear) | run | copy (corrupted)
    corrupt: Callable | None = None  # applied to the copy before the CLI runs
    base: bool = False  # train: start from the tiny run's flags (and --workdir={dir})


def train(override, *expect, target="fresh", corrupt=None, extra=()):
    """A train command: the tiny run's flags, then `override` (the one bad thing)."""
    args = [override, *extra] if override else list(extra)
    return Case("train", args, list(expect), target, corrupt, base=True)


def tool(cli, args, *expect, target="run", corrupt=None):
    return Case(cli, list(args), list(expect), target, corrupt)


def write(name: str, content: bytes):
    def corrupt(run: pathlib.Path):
        (run / name).write_bytes(content)

    return corrupt


def truncate_checkpoints(run: pathlib.Path):
    """Halve every array data file of every checkpoint: none of them restores."""
    for data in (run / "checkpoints").glob("*/state/**/d/*"):
        os.truncate(data, data.stat().st_size // 2)


def live_lock(run: pathlib.Path):
    """A lock held by PID 1 on this host: a live process that is not this test."""
    import json
    import socket

    (run / "lock").write_text(json.dumps({"host": socket.gethostname(), "pid": 1}))


SAMPLE = ["--workdir={dir}", "--prompt=def ", "--max_new_tokens=2"]
INSPECT = ["--workdir={dir}", "--text=ab"]
LAUNCH = ["--tpu=t", "--zone=z", "--project=p", "--config=configs/smoke.py"]

CASES = {
    # Config keys and values (a new workdir).
    "unknown key": train("--config.train.lrr=1", "train.lrr", "closest: train.lr"),
    "unknown section": train("--config.foo.bar=1", "unknown config key foo.bar"),
    "misspelt model key": train("--config.model.d_modle=64", "model.d_modle", "model.d_model"),
    "float for a float key": train("--config.train.lr=abc", "--config.train.lr=abc"),
    "float for an int key": train("--config.train.steps=1.5", "--config.train.steps=1.5"),
    "enum value": train("--config.model.mlp=relu", "model.mlp='relu'", "swiglu"),
    "heads do not divide": train("--config.model.n_heads=3", "model.n_heads=3"),
    "seq_len > max_seq_len": train("--config.data.seq_len=64", "data.seq_len=64"),
    "mesh of 3 on 8 devices": train("--config.mesh.data=3", "mesh", "8 are available"),
    "mesh rule axis": train("--config.mesh.rules.embed=foo", "mesh.rules.embed='foo'"),
    "batch vs devices": train("--config.data.batch_size=12", "data.batch_size=12"),
    "warmup ≥ steps": train("--config.train.warmup_steps=4", "train.warmup_steps=4"),
    "init_from form": train("--config.train.init_from=nonsense", "train.init_from"),
    "init_from no run": train("--config.train.init_from={inputs}/empty_dir:2", "config.json"),
    "bpe too small": train("--config.data.tokenizer=bpe:100", "data.tokenizer='bpe:100'"),
    "bpe not a number": train("--config.data.tokenizer=bpe:abc", "data.tokenizer='bpe:abc'"),
    "tokenizer missing": train("--config.data.tokenizer=missing.model", "missing.model"),
    "tokenizer not spm": train("--config.data.tokenizer={inputs}/not_a.model", "not_a.model"),
    "cudnn on cpu": train("--config.model.attention=cudnn", "model.attention='cudnn'", "GPU"),
    "vocab too big": train("--config.model.vocab_size=2000000000", "embedding", "GiB"),
    "bpe too big": train("--config.data.tokenizer=bpe:3000000000", "vocab 3000000000", "GiB"),
    # Numeric domains.
    **{
        f"{key}={value}": train(f"--config.{key}={value}", f"{key}=")
        for key, value in [
            ("train.lr", -1),
            ("train.lr", 0),
            ("train.lr", "nan"),
            ("train.lr", "inf"),
            ("train.eps", 0),
            ("train.beta1", 1.0),
            ("train.beta1", -0.1),
            ("train.beta2", 1.5),
            ("train.z_loss", -1),
            ("train.weight_decay", -0.1),
            ("train.grad_clip", -1),
            ("train.seed", -1),
            ("train.min_lr_ratio", 2),
            ("train.decay_fraction", 0),
            ("model.init_std", 0),
            ("model.rope_theta", 0),
            ("model.norm_eps", -1e-6),
            ("model.vocab_size", -5),
            ("model.d_model", 0),
            ("data.prefetch", -1),
            ("data.max_bytes", -1),
            ("data.val_fraction", 0),
            ("data.val_fraction", 1),
            ("data.eval_tokens", 0),
            ("train.steps", 0),
            ("train.grad_accum", 0),
        ]
    },
    "eval every 0": train("--config.eval.every_steps=0", "eval.every_steps"),
    "keep 0": train("--config.checkpoint.keep=0", "checkpoint.keep"),
    # Corpora.
    "corpus missing": train("--config.data.corpus=nonexistent.txt", "data.corpus", "nonexistent"),
    "corpus glob empty": train("--config.data.corpus={inputs}/*.nothing", "matched no files"),
    "corpus is a dir": train("--config.data.corpus={inputs}/corpus_dir", "is a directory"),
    "corpus binary": train("--config.data.corpus={inputs}/binary.txt", "binary.txt", "binary"),
    "corpus latin-1": train("--config.data.corpus={inputs}/latin1.txt", "latin1.txt", "UTF-8"),
    "corpus empty": train("--config.data.corpus={inputs}/empty.txt", "empty.txt"),
    "corpus bad gzip": train("--config.data.corpus={inputs}/broken.txt.gz", "broken.txt.gz"),
    "jsonl bad line": train("--config.data.corpus={inputs}/bad.jsonl", "bad.jsonl:2"),
    "jsonl no text": train("--config.data.corpus={inputs}/notext.jsonl", "notext.jsonl:1"),
    # Flags and paths.
    "no --config": Case("train", ["--workdir={dir}"], ["--config"]),
    "config file missing": Case(
        "train", ["--config=configs/nope.py", "--workdir={dir}"], ["nope.py"]
    ),
    "preset arg unknown": Case(
        "train", ["--config=configs/sizes.py:9t", "--workdir={dir}"], ["9t"]
    ),
    "no --workdir": Case("train", ["--config=configs/smoke.py"], ["--workdir"]),
    "empty --workdir": Case("train", ["--config=configs/smoke.py", "--workdir="], ["--workdir"]),
    "stray argument": train("", "unexpected argument", extra=["steps=5"]),
    "workdir is a file": train("", "a_file", "is a file", target="file"),
    "workdir not a run's": train("", "foreign", "not a run's", target="foreign"),
    "train --step=0": train("--step=0", "--step=0"),
    # Resumes of the trained run (4 steps; checkpoints 2 and 4): refused, nothing written.
    "fewer steps": train("--config.train.steps=3", "step 4", "train.steps=3", target="run"),
    "seed": train("--config.train.seed=1", "train.seed=1", "init_from", target="run"),
    "batch size": train("--config.data.batch_size=16", "data.batch_size=16", target="run"),
    "seq_len": train("--config.data.seq_len=16", "data.seq_len=16", target="run"),
    "val_fraction": train("--config.data.val_fraction=0.05", "data.val_fraction", target="run"),
    "tokenizer spec": train(
        "--config.data.tokenizer=bpe:300", "data.tokenizer='bpe:300'", "new --workdir", target="run"
    ),
    "tokenizer file": train("--config.data.tokenizer={spm}", "fingerprint", target="run"),
    "corpus content": train("--config.data.max_bytes=150000", "data.corpus", "hash", target="run"),
    "corpus name": train("--config.data.corpus={inputs}/latin1.txt", "latin1.txt", target="run"),
    "grad_clip 1 → 0": train(
        "--config.train.grad_clip=0", "optimizer state", "train.grad_clip", target="run"
    ),
    "model shape": train("--config.model.d_ff=96", "model.d_ff=96", target="run"),
    "untied embeddings": train(
        "--config.model.tie_embeddings=False", "model.tie_embeddings", target="run"
    ),
    "--step not saved": train("--step=3", "--step=3", "[2, 4]", target="run"),
    "--step at the end": train("--step=4", "--step=4", "train.steps=4", target="run"),
    "branch, other tokenizer": train(
        "--config.train.init_from={run}:2", "branch", extra=["--config.data.tokenizer=bpe:300"]
    ),
    "branch, no such step": train("--config.train.init_from={run}:3", "no checkpoint at step 3"),
    "branch past steps": train("--config.train.init_from={run}:4", "must be < train.steps"),
    "live lock": train("", "in use by process 1", target="copy", corrupt=live_lock),
    # Corrupt run files (a copy of the run).
    "config.json empty": train("", "config.json", target="copy", corrupt=write("config.json", b"")),
    "config.json garbled": train(
        "", "config.json", target="copy", corrupt=write("config.json", b'{"model": ')
    ),
    "config.json a list": train(
        "", "config.json", target="copy", corrupt=write("config.json", b"[1, 2]")
    ),
    "run.json garbled": train("", "run.json", target="copy", corrupt=write("run.json", b"{{")),
    "no checkpoint restores": train(
        "--config.train.steps=6",
        "no checkpoint",
        "restores",
        target="copy",
        corrupt=truncate_checkpoints,
    ),
    "sample, config.json empty": tool(
        "sample", SAMPLE, "config.json", target="copy", corrupt=write("config.json", b"")
    ),
    "sample, tokenizer.json garbled": tool(
        "sample",
        SAMPLE,
        "tokenizer.json",
        target="copy",
        corrupt=write("tokenizer/tokenizer.json", b"{"),
    ),
    "sample, no checkpoint restores": tool(
        "sample", SAMPLE, "restores", target="copy", corrupt=truncate_checkpoints
    ),
    # sample and inspect_model flags.
    "sample no workdir": tool("sample", ["--workdir={dir}"], "is not a directory", target="fresh"),
    "sample not a run": tool("sample", ["--workdir={inputs}/empty_dir"], "tokenizer"),
    "sample --num_samples=0": tool("sample", [*SAMPLE, "--num_samples=0"], "--num_samples=0"),
    "sample --temperature=-1": tool("sample", [*SAMPLE, "--temperature=-1"], "--temperature"),
    "sample --temperature=nan": tool("sample", [*SAMPLE, "--temperature=nan"], "--temperature"),
    "sample --top_p=0": tool("sample", [*SAMPLE, "--top_p=0"], "--top_p"),
    "sample --top_p=1.5": tool("sample", [*SAMPLE, "--top_p=1.5"], "--top_p"),
    "sample --min_p=2": tool("sample", [*SAMPLE, "--min_p=2"], "--min_p"),
    "sample --repetition_penalty=0": tool(
        "sample", [*SAMPLE, "--repetition_penalty=0"], "--repetition_penalty"
    ),
    "sample --max_new_tokens=0": tool("sample", [*SAMPLE, "--max_new_tokens=0"], "max_new_tok"),
    "sample --top_k=-1": tool("sample", [*SAMPLE, "--top_k=-1"], "--top_k"),
    "sample --step=3": tool("sample", [*SAMPLE, "--step=3"], "step 3", "[2, 4]"),
    "sample too long": tool("sample", [*SAMPLE, "--max_new_tokens=40"], "max_seq_len=32"),
    "inspect no command": tool("inspect_model", INSPECT, "usage"),
    "inspect bad command": tool("inspect_model", ["tokenz", *INSPECT], "usage"),
    "inspect --temperatures=0": tool(
        "inspect_model", ["next", *INSPECT, "--temperatures=0"], "--temperatures"
    ),
    "inspect --temperatures=a": tool(
        "inspect_model", ["next", *INSPECT, "--temperatures=a"], "--temperatures"
    ),
    "inspect --layers=x": tool("inspect_model", ["attention", *INSPECT, "--layers=x"], "--layers"),
    "inspect --layers=9": tool("inspect_model", ["attention", *INSPECT, "--layers=9"], "[9]"),
    "inspect text too long": tool(
        "inspect_model",
        ["next", "--workdir={dir}", "--text=" + "x" * 40],
        "max_seq_len=32",
        "--text",
    ),
    "inspect no token": tool("inspect_model", ["embeddings", *INSPECT], "--token"),
    "inspect two tokens": tool("inspect_model", ["embeddings", *INSPECT, "--token=ab"], "not one"),
    "inspect --out=.txt": tool("inspect_model", ["tokens", *INSPECT, "--out={dir}/x.txt"], "--out"),
    # The other CLIs.
    "compile_check --mesh": tool(
        "compile_check",
        ["--config=configs/smoke.py", "--mesh=1,x,1"],
        "--mesh='1,x,1'",
        target="none",
    ),
    "compile_check no --mesh": tool(
        "compile_check", ["--config=configs/smoke.py"], "--mesh", target="none"
    ),
    "tokenizer --vocab_size": tool(
        "train_tokenizer", ["--vocab_size=10", "--out={dir}/t"], "--vocab_size=10", target="fresh"
    ),
    "tokenizer --out=": tool("train_tokenizer", ["--out="], "--out", target="none"),
    "tokenizer --corpus": tool(
        "train_tokenizer", ["--corpus=nope.txt", "--out={dir}/t"], "nope.txt", target="fresh"
    ),
    "sweep --shard": tool(
        "sweep",
        ["--config=tests/sweep/tiny_study.py", "--workdir={dir}", "--shard=3/2"],
        "--shard",
        target="fresh",
    ),
    "sweep --workers=0": tool(
        "sweep",
        ["--config=tests/sweep/tiny_study.py", "--workdir={dir}", "--workers=0"],
        "--workers",
        target="fresh",
    ),
    "sweep unknown key": tool(
        "sweep",
        ["--config=tests/sweep/tiny_study.py", "--workdir={dir}", "--config.train.lrr=1"],
        "train.lrr",
        target="fresh",
    ),
    "mixture form": train("--config.data.mixture=web:0:stdlib", "data.mixture"),
    "prepare --shard": tool(
        "prepare_data", ["--out={dir}/store", "--shard=3/2"], "--shard", target="fresh"
    ),
    "prepare corpus missing": tool(
        "prepare_data", ["--corpus=nope.txt", "--out={dir}/store"], "nope.txt", target="fresh"
    ),
    "fit runs missing": tool(
        "fit_scaling_laws", ["--runs={dir}/runs.csv", "--out={dir}/fit"], "runs.csv", target="fresh"
    ),
    "fit --approaches": tool(
        "fit_scaling_laws",
        ["--runs=x.csv", "--out=y", "--approaches=4"],
        "--approaches",
        target="none",
    ),
    **{
        f"fit {table}": tool(
            "fit_scaling_laws",
            [f"--runs={{inputs}}/{table}", "--out={dir}/fit", *flags],
            *expect,
            target="fresh",
        )
        for table, flags, expect in [
            ("fit_bad.jsonl", [], ["fit_bad.jsonl:2:", "not valid JSON"]),
            ("fit_nan.csv", [], ["fit_nan.csv:3:", "'loss' is 'nan'", "finite"]),
            ("fit_text.csv", [], ["fit_text.csv:3:", "'tokens' is 'lots', not a number"]),
            ("fit_no_loss.csv", [], ["fit_no_loss.csv:1:", "missing required column(s) ['loss']"]),
            ("fit_empty.csv", [], ["fit_empty.csv", "no rows"]),
            ("fit_conflict.csv", [], ["fit_conflict.csv:4:", "run=a", "line 2", "3.3 on line 4"]),
            ("fit_one_budget.csv", ["--approaches=2"], ["Approach 2 needs at least 2 budgets"]),
        ]
    },
    "fit --approaches=9": tool(
        "fit_scaling_laws",
        ["--runs={inputs}/fit_one_budget.csv", "--out={dir}/fit", "--approaches=9"],
        "unknown approach(es) ['9']",
        "choose from 1, 2, 3",
        target="fresh",
    ),
    "export --max_shard_mb": tool(
        "export_hf", ["--workdir={dir}", "--out={run}/../hf", "--max_shard_mb=0"], "--max_shard_mb"
    ),
    "export no run": tool(
        "export_hf", ["--workdir={dir}", "--out={dir}/hf"], "config.json", target="fresh"
    ),
    "evaluate --limit": tool("evaluate", ["--workdir={dir}", "--tasks=x", "--limit=0"], "--limit"),
    "evaluate --include_path": tool(
        "evaluate",
        ["--workdir={dir}", "--tasks=x", "--include_path={inputs}/nope"],
        "--include_path",
    ),
    "launch local workdir": tool(
        "launch_tpu_vm", [*LAUNCH, "--workdir=runs/x"], "gs://", target="none"
    ),
    "launch source": tool(
        "launch_tpu_vm",
        [*LAUNCH, "--workdir=gs://b/r", "--source=a.zip"],
        "--source='a.zip'",
        target="none",
    ),
}


@pytest.fixture(scope="module")
def spm_model(inputs):
    """A SentencePiece model other than the run's byte tokenizer."""
    from llm_jax.data import load_corpus, train_sentencepiece

    corpus = load_corpus("stdlib", 100_000)
    return train_sentencepiece(corpus.documents, 512, inputs / "other")


def _target(case, tmp_path, trained, inputs) -> pathlib.Path:
    if case.target == "run":
        return trained
    if case.target == "copy":
        copy = copy_run(trained, tmp_path / "copy")
        case.corrupt(copy)
        return copy
    if case.target in ("file", "foreign"):
        return inputs / {"file": "a_file", "foreign": "foreign"}[case.target]
    return tmp_path / "new"  # fresh, or none (the command takes no directory)


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input_is_one_line_exit_2_and_changes_nothing(
    name, tmp_path, trained, inputs, cache_dir, spm_model, monkeypatch
):
    case = CASES[name]
    monkeypatch.chdir(pathlib.Path(__file__).resolve().parents[2])  # paths as in the README
    target = _target(case, tmp_path, trained, inputs)
    before = tree_hash(target) if target.exists() else None
    fill = dict(dir=target, run=trained, inputs=inputs, spm=spm_model)
    args = [a.format(**fill) for a in case.args]
    if case.base:
        args = train_args(target, cache_dir, *args)
    result = invoke(case.cli, *args)  # a bug raises here: the traceback fails the test
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert result.code == 2, (result.code, result.stderr[-2000:])
    assert len(errors) == 1 and result.stderr.rstrip().endswith(errors[0]), result.stderr
    assert "Traceback" not in result.stderr
    for fragment in case.expect:
        assert fragment.format(**fill) in errors[0], (fragment, errors[0])
    after = tree_hash(target) if target.exists() else None
    assert after == before, "the command changed files it was pointed at"


def test_the_table_is_big_enough():
    assert len(CASES) >= 60
