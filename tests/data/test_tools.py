"""The data CLIs: train_tokenizer writes a usable model; prepare_data prints the info JSON."""

import json
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]


def run_tool(name, *args):
    command = [sys.executable, str(ROOT / "tools" / name), *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=ROOT)


def test_train_tokenizer_then_prepare_data_with_it(tmp_path):
    corpus = tmp_path / "c.txt"
    corpus.write_text("\n\n".join(f"def f_{i}(x):\n    return x + {i}\n" for i in range(300)))
    made = run_tool(
        "train_tokenizer.py",
        f"--corpus={corpus}",
        "--vocab_size=300",
        "--out=" + str(tmp_path / "tok"),
    )
    assert made.returncode == 0, made.stderr
    assert made.stdout.strip() == str(tmp_path / "tok.model")
    args = [f"--corpus={corpus}", f"--tokenizer={tmp_path / 'tok.model'}", "--seq_len=16"]
    shown = run_tool("prepare_data.py", *args, f"--cache_dir={tmp_path / 'cache'}")
    assert shown.returncode == 0, shown.stderr
    info = json.loads(shown.stdout)
    assert info["vocab_size"] == 300 and info["n_documents"] == 300


def test_prepare_data_reports_bad_input_without_traceback(tmp_path):
    shown = run_tool("prepare_data.py", f"--corpus={tmp_path}/*.txt", f"--cache_dir={tmp_path}")
    assert shown.returncode != 0
    assert "matched no files" in shown.stderr and "Traceback" not in shown.stderr
