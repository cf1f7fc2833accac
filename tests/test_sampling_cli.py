"""tools/sample.py and tools/inspect_model.py on a smoke-trained run directory, as users do."""

import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
TRAIN = [  # configs/smoke.py, shrunk to a few seconds
    "--config=configs/smoke.py", "--config.train.steps=2", "--config.train.warmup_steps=1",
    "--config.eval.every_steps=2", "--config.checkpoint.every_steps=2",
    "--config.log.every_steps=1", "--config.data.max_bytes=200000",
    "--config.data.eval_tokens=1024",
]  # fmt: skip


def cli(*args, timeout=300):
    """Run a tool with one CPU device (as on a laptop); returns the CompletedProcess."""
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    env.pop("XLA_FLAGS", None)  # conftest's 8 fake devices are for sharding tests only
    command = [sys.executable, *args]
    return subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=timeout, env=env
    )


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    pytest.importorskip("llm_jax.checkpoint", reason="needs the trainer's checkpoints")
    if not (ROOT / "tools" / "train.py").exists():
        pytest.skip("tools/train.py is missing: cannot make a smoke-trained run")
    path = tmp_path_factory.mktemp("smoke_run")
    cache = tmp_path_factory.mktemp("cache")
    result = cli("tools/train.py", *TRAIN, f"--workdir={path}", f"--config.data.cache_dir={cache}")
    assert result.returncode == 0, result.stderr[-3000:]
    return path


SAMPLE = ["--prompt=def ", "--max_new_tokens=12", "--temperature=0.8", "--top_k=20", "--top_p=0.9"]


def test_sample_cli_runs_on_a_trained_run(workdir):
    from llm_jax.inspection.complete import SEPARATOR

    args = ["tools/sample.py", f"--workdir={workdir}", *SAMPLE, "--num_samples=2"]
    result = cli(*args)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.endswith("\n") and "loaded" in result.stderr
    samples = result.stdout[:-1].split(SEPARATOR)
    assert len(samples) == 2 and all(len(s.encode()) <= 12 for s in samples)  # byte tokens


@pytest.mark.slow
def test_sample_prints_only_the_completion_reproducibly(workdir):
    args = ["tools/sample.py", f"--workdir={workdir}", *SAMPLE, "--seed=3", "--num_samples=2"]
    first, again = cli(*args), cli(*args, "--stream")
    assert first.returncode == 0, first.stderr[-3000:]
    # Library-made completions, for the same seed: stdout must be exactly these.
    from llm_jax.inspection.complete import SEPARATOR, complete
    from llm_jax.inspection.run import load_run
    from llm_jax.sampling import Sampler

    texts = complete(
        load_run(workdir), "def ", max_new_tokens=12, sampler=Sampler(0.8, 20, 0.9), seed=3,
        num_samples=2,
    )  # fmt: skip
    assert first.stdout == SEPARATOR.join(texts) + "\n"
    assert again.stdout == first.stdout  # streaming prints the same text
    assert "loaded" in first.stderr


@pytest.mark.slow
def test_inspect_subcommands_write_pngs_and_tables(workdir, tmp_path):
    from llm_jax.inspection.commands import run_command

    options = {
        "tokens": {"text": "for x in y:"},
        "next": {"text": "for x in y:", "top_k": 5, "top_p": 0.9},
        "attention": {"text": "for x in y:", "layers": [1], "heads": [0, 1]},
        "embeddings": {"token": "e", "chosen": ["a", "1"]},
    }
    for name, kwargs in options.items():
        table, png = run_command(name, workdir, out=tmp_path / f"{name}.png", **kwargs)
        assert png.read_bytes().startswith(b"\x89PNG") and png.stat().st_size > 1000, name
        assert len(table.splitlines()) >= 4, name
    result = cli("tools/inspect_model.py", "tokens", f"--workdir={workdir}", "--text=ab")
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.splitlines()[2].split() == ["0", "97", "a", "1"]
    assert (workdir / "inspect" / "tokens.png").stat().st_size > 1000


def test_clear_errors_for_missing_run_checkpoint_and_tokenizer(workdir, tmp_path):
    from llm_jax.inspection.run import RunError, load_run

    with pytest.raises(RunError, match="is not a directory"):
        load_run(tmp_path / "nowhere")
    with pytest.raises(RunError, match="no tokenizer"):
        load_run(tmp_path)
    (tmp_path / "tokenizer").symlink_to(workdir / "tokenizer")
    with pytest.raises(RunError, match="config.json not found"):
        load_run(tmp_path)
    (tmp_path / "config.json").write_text((workdir / "config.json").read_text())
    with pytest.raises(RunError, match="no checkpoint"):
        load_run(tmp_path)
    with pytest.raises(RunError, match="no checkpoint at step 7"):
        load_run(workdir, step=7)


@pytest.mark.slow
def test_cli_errors_go_to_stderr(workdir):
    too_long = cli("tools/sample.py", f"--workdir={workdir}", "--prompt=a", "--max_new_tokens=999")
    assert too_long.returncode != 0 and "exceeds model.max_seq_len=64" in too_long.stderr
    assert too_long.stdout == ""
