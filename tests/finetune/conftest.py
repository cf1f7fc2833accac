"""A tiny pretrained run shared by the fine-tuning tests (seconds of training)."""

import pytest

from tests.finetune.helpers import chat_corpus, pretrain


@pytest.fixture(scope="session")
def base_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("base")
    corpus = chat_corpus(root / "corpus.jsonl", 2000)
    return pretrain(root / "run", corpus, root / "cache", steps=8)
