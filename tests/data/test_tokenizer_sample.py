"""bpe:N and tools/train_tokenizer.py train on a bounded, deterministic, recorded sample."""

import json
import subprocess

import llm_jax.data.tokenizer as tokenizer_module
from llm_jax.data import build_tokenizer, load_tokenizer_from_dir
from tests.data.corpora import PYTHON, ROOT, data_cfg, subprocess_env, write_jsonl


def corpus(tmp_path) -> str:
    for f in range(12):
        docs = [f"def f_{f}_{i}(x):\n    return x * {i} + {f}\n" * 3 for i in range(80)]
        write_jsonl(tmp_path / f"c{f:02d}.jsonl", docs)
    return str(tmp_path / "*.jsonl")


def test_bpe_trains_on_a_bounded_sample_recorded_in_its_metadata(tmp_path, monkeypatch):
    spec = corpus(tmp_path)
    monkeypatch.setattr(tokenizer_module, "TRAIN_BYTES", 30_000)  # the corpus is ~4× that
    trained_on = []
    real = tokenizer_module.train_sentencepiece
    monkeypatch.setattr(
        tokenizer_module, "train_sentencepiece", lambda *a: trained_on.append(a[0]) or real(*a)
    )
    tok = build_tokenizer(data_cfg(tmp_path, corpus=spec, tokenizer="bpe:300"))
    (documents,) = trained_on
    total = sum(len(d.encode()) for d in documents)
    assert 30_000 <= total < 31_000
    saved = json.loads(
        next((tmp_path / "cache" / "tokenizers").glob("*/tokenizer.json")).read_text()
    )
    sample = saved["trained_on"]
    assert sample["corpus"] == spec and sample["bytes"] == total and sample["files"] > 3
    assert sample["documents"] == len(documents) and sample["rule"].startswith("sample.v1")
    again = load_tokenizer_from_dir(next((tmp_path / "cache" / "tokenizers").glob("*")))
    assert again.metadata == sample and again.fingerprint == tok.fingerprint


def test_train_tokenizer_tool_writes_the_sample_description(tmp_path):
    spec, out = corpus(tmp_path), tmp_path / "tok"
    made = subprocess.run(
        [
            PYTHON,
            "tools/train_tokenizer.py",
            f"--corpus={spec}",
            "--vocab_size=300",
            f"--out={out}",
        ],
        cwd=ROOT,
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert made.returncode == 0, made.stderr
    meta = json.loads((tmp_path / "tok.json").read_text())
    assert meta["trained_on"]["corpus"] == spec and meta["trained_on"]["documents"] == 960
    tok = build_tokenizer(data_cfg(tmp_path, tokenizer=str(tmp_path / "tok.model")))
    assert tok.metadata == meta["trained_on"]
