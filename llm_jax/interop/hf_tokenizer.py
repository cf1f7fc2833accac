"""llm_jax tokenizers as Hugging Face tokenizers (tokenizer.json and its config files), and back.

Ids are identical both ways. The byte tokenizer becomes a byte-level BPE without merges (bytes
0..255, then BOS, EOS, PAD). A SentencePiece BPE model becomes a `tokenizers` BPE with the same
pieces and ids, merges ranked by piece score (the order SentencePiece merges in), byte fallback and
the "▁" whitespace marker; the .model file is copied too. Neither adds BOS (llm_jax trains on
documents separated by EOS), and special-token text such as "<s>" is tokenized like any other
text (split_special_tokens), as llm_jax's own tokenizers do.
"""

from __future__ import annotations

import json
import pathlib
import tempfile

from sentencepiece import sentencepiece_model_pb2

from llm_jax.data.sources import DataError
from llm_jax.data.tokenizer import ByteTokenizer, SentencePieceTokenizer

_BYTE_SPECIALS = ("<s>", "</s>", "<pad>")  # ids 256, 257, 258, as ByteTokenizer numbers them
_Piece = sentencepiece_model_pb2.ModelProto.SentencePiece
_SP_BPE = sentencepiece_model_pb2.TrainerSpec.BPE


def byte_chars() -> dict[int, str]:
    """The printable stand-in for each byte that the ByteLevel pre-tokenizer uses (GPT-2's)."""
    printable = [*range(0x21, 0x7F), *range(0xA1, 0xAD), *range(0xAE, 0x100)]
    others = [b for b in range(256) if b not in printable]
    return {b: chr(b) for b in printable} | {b: chr(256 + i) for i, b in enumerate(others)}


def byte_tokenizer_json() -> str:
    """tokenizer.json of a `tokenizers` tokenizer with ByteTokenizer's ids."""
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers

    vocab = {char: byte for byte, char in byte_chars().items()}
    assert set(vocab) == set(pre_tokenizers.ByteLevel.alphabet()), "byte alphabet mismatch"
    tokenizer = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.add_special_tokens([AddedToken(t, special=True) for t in _BYTE_SPECIALS])
    return tokenizer.to_str()


def sentencepiece_tokenizer_json(proto: bytes, where: str) -> tuple[str, bool]:
    """(tokenizer.json, adds a dummy prefix) for a SentencePiece BPE model proto."""
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers

    model = sentencepiece_model_pb2.ModelProto.FromString(proto)
    _check_convertible(model, where)
    vocab = {p.piece: i for i, p in enumerate(model.pieces)}
    unk = next(p.piece for p in model.pieces if p.type == _Piece.UNKNOWN)
    bpe = models.BPE(
        vocab=vocab, merges=_merges(model), unk_token=unk, fuse_unk=True, byte_fallback=True
    )
    tokenizer = Tokenizer(bpe)
    prefix = model.normalizer_spec.add_dummy_prefix
    scheme = "first" if prefix else "never"  # SentencePiece adds "▁" once, before the text
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace("▁", prepend_scheme=scheme, split=False)
    steps = [decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse()]
    tokenizer.decoder = decoders.Sequence(steps + ([decoders.Strip(" ", 1, 0)] if prefix else []))
    specials = {_Piece.CONTROL, _Piece.UNKNOWN}
    tokenizer.add_tokens(  # user-defined pieces are matched whole, before merging, as in SP
        [
            AddedToken(p.piece, normalized=False)
            for p in model.pieces
            if p.type == _Piece.USER_DEFINED
        ]
    )
    tokenizer.add_special_tokens(
        [AddedToken(p.piece, special=True) for p in model.pieces if p.type in specials]
    )
    return tokenizer.to_str(), prefix


def _check_convertible(model, where: str) -> None:
    """Refuse what a `tokenizers` BPE cannot reproduce id for id."""
    spec, norm = model.trainer_spec, model.normalizer_spec
    problems = []
    if spec.model_type != _SP_BPE:
        problems.append(f"model_type is {spec.model_type} (only BPE, {_SP_BPE}, converts)")
    if norm.precompiled_charsmap or norm.name not in ("identity", ""):
        problems.append(f"normalization rule {norm.name!r} (only 'identity' converts)")
    if norm.remove_extra_whitespaces:
        problems.append("remove_extra_whitespaces=true (whitespace runs would be collapsed)")
    if problems:
        raise DataError(
            f"{where}: this SentencePiece model cannot be exported as a Hugging Face tokenizer "
            f"with identical ids: {'; '.join(problems)}. Train it with tools/train_tokenizer.py"
        )


def _merges(model) -> list[tuple[str, str]]:
    """Every (left, right) → piece merge, best piece score first (SentencePiece BPE's order)."""
    mergeable = {p.piece for p in model.pieces if p.type == _Piece.NORMAL}
    normal = [(-p.score, i, p.piece) for i, p in enumerate(model.pieces) if p.type == _Piece.NORMAL]
    merges = []
    for _, _, piece in sorted(normal):
        for cut in range(1, len(piece)):
            left, right = piece[:cut], piece[cut:]
            if left in mergeable and right in mergeable:
                merges.append((left, right))
    return merges


def save_hf_tokenizer(tokenizer, directory, max_length: int) -> None:
    """tokenizer.json, tokenizer_config.json, special_tokens_map.json (and tokenizer.model)."""
    directory = pathlib.Path(directory)
    if isinstance(tokenizer, ByteTokenizer):
        text = byte_tokenizer_json()
        special = dict(zip(("bos_token", "eos_token", "pad_token"), _BYTE_SPECIALS, strict=True))
        extra = {"tokenizer_class": "PreTrainedTokenizerFast"}
    elif isinstance(tokenizer, SentencePieceTokenizer):
        proto = _proto_of(tokenizer)
        text, prefix = sentencepiece_tokenizer_json(proto, tokenizer.spec)
        (directory / "tokenizer.model").write_bytes(proto)
        pieces = sentencepiece_model_pb2.ModelProto.FromString(proto).pieces
        roles = {"bos": tokenizer.bos_id, "eos": tokenizer.eos_id, "pad": tokenizer.pad_id}
        special = {f"{r}_token": pieces[i].piece for r, i in roles.items() if i >= 0}
        special["unk_token"] = next(p.piece for p in pieces if p.type == _Piece.UNKNOWN)
        extra = {"tokenizer_class": "LlamaTokenizer", "add_prefix_space": prefix, "legacy": False}
    else:
        raise DataError(f"cannot export a {type(tokenizer).__name__}: only byte and SentencePiece")
    (directory / "tokenizer.json").write_text(text)
    config = {
        **extra,
        **special,
        "add_bos_token": False,
        "add_eos_token": False,
        "split_special_tokens": True,
        "clean_up_tokenization_spaces": False,
        "model_max_length": max_length,
    }
    _write_json(directory / "tokenizer_config.json", config)
    _write_json(directory / "special_tokens_map.json", special)


def _proto_of(tokenizer: SentencePieceTokenizer) -> bytes:
    """The serialized model, through the tokenizer's public save()."""
    with tempfile.TemporaryDirectory() as tmp:
        tokenizer.save(tmp)
        return (pathlib.Path(tmp) / "tokenizer.model").read_bytes()


def load_hf_tokenizer(directory):
    """The llm_jax tokenizer of a Hugging Face directory: its tokenizer.model (SentencePiece), or
    a tokenizer.json equal to the byte tokenizer's. Anything else is refused."""
    directory = pathlib.Path(directory)
    if (directory / "tokenizer.model").is_file():
        return SentencePieceTokenizer(directory / "tokenizer.model")
    path = directory / "tokenizer.json"
    if path.is_file() and _same_pipeline(json.loads(path.read_text()), byte_tokenizer_json()):
        return ByteTokenizer()
    found = "a tokenizer.json of another kind" if path.is_file() else "no tokenizer files"
    raise DataError(
        f"{directory} has {found}: llm_jax reads a SentencePiece tokenizer.model or the byte "
        "tokenizer.json that tools/export_hf.py writes; add one of them to the directory"
    )


def _same_pipeline(found: dict, expected_text: str) -> bool:
    expected = json.loads(expected_text)
    keys = ("normalizer", "pre_tokenizer", "model", "added_tokens")
    return all(found.get(k) == expected.get(k) for k in keys)


def _write_json(path: pathlib.Path, value: dict) -> None:
    path.write_text(json.dumps(value, indent=2, ensure_ascii=False) + "\n")
