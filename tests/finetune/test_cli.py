"""tools/finetune.py end to end (SFT, a few steps) and its one-line refusals; tools/sample.py on
the result formats the prompt with the run's chat template."""

import json
import subprocess
import sys

import pytest

from llm_jax.data import ByteTokenizer
from llm_jax.data.chat import ChatTemplate, prompt_ids
from llm_jax.inspection.run import RunError, load_run
from llm_jax.sampling import Sampler, generate
from tests.finetune.helpers import case_preferences, reverse_examples, words, write_jsonl
from tests.train.cli import ROOT, cli_env, read_metrics


def run_tool(name, *args):
    return subprocess.run(
        [sys.executable, f"tools/{name}.py", *args],
        cwd=ROOT, env=cli_env(), capture_output=True, text=True, timeout=600,
    )  # fmt: skip


def test_sft_cli_run_directory_metrics_and_sampling(base_run, tmp_path):
    train_words = words(40, 1)
    data = write_jsonl(tmp_path / "sft.jsonl", reverse_examples(train_words))
    held_out = write_jsonl(tmp_path / "eval.jsonl", reverse_examples(words(6, 2, train_words)))
    workdir = tmp_path / "sft"
    result = run_tool(
        "finetune", "--mode=sft", f"--init_from={base_run}", f"--data={data}",
        f"--eval_data={held_out}", f"--workdir={workdir}", "--config.train.steps=4",
        "--config.train.warmup_steps=1", "--config.data.batch_size=8",
        "--config.eval.every_steps=2", "--config.log.every_steps=1",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    config = json.loads((workdir / "config.json").read_text())
    base = json.loads((base_run / "config.json").read_text())
    assert config["train"]["mode"] == "sft" and config["model"] == base["model"]
    facts = json.loads((workdir / "run.json").read_text())["data"]
    assert facts["train"]["examples"] == 40 and facts["eval"]["examples"] == 6
    assert facts["train"]["truncated"] == facts["train"]["skipped"] == 0
    assert 0 < facts["train"]["non_pad_fraction"] <= 1
    assert (workdir / "tokenizer" / "chat_template.json").exists()
    train_rows, eval_rows = read_metrics(workdir), read_metrics(workdir, "eval")
    assert [r["step"] for r in train_rows] == [1, 2, 3, 4]
    assert [r["step"] for r in eval_rows] == [2, 4]
    assert all(0 <= r["exact_match"] <= 1 and r["loss"] > 0 for r in eval_rows)
    assert train_rows[-1]["tokens"] == 4 * 8 * config["data"]["seq_len"]

    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(workdir / "tensorboard"))
    events.Reload()
    assert {"train/loss", "eval/loss", "eval/exact_match"} <= set(events.Tags()["scalars"])

    sampled = run_tool(
        "sample", f"--workdir={workdir}", "--prompt=reverse: abc", "--temperature=0",
        "--max_new_tokens=8",
    )  # fmt: skip
    assert sampled.returncode == 0, sampled.stderr[-2000:]
    run, tok = load_run(workdir), ByteTokenizer()
    ids = prompt_ids(ChatTemplate(), tok, [{"role": "user", "content": "reverse: abc"}])
    out = generate(
        run.model_cfg, run.params, [ids], max_new_tokens=8, sampler=Sampler(temperature=0.0),
        eos_id=tok.eos_id, pad_id=tok.pad_id, vocab_limit=tok.vocab_size,
    )  # fmt: skip
    assert sampled.stdout == tok.decode(out.rows()[0]) + "\n"


def test_bad_input_is_one_line_and_nothing_runs(base_run, tmp_path):
    data = write_jsonl(tmp_path / "bad.jsonl", [{"prompt": "p", "response": "r"}, {"prompt": 1}])
    result = run_tool(
        "finetune", "--mode=sft", f"--init_from={base_run}", f"--data={data}",
        f"--workdir={tmp_path / 'ft'}",
    )  # fmt: skip
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        f'error: {data}:2: field "prompt" must be a string, not int'
    )
    assert not (tmp_path / "ft" / "checkpoints").exists()


def test_reward_runs_are_not_sampled(tmp_path):
    (tmp_path / "tokenizer").mkdir()
    ByteTokenizer().save(tmp_path / "tokenizer")
    (tmp_path / "config.json").write_text(json.dumps({"train": {"mode": "reward"}, "model": {}}))
    with pytest.raises(RunError, match="reward model.*tools/score.py"):
        load_run(tmp_path)


def test_reward_cli_then_score_prints_every_line_with_its_scores(base_run, tmp_path):
    pairs = case_preferences(words(24, 3))
    data = write_jsonl(tmp_path / "prefs.jsonl", pairs)
    workdir = tmp_path / "rm"
    result = run_tool(
        "finetune", "--mode=reward", f"--init_from={base_run}", f"--data={data}",
        f"--workdir={workdir}", "--config.train.steps=2", "--config.train.warmup_steps=1",
        "--config.data.batch_size=8", "--config.eval.every_steps=2",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    responses = [{"prompt": "say: ab", "response": "AB"}, {"prompt": "say: cd", "response": "cd"}]
    mixed = write_jsonl(tmp_path / "mixed.jsonl", [*pairs[:3], *responses])
    scored = run_tool("score", f"--workdir={workdir}", f"--data={mixed}")
    assert scored.returncode == 0, scored.stderr[-3000:]
    rows = [json.loads(line) for line in scored.stdout.splitlines()]
    assert [r["prompt"] for r in rows] == [r["prompt"] for r in [*pairs[:3], *responses]]
    assert all(
        isinstance(r[k], float) for r in rows[:3] for k in ("chosen_score", "rejected_score")
    )
    assert all(isinstance(r["score"], float) for r in rows[3:])
