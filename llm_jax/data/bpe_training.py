"""Training a SentencePiece BPE model: the options that make it round-trip code and prose exactly,
and the seeded sample of documents it is trained on."""

from __future__ import annotations

import io
import os
import pathlib
import random
from collections.abc import Iterable

import sentencepiece as spm

from llm_jax.data.sources import DataError, utf8

# bpe:N trains on at most this much text (a seeded sample of documents): ~3 s on the stdlib.
TRAIN_BYTES = 16_000_000
_SENTENCE_CHARS = 65_536  # long documents are fed to the trainer in pieces of this size
# SentencePiece's model depends on its thread count: a fixed one trains the same model on every
# machine (hosts that each prepare bpe:N, parts of a store prepared on several machines).
_TRAIN_THREADS = 8


def encodable(text: str) -> str:
    """The text itself, or (rarely) a copy with surrogates fixed, as utf8() does."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return utf8(text).decode("utf-8")


def train_sentencepiece(texts_or_files: Iterable, vocab_size: int, out_prefix) -> str:
    """Train a byte-fallback BPE model on texts (str) or files (pathlib.Path); returns the path."""
    texts = [p.read_text("utf-8") if isinstance(p, os.PathLike) else p for p in texts_or_files]
    model = io.BytesIO()
    try:
        spm.SentencePieceTrainer.train(
            sentence_iterator=_sentences(texts),
            model_writer=model,
            vocab_size=vocab_size,
            model_type="bpe",
            # Exact round trips on code and prose (docs/design.md §4): no normalisation, keep every
            # space, no dummy prefix, and unseen characters fall back to bytes instead of UNK.
            normalization_rule_name="identity",
            remove_extra_whitespaces=False,
            add_dummy_prefix=False,
            byte_fallback=True,
            allow_whitespace_only_pieces=True,  # indentation runs become single pieces
            user_defined_symbols=["\n"],  # a newline piece, not the byte <0x0A>
            split_digits=True,
            max_sentence_length=4 * _SENTENCE_CHARS,
            unk_id=0,
            bos_id=1,
            eos_id=2,
            pad_id=3,
            num_threads=_TRAIN_THREADS,
            minloglevel=2,
        )
    except RuntimeError as e:
        raise DataError(
            f"SentencePiece training with vocab_size={vocab_size} failed: {e}. vocab_size must "
            "exceed 261 (256 bytes, 4 specials, newline) plus the text's distinct characters, "
            "and a small corpus supports only a small vocab_size"
        ) from e
    path = pathlib.Path(f"{out_prefix}.model")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(model.getvalue())
    return str(path)


def _sentences(texts: list[str]):
    """Seeded sample of documents up to TRAIN_BYTES, cut into trainer-sized pieces."""
    order = list(range(len(texts)))
    random.Random(0).shuffle(order)
    taken = 0
    for i in order:
        if taken >= TRAIN_BYTES:
            return
        text = encodable(texts[i])
        taken += len(text)
        for start in range(0, len(text), _SENTENCE_CHARS):
            yield text[start : start + _SENTENCE_CHARS]
