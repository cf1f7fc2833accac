"""Fine-tuning examples from JSONL files, local or remote (any fsspec URL; .gz is inflated).

One JSON object per line (blank lines are skipped):
- SFT: {"prompt": str, "response": str} or {"messages": [{"role": system|user|assistant,
  "content": str}, ...]} ending with the assistant's response; optional "answer": str, the text
  a greedy completion of the prompt must equal (exact-match eval).
- Preferences (reward models, DPO): {"prompt": str, "chosen": str, "rejected": str}.
Every problem is a DataError naming the file and line, found before anything is compiled.
"""

from __future__ import annotations

import dataclasses
import json

import fsspec

from llm_jax.data.chat import ROLES
from llm_jax.data.sources import DataError


@dataclasses.dataclass(frozen=True)
class Conversation:
    messages: tuple  # dicts {"role", "content"}; the last is the assistant's response
    answer: str | None  # what a greedy completion must equal, when the data has a checker
    where: str  # FILE:LINE


@dataclasses.dataclass(frozen=True)
class Preference:
    prompt: str
    chosen: str  # the preferred response
    rejected: str
    where: str

    def conversation(self, response: str) -> tuple:
        return (
            {"role": "user", "content": self.prompt},
            {"role": "assistant", "content": response},
        )


def read_jsonl(path: str):
    """(FILE:LINE, object) for each non-blank line."""
    try:
        with fsspec.open(path, "rt", encoding="utf-8", compression="infer") as f:
            lines = list(f)
    except FileNotFoundError:
        raise DataError(f"{path}: no such file (data.examples / data.eval_examples)") from None
    except UnicodeDecodeError as e:
        raise DataError(f"{path}: not UTF-8 text ({e.reason}); pass a .jsonl file") from None
    records = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            records.append((where, json.loads(line)))
        except json.JSONDecodeError as e:
            raise DataError(f"{where}: not valid JSON ({e.msg}, column {e.colno})") from None
    if not records:
        raise DataError(f"{path}: no examples (the file is empty); one JSON object per line")
    return records


def load_conversations(path: str) -> list[Conversation]:
    """SFT examples; raises DataError at the first bad line."""
    return [conversation(record, where) for where, record in read_jsonl(path)]


def load_preferences(path: str) -> list[Preference]:
    """Preference pairs; raises DataError at the first bad line."""
    return [preference(record, where) for where, record in read_jsonl(path)]


def _string(record: dict, key: str, where: str, nonempty: bool = False) -> str:
    if key not in record:
        raise DataError(f'{where}: missing field "{key}"')
    value = record[key]
    if not isinstance(value, str):
        raise DataError(f'{where}: field "{key}" must be a string, not {type(value).__name__}')
    if nonempty and not value.strip():
        raise DataError(f'{where}: field "{key}" is empty; every response needs text')
    return value


def _object(record, where: str) -> dict:
    if not isinstance(record, dict):
        raise DataError(f"{where}: each line must be a JSON object, not {type(record).__name__}")
    return record


def conversation(record, where: str) -> Conversation:
    """An SFT example from one JSON record; DataError naming `where` if it is not one."""
    record = _object(record, where)
    answer = _string(record, "answer", where) if "answer" in record else None
    if "messages" in record:
        return Conversation(_messages(record["messages"], where), answer, where)
    if "chosen" in record or "rejected" in record:
        raise DataError(
            f'{where}: a preference pair ("chosen"/"rejected") in SFT data; train it with '
            "--mode=reward or --mode=dpo"
        )
    if "prompt" not in record and "response" not in record:
        raise DataError(f'{where}: needs "prompt" and "response", or "messages"')
    prompt = _string(record, "prompt", where)
    response = _string(record, "response", where, nonempty=True)
    messages = ({"role": "user", "content": prompt}, {"role": "assistant", "content": response})
    return Conversation(messages, answer, where)


def _messages(messages, where: str) -> tuple:
    if not isinstance(messages, list) or not messages:
        raise DataError(f'{where}: "messages" must be a non-empty list of {{"role", "content"}}')
    checked = []
    for i, message in enumerate(messages):
        at = f"{where}: messages[{i}]"
        if not isinstance(message, dict):
            raise DataError(f'{at} must be an object {{"role", "content"}}')
        role = _string(message, "role", at)
        if role not in ROLES:
            raise DataError(f'{at}: role "{role}" is not one of {", ".join(ROLES)}')
        checked.append({"role": role, "content": _string(message, "content", at)})
    if checked[-1]["role"] != "assistant":
        raise DataError(f"{where}: the last message must be the assistant's (the response)")
    _string(checked[-1], "content", f"{where}: messages[{len(checked) - 1}]", nonempty=True)
    return tuple(checked)


def preference(record, where: str) -> Preference:
    """A preference pair from one JSON record; DataError naming `where` if it is not one."""
    record = _object(record, where)
    if "chosen" not in record and "rejected" not in record:
        raise DataError(
            f'{where}: needs "prompt", "chosen" and "rejected" (a preference pair); SFT data '
            "trains with --mode=sft"
        )
    prompt = _string(record, "prompt", where)
    chosen = _string(record, "chosen", where, nonempty=True)
    rejected = _string(record, "rejected", where, nonempty=True)
    if chosen == rejected:
        raise DataError(f'{where}: "chosen" and "rejected" are identical; a pair must differ')
    return Preference(prompt, chosen, rejected, where)
