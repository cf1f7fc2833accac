"""Score responses with a trained reward model (a train.mode=reward run directory).

Each JSONL record is an SFT example ({"prompt", "response"} or {"messages"}; gets "score") or a
preference pair ({"prompt", "chosen", "rejected"}; gets "chosen_score" and "rejected_score").
The score is the reward head at the response's closing EOS, the token it was trained on. A
conversation longer than data.seq_len is fitted as in training; one whose response alone does
not fit scores None.
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import numpy as np
from etils import epath

from llm_jax import checkpoint as ckpt
from llm_jax.data.chat import ChatTemplate, load_template, render
from llm_jax.data.examples import conversation, preference, read_jsonl
from llm_jax.data.packing import empty_rows, fit, to_rows
from llm_jax.data.tokenizer import load_tokenizer_from_dir
from llm_jax.finetune.losses import last_rewards
from llm_jax.model import Transformer, model_config


@dataclasses.dataclass
class RewardModel:
    config: object
    params: dict
    tokenizer: object
    template: ChatTemplate

    def scores(self, conversations, batch_size: int = 16) -> list[float | None]:
        """The reward of each conversation (messages ending with the assistant's response)."""
        d, pad_id = self.config.data, self.tokenizer.pad_id
        rendered = [render(self.template, self.tokenizer, c) for c in conversations]
        fitted, counts = fit([(r,) for r in rendered], d.seq_len, d.too_long)
        kept = counts.kept
        one_each = [[i] for i in range(len(fitted))]
        rows = to_rows([g[0] for g in fitted], one_each, d.seq_len, pad_id)
        fill = empty_rows(batch_size, d.seq_len, pad_id)
        score = _score_fn(model_config(self.config.model))
        scored = []
        for start in range(0, len(fitted), batch_size):
            n = min(batch_size, len(fitted) - start)  # the last batch is filled up to full size
            batch = {k: np.concatenate([v[start:][:n], fill[k][n:]]) for k, v in rows.items()}
            scored += np.asarray(score(self.params, batch))[:n].tolist()
        out: list[float | None] = [None] * len(conversations)
        for i, value in zip(kept, scored, strict=True):
            out[i] = float(value)
        return out


@functools.lru_cache(maxsize=4)
def _score_fn(model_cfg):
    return jax.jit(functools.partial(last_rewards, Transformer(model_cfg, head="reward")))


def load_reward_model(workdir, step: int | None = None) -> RewardModel:
    config = ckpt.load_config(workdir)
    if config.train.get("mode") != "reward":
        raise ckpt.CheckpointError(
            f"{workdir} is not a reward model (train.mode={config.train.get('mode')!r}); train one "
            "with tools/finetune.py --mode=reward"
        )
    _, params = ckpt.load_params(workdir, step)
    directory = epath.Path(workdir) / "tokenizer"
    tokenizer = load_tokenizer_from_dir(directory)
    return RewardModel(config, params, tokenizer, load_template(directory) or ChatTemplate())


def score_file(model: RewardModel, path: str, batch_size: int = 16) -> list[dict]:
    """Each record of the JSONL file with its score field(s) added."""
    records, conversations, slots = [], [], []
    for where, record in read_jsonl(path):
        if isinstance(record, dict) and ("chosen" in record or "rejected" in record):
            pair = preference(record, where)
            for key, response in (("chosen_score", pair.chosen), ("rejected_score", pair.rejected)):
                slots.append((len(records), key))
                conversations.append(pair.conversation(response))
        else:
            slots.append((len(records), "score"))
            conversations.append(conversation(record, where).messages)
        records.append(dict(record))
    for (i, key), value in zip(slots, model.scores(conversations, batch_size), strict=True):
        records[i][key] = value
    return records
