"""The chat template: messages → token ids, and which of them are trained (assistant turns).

A conversation is rendered as

    EOS  <|system|>\\n{content}\\n  <|user|>\\n{content}\\n  <|assistant|>\\n{content} EOS  ...

The leading EOS starts a document, as EOS separates documents in pretraining (and as
`tools/sample.py` starts prompts). Each assistant turn ends with EOS, so generation stops there.
Only assistant contents and their closing EOS are trained; markers, system and user turns are
context. Every piece is tokenized on its own, so the boundary between prompt and response is a
token boundary whatever the tokenizer, and a prompt encodes identically in training and sampling.

The template is saved beside the tokenizer (DIR/tokenizer/chat_template.json) by fine-tuning
runs; sampling a run that has one formats the prompt with it.
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np
from etils import epath

from llm_jax.data.sources import DataError

FILE = "chat_template.json"
ROLES = ("system", "user", "assistant")


@dataclasses.dataclass(frozen=True)
class ChatTemplate:
    """Text around each turn; `{content}` is replaced by the message's content."""

    name: str = "llm_jax.chat.v1"
    system: str = "<|system|>\n{content}\n"
    user: str = "<|user|>\n{content}\n"
    assistant: str = "<|assistant|>\n"  # before the assistant's content; EOS closes the turn

    def save(self, directory) -> None:
        path = epath.Path(directory)
        path.mkdir(parents=True, exist_ok=True)
        (path / FILE).write_text(json.dumps(dataclasses.asdict(self), indent=2) + "\n")


def load_template(directory) -> ChatTemplate | None:
    """The template saved in `directory` (a run's tokenizer/), or None when it has none."""
    path = epath.Path(directory) / FILE
    if not path.exists():
        return None
    try:
        return ChatTemplate(**json.loads(path.read_text()))
    except (TypeError, ValueError) as e:
        raise DataError(f"{path} is not a chat template ({e}); restore it from the run") from e


@dataclasses.dataclass
class Rendered:
    """One conversation's tokens; trained[i]: token i is a response token (has a loss)."""

    ids: np.ndarray  # (n,) int32
    trained: np.ndarray  # (n,) bool
    response_start: int  # index of the last assistant turn's first content token


def render(template: ChatTemplate, tokenizer, messages) -> Rendered:
    """Token ids of a conversation (its last message is the assistant's response)."""
    pieces: list[tuple[list[int], bool]] = [([tokenizer.eos_id], False)]
    response_start = 0
    for message in messages:
        role, content = message["role"], message["content"]
        if role != "assistant":
            text = getattr(template, role).replace("{content}", content)
            pieces.append((tokenizer.encode(text), False))
            continue
        pieces.append((tokenizer.encode(template.assistant), False))
        response_start = sum(len(ids) for ids, _ in pieces)
        pieces.append(([*tokenizer.encode(content), tokenizer.eos_id], True))
    ids = np.concatenate([np.asarray(p, np.int32) for p, _ in pieces])
    trained = np.concatenate([np.full(len(p), t, bool) for p, t in pieces])
    return Rendered(ids, trained, response_start)


def prompt_ids(template: ChatTemplate, tokenizer, messages) -> list[int]:
    """The ids a model continues to answer `messages` (which end before the response): the
    rendering of messages + an assistant turn, cut where its content would start."""
    rendered = render(template, tokenizer, [*messages, {"role": "assistant", "content": ""}])
    return rendered.ids[: rendered.response_start].tolist()
