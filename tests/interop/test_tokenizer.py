"""Exported tokenizers give llm_jax's ids, id for id, through transformers' AutoTokenizer."""

import pathlib

import pytest
from sentencepiece import SentencePieceTrainer

from llm_jax.data.sources import DataError
from llm_jax.data.tokenizer import ByteTokenizer, SentencePieceTokenizer, train_sentencepiece
from llm_jax.interop.hf_tokenizer import load_hf_tokenizer, save_hf_tokenizer
from tests.interop.helpers import require

transformers = require("transformers")
require("tokenizers")

TEXTS = {
    "code": 'def f(x):\n\tif x:\n        return {"a": [1, 2]}  # note  \r\n\n\n    pass\n',
    "prose": "The quick brown fox jumps over the lazy dog. Ça coûte 12,50 € — naïve café.",
    "emoji": "ok 👍🏽 family 👨‍👩‍👧 flags 🇫🇷🇯🇵 and 日本語のテキスト。",
    "specials": "text with <s>, </s>, <pad> and <unk> written out",
    "spaces": "  leading, trailing  \n\n\t mixed\u3000whitespace   ",
}
CORPUS = [p.read_text() for p in sorted(pathlib.Path(__file__).parents[2].glob("llm_jax/*/*.py"))]


@pytest.fixture(scope="module")
def bpe(tmp_path_factory):
    prefix = tmp_path_factory.mktemp("bpe") / "bpe"
    return SentencePieceTokenizer(train_sentencepiece(CORPUS, 600, prefix))


def exported(tokenizer, directory):
    save_hf_tokenizer(tokenizer, directory, max_length=1 << 20)
    return transformers.AutoTokenizer.from_pretrained(directory)


@pytest.mark.parametrize("kind", ["byte", "bpe"])
def test_ids_agree_id_for_id(kind, bpe, tmp_path):
    ours = ByteTokenizer() if kind == "byte" else bpe
    theirs = exported(ours, tmp_path)
    for name, text in {**TEXTS, "corpus": CORPUS[0]}.items():
        ids = ours.encode(text)
        assert theirs(text)["input_ids"] == ids, name  # no BOS added, as llm_jax
        assert theirs.decode(ids) == ours.decode(ids), name
    assert (theirs.bos_token_id, theirs.eos_token_id) == (ours.bos_id, ours.eos_id)
    assert theirs.pad_token_id == ours.pad_id
    assert theirs.decode([ours.eos_id, 65], skip_special_tokens=True) == ours.decode([65])


def test_bpe_is_a_llama_tokenizer_with_the_model_file(bpe, tmp_path):
    theirs = exported(bpe, tmp_path)
    assert type(theirs).__name__ == "LlamaTokenizer"
    assert (tmp_path / "tokenizer.model").read_bytes() == pathlib.Path(bpe.spec).read_bytes()
    assert len(theirs) == bpe.vocab_size


@pytest.mark.parametrize("kind", ["byte", "bpe"])
def test_exported_tokenizers_load_back(kind, bpe, tmp_path):
    ours = ByteTokenizer() if kind == "byte" else bpe
    save_hf_tokenizer(ours, tmp_path, max_length=64)
    back = load_hf_tokenizer(tmp_path)
    assert back.fingerprint == ours.fingerprint


def test_a_foreign_tokenizer_json_is_refused(tmp_path):
    (tmp_path / "tokenizer.json").write_text('{"model": {"type": "WordPiece"}}')
    with pytest.raises(DataError, match="tokenizer.json of another kind"):
        load_hf_tokenizer(tmp_path)


def test_unigram_models_are_refused_naming_the_field(tmp_path):
    prefix = tmp_path / "unigram"
    SentencePieceTrainer.train(
        sentence_iterator=iter(CORPUS), model_prefix=str(prefix), vocab_size=300,
        model_type="unigram", minloglevel=2,
    )  # fmt: skip
    with pytest.raises(DataError, match="model_type is 1 .only BPE"):
        save_hf_tokenizer(SentencePieceTokenizer(f"{prefix}.model"), tmp_path, 64)
