"""tools/export_hf.py and tools/evaluate.py on a trained run, as a user runs them."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from llm_jax.checkpoint import load_params
from llm_jax.data.tokenizer import load_tokenizer_from_dir
from tests.interop.helpers import ROOT, logits, require
from tests.interop.tasks import write_tasks

transformers = require("transformers")
torch = require("torch")


def cli(*args):
    env = dict(os.environ, JAX_PLATFORMS="cpu", HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1")
    env["PYTHONPATH"] = str(ROOT)  # this checkout's llm_jax, whatever the venv installed
    env.pop("XLA_FLAGS", None)  # one device, as on a laptop
    command = [sys.executable, *args]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600, env=env)


def test_export_cli_output_loads_in_transformers_alone(smoke_run, tmp_path):
    out = tmp_path / "hf"
    result = cli("tools/export_hf.py", f"--workdir={smoke_run}", f"--out={out}", "--step=2")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "model.safetensors" in result.stdout
    model = transformers.AutoModelForCausalLM.from_pretrained(out)
    hf_tokenizer = transformers.AutoTokenizer.from_pretrained(out)
    ours = load_tokenizer_from_dir(smoke_run / "tokenizer")
    text = "def main():\n    print('héllo 🌍')\n"
    ids = hf_tokenizer(text)["input_ids"]
    assert ids == ours.encode(text)
    config, params = load_params(smoke_run)
    with torch.no_grad():
        theirs = model(torch.tensor([ids])).logits.numpy()
    expected = logits(config.model, params, np.asarray([ids]))
    assert np.abs(expected - theirs).max() <= 1e-4
    generation = json.loads((out / "generation_config.json").read_text())
    assert generation["eos_token_id"] == ours.eos_id == model.config.eos_token_id


@pytest.mark.slow  # the library refusals are in test_export.py; this is the CLI's exit path
def test_export_cli_refuses_an_inexpressible_run_and_writes_nothing(smoke_run, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    config = json.loads((smoke_run / "config.json").read_text())
    config["model"]["norm"] = "layernorm"
    (run / "config.json").write_text(json.dumps(config))
    result = cli("tools/export_hf.py", f"--workdir={run}", f"--out={tmp_path / 'hf'}")
    assert result.returncode != 0
    assert "model.norm='layernorm'" in result.stderr
    assert not (tmp_path / "hf").exists()


@pytest.mark.slow
def test_evaluate_cli_prints_and_saves_scores(smoke_run, tmp_path):
    include = write_tasks(tmp_path / "tasks")
    args = [f"--workdir={smoke_run}", "--tasks=tiny_mc,tiny_gen", f"--include_path={include}"]
    result = cli("tools/evaluate.py", *args, "--limit=2", "--bootstrap_iters=0")
    assert result.returncode == 0, result.stderr[-3000:]
    printed = json.loads(result.stdout)
    saved = json.loads((smoke_run / "eval_harness.json").read_text())
    assert printed["lm_eval/tiny_mc/acc"] == saved["results"]["tiny_mc"]["acc,none"]
    assert saved["results"]["tiny_gen"]["sample_len"] == 2
