"""Synthetic fine-tuning data and a tiny model pretrained in-process on the chat format."""

import json
import pathlib
import random

from llm_jax.config import get_default_config
from llm_jax.train.trainer import train

LETTERS = "abcdef"


def words(n: int, seed: int, exclude=()) -> list[str]:
    """n distinct random words of 3-5 letters, none in `exclude`."""
    rng, seen, out = random.Random(seed), set(exclude), []
    while len(out) < n:
        w = "".join(rng.choice(LETTERS) for _ in range(rng.randint(3, 5)))
        if w not in seen:
            seen.add(w)
            out.append(w)
    return out


def write_jsonl(path, records) -> str:
    path = pathlib.Path(path)
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return str(path)


def reverse_examples(ws):
    """SFT: reverse the letters; "answer" makes the eval check greedy completions."""
    return [{"prompt": f"reverse: {w}", "response": w[::-1], "answer": w[::-1]} for w in ws]


def case_preferences(ws):
    """Preferences: the echo in capitals is preferred to the echo as typed."""
    return [{"prompt": f"say: {w}", "chosen": w.upper(), "rejected": w} for w in ws]


def chat_corpus(path, n: int, seed: int = 0) -> str:
    """Pretraining documents in the chat format: "say: w" answered by w or W.upper(), 50/50."""
    rng = random.Random(seed + 1)
    docs = [
        {"text": f"<|user|>\nsay: {w}\n<|assistant|>\n{w if rng.random() < 0.5 else w.upper()}"}
        for w in words(n, seed)
    ]
    return write_jsonl(path, docs)


def pretrain(workdir, corpus, cache_dir, steps: int, **model):
    """A small byte-level LM on `corpus`; returns the run directory."""
    c = get_default_config()
    c.model.update(d_model=32, d_ff=64, n_heads=2, n_kv_heads=2, n_layers=2, max_seq_len=64)
    c.model.update(**model)
    c.data.update(corpus=str(corpus), seq_len=64, batch_size=16, eval_tokens=2048)
    c.data.cache_dir = str(cache_dir)
    c.train.update(steps=steps, warmup_steps=min(20, steps // 5))
    c.eval.every_steps = c.checkpoint.every_steps = steps
    c.log.every_steps = max(1, steps // 4)
    train(c, workdir)
    return workdir
