"""Text in, completions out: encode the prompt, decode with the KV cache, detokenize (streaming)."""

from __future__ import annotations

from collections.abc import Callable

from llm_jax import sampling
from llm_jax.data.chat import prompt_ids
from llm_jax.inspection.run import Run, RunError, encode_prompt

# Printed between samples when there are several; a line no completion of one sample contains.
SEPARATOR = "\n----\n"


class TextStream:
    """Feeds decoded text to `write` as tokens arrive, holding back unfinished UTF-8 characters."""

    def __init__(self, tokenizer, write: Callable[[str], None]):
        self.tokenizer, self.write = tokenizer, write
        self.ids: list[int] = []
        self.emitted = ""

    def on_step(self, step, tokens_B, done_B) -> None:
        """sampling.generate's on_step for a batch of one."""
        del step
        token = int(tokens_B[0])
        if not done_B[0] and token != self.tokenizer.eos_id:
            self.ids.append(token)
            self.flush(final=False)

    def flush(self, final: bool = True) -> None:
        text = self.tokenizer.decode(self.ids)
        if not final and text.endswith("\ufffd"):  # a multi-byte character still arriving
            return
        self.write(text[len(self.emitted) :])
        self.emitted = text


def complete(
    run: Run,
    prompt: str,
    *,
    max_new_tokens: int,
    sampler: sampling.Sampler,
    seed: int = 0,
    num_samples: int = 1,
    doc_start: bool = True,
    write: Callable[[str], None] | None = None,
    chat: bool = True,
) -> list[str]:
    """num_samples completions of `prompt`; with `write`, each is streamed to it as it is made.

    Sample i uses the randomness of row i, so streamed (one at a time) and batched runs agree.
    With `chat` and a run that has a chat template (a fine-tuned run), the prompt is a user turn
    and the completion the assistant's answer, formatted as in fine-tuning.
    """
    if chat and run.chat_template is not None:
        user = [{"role": "user", "content": prompt}]
        ids = prompt_ids(run.chat_template, run.tokenizer, user)
    else:
        ids = encode_prompt(run.tokenizer, prompt, doc_start)
    if len(ids) + max_new_tokens > run.model_cfg.max_seq_len:
        raise RunError(
            f"the prompt ({len(ids)} tokens) + --max_new_tokens={max_new_tokens} exceeds "
            f"model.max_seq_len={run.model_cfg.max_seq_len}; shorten the prompt or lower "
            "--max_new_tokens"
        )
    kwargs = dict(
        max_new_tokens=max_new_tokens,
        sampler=sampler,
        seed=seed,
        eos_id=run.tokenizer.eos_id,
        pad_id=run.tokenizer.pad_id,
        vocab_limit=run.tokenizer.vocab_size,
    )
    if write is None:
        out = sampling.generate(run.model_cfg, run.params, [ids] * num_samples, **kwargs)
        return [run.tokenizer.decode(row) for row in out.rows()]
    texts = []
    for i in range(num_samples):
        if i:
            write(SEPARATOR)
        stream = TextStream(run.tokenizer, write)
        out = sampling.generate(
            run.model_cfg, run.params, [ids], first_row=i, on_step=stream.on_step, **kwargs
        )
        stream.flush()
        texts.append(run.tokenizer.decode(out.rows()[0]))
    return texts
