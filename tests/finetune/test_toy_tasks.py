"""Toy tasks learned on a CPU in minutes, from a model this module pretrains itself (slow).

The base model is pretrained on chat-formatted documents "say: w" → w (70%) or W (30%), which
teaches it the template but not to copy. Then, on held-out prompts:
- SFT teaches "reverse: abc" → "cba" (3-letter words): exact match ≥ 90%;
- a reward model learns that capitals are preferred: preference accuracy ≥ 90%, and
  tools/score.py scores the held-out chosen responses above the rejected ones;
- DPO on the same preferences moves accuracy from ½ (policy = reference: every margin is 0) to
  ≥ 90%, and turns greedy answers from mostly lower case to capitals.
"""

import json
import subprocess
import sys

import numpy as np
import pytest

from llm_jax.data.chat import ChatTemplate
from llm_jax.finetune import finetune, finetune_config, make_task
from llm_jax.finetune.sft import greedy_completions
from llm_jax.inspection.run import load_run
from llm_jax.train.setup import build
from tests.finetune.helpers import case_preferences, pretrain, write_jsonl
from tests.train.cli import ROOT, cli_env

pytestmark = pytest.mark.slow

BASE_STEPS, SFT_STEPS, REWARD_STEPS, DPO_STEPS = 200, 300, 80, 150


def _words3(letters="abcdefgh"):
    return [a + b + c for a in letters for b in letters for c in letters]


def make_toy(root):
    """The data, and the base run pretrained on "say:" documents (max_seq_len 128, so that SFT
    rows can pack several examples; positions restart per example)."""
    rng = np.random.default_rng(0)
    say = ["".join(rng.choice(list("abcdef"), size=rng.integers(3, 6))) for _ in range(20000)]
    docs = [
        {"text": f"<|user|>\nsay: {w}\n<|assistant|>\n{w.upper() if rng.random() < 0.3 else w}"}
        for w in say
    ]
    corpus = write_jsonl(root / "corpus.jsonl", docs)
    words = [str(w) for w in rng.permutation(_words3())]
    reverse = [{"prompt": f"reverse: {w}", "response": w[::-1], "answer": w[::-1]} for w in words]
    write_jsonl(root / "sft_eval.jsonl", reverse[:64])
    write_jsonl(root / "sft.jsonl", reverse[64:])
    pair_words = ["".join(rng.choice(list("abcdef"), size=rng.integers(3, 6))) for _ in range(2064)]
    write_jsonl(root / "pairs_eval.jsonl", case_preferences(pair_words[:64]))
    write_jsonl(root / "pairs.jsonl", case_preferences(pair_words[64:]))
    model = dict(d_model=64, d_ff=256, n_heads=4, n_kv_heads=4, max_seq_len=128)
    return pretrain(root / "base", corpus, root / "cache", BASE_STEPS, **model)


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    root = tmp_path_factory.mktemp("toy")
    return root, make_toy(root)


def _config(mode, root, base, data, steps, **overrides):
    settings = {
        "train.steps": steps,
        "train.warmup_steps": 20,
        "data.batch_size": 32,
        "data.eval_examples": str(root / f"{data}_eval.jsonl"),
        "eval.every_steps": steps,
        "log.every_steps": 25,
        "checkpoint.every_steps": steps,
        **overrides,
    }
    return finetune_config(mode, str(base), str(root / f"{data}.jsonl"), settings)


def test_sft_learns_to_reverse_held_out_words(toy):
    root, base = toy
    overrides = {"train.lr": 3e-3, "data.seq_len": 128}  # ~3 examples per row
    config = _config("sft", root, base, "sft", SFT_STEPS, **overrides)
    result = finetune(config, root / "sft")
    assert result["eval"]["exact_match"] >= 0.9, result["eval"]


def test_reward_model_prefers_capitals_on_held_out_pairs(toy):
    root, base = toy
    config = _config("reward", root, base, "pairs", REWARD_STEPS)
    result = finetune(config, root / "rm")
    assert result["eval"]["accuracy"] >= 0.9, result["eval"]
    scored = subprocess.run(
        [sys.executable, "tools/score.py", f"--workdir={root / 'rm'}",
         f"--data={root / 'pairs_eval.jsonl'}"],
        cwd=ROOT, env=cli_env(), capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert scored.returncode == 0, scored.stderr[-2000:]
    rows = [json.loads(line) for line in scored.stdout.splitlines()]
    assert len(rows) == 64
    assert np.mean([r["chosen_score"] > r["rejected_score"] for r in rows]) >= 0.9


def _capitals(workdir, root):
    """Fraction of greedy answers to the held-out "say:" prompts written in capitals."""
    run = load_run(workdir)
    pairs = [json.loads(line) for line in (root / "pairs_eval.jsonl").read_text().splitlines()]
    prompts = [[{"role": "user", "content": p["prompt"]}] for p in pairs]
    template = run.chat_template or ChatTemplate()  # the base has none: the default
    texts = greedy_completions(run.model_cfg, run.params, run.tokenizer, template, prompts, 6)
    return np.mean([t.isupper() for t in texts])


def _initial_eval(config, workdir):
    """The eval row of a task's initial model (the trainer evaluates after training steps)."""
    workdir.mkdir(parents=True)  # the trainer's lock makes it; DPO caches its reference there
    task = make_task(config, workdir)
    task.prepare()
    parts = build(config, objective=task.objective)
    params = task.initial_state(parts).params
    (rows,) = task.eval_batches(process_index=0, process_count=1).values()
    batches = [parts.eval_step(params, parts.global_batch(b)) for b in rows]
    means = {k: float(np.mean([b[k] for b in batches])) for k in batches[0]}
    return task.eval_row({"": means | {"batches": len(batches)}}, params)


def test_dpo_moves_preferences_and_generations_toward_capitals(toy):
    root, base = toy
    # The mode's lr (1e-4): at 1e-3 the policy leaves the data (both log-probs fall, greedy
    # answers become invalid bytes) even though held-out accuracy reaches 1.
    config = _config("dpo", root, base, "pairs", DPO_STEPS)
    start = _initial_eval(config, root / "dpo_start")
    assert 0.4 <= start["accuracy"] <= 0.6 and abs(start["margin"]) < 1e-3, start
    result = finetune(config, root / "dpo")
    assert result["eval"]["accuracy"] >= 0.9, result["eval"]
    assert result["eval"]["chosen_reward"] > result["eval"]["rejected_reward"]
    before, after = _capitals(base, root), _capitals(root / "dpo", root)
    assert before < 0.5 and after >= 0.9, (before, after)
