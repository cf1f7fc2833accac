"""A fine-tuning run's config and start: what comes from the init run, and what is refused
(one-line messages, before anything is compiled)."""

import json
import random
import shutil
import string

import pytest

from llm_jax.checkpoint import CheckpointError, load_config
from llm_jax.config import ConfigError, validate
from llm_jax.data import DataError, SentencePieceTokenizer, train_sentencepiece
from llm_jax.finetune import finetune, finetune_config, make_task
from llm_jax.finetune.config import MODE_DEFAULTS
from tests.finetune.helpers import reverse_examples, words, write_jsonl


@pytest.fixture
def sft_data(tmp_path):
    return write_jsonl(tmp_path / "sft.jsonl", reverse_examples(words(20, 0)))


def test_the_init_runs_model_and_seq_len_are_inherited(base_run, sft_data):
    config = finetune_config(
        "sft", str(base_run), sft_data, {"train.steps": 3, "model.remat": "full"}
    )
    saved = load_config(base_run)
    assert {k: v for k, v in config.model.items() if k != "remat"} == {
        k: v for k, v in saved.model.items() if k != "remat"
    }
    assert config.model.remat == "full"  # a key that keeps the shapes may change
    assert config.data.seq_len == saved.data.seq_len
    assert (config.train.steps, config.train.lr) == (3, MODE_DEFAULTS["sft"]["train.lr"])
    assert (config.train.mode, config.train.init_from) == ("sft", str(base_run))


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"model.d_model": 64}, r"model.d_model=64 \(the run has 32\)"),
        ({"model.tie_embeddings": False}, "model.tie_embeddings=False"),
        ({"data.tokenizer": "bpe:300"}, "keeps the init run's tokenizer"),
        ({"train.colour": 1}, "unknown config key 'train.colour'"),
    ],
)
def test_overrides_that_do_not_fit_the_init_run_are_refused(base_run, sft_data, overrides, message):
    with pytest.raises(ConfigError, match=message) as e:
        finetune_config("sft", str(base_run), sft_data, overrides)
    assert "\n" not in str(e.value)


def test_init_runs_that_cannot_start_fine_tuning_are_refused(base_run, sft_data, tmp_path):
    with pytest.raises(CheckpointError, match="config.json not found"):
        finetune_config("sft", str(tmp_path / "nowhere"), sft_data)
    reward = tmp_path / "reward"
    shutil.copytree(base_run, reward)
    saved = json.loads((reward / "config.json").read_text())
    saved["train"]["mode"] = "reward"
    (reward / "config.json").write_text(json.dumps(saved))
    with pytest.raises(CheckpointError, match="is a reward model"):
        finetune_config("dpo", str(reward), sft_data)
    config = finetune_config("sft", f"{base_run}:999", sft_data)
    with pytest.raises(CheckpointError, match="no checkpoint at step 999; have"):
        make_task(config, tmp_path / "ft")
    empty = tmp_path / "untrained"
    shutil.copytree(base_run, empty, ignore=shutil.ignore_patterns("checkpoints"))
    with pytest.raises(CheckpointError, match="no checkpoint in"):
        make_task(finetune_config("sft", str(empty), sft_data), tmp_path / "ft")


def test_a_tokenizer_larger_than_the_model_is_refused(base_run, sft_data, tmp_path):
    """The init run's tokenizer/ was swapped for a 512-piece one; its model has 320 ids."""
    run = tmp_path / "swapped"
    shutil.copytree(base_run, run)
    rng = random.Random(0)
    text = " ".join("".join(rng.choices(string.ascii_lowercase, k=4)) for _ in range(5000))
    model = train_sentencepiece([text], 512, tmp_path / "sp")
    shutil.rmtree(run / "tokenizer")
    SentencePieceTokenizer(model).save(run / "tokenizer")
    config = finetune_config("sft", str(run), sft_data, {"train.steps": 20})
    with pytest.raises(ConfigError, match="smaller than the tokenizer's vocab"):
        finetune(config, tmp_path / "ft")
    assert not list((tmp_path / "ft").glob("checkpoints/*"))  # refused before any step


def test_bad_examples_are_refused_when_the_task_is_made(base_run, tmp_path):
    path = write_jsonl(tmp_path / "bad.jsonl", [{"prompt": "p", "response": "r"}, {"prompt": "p"}])
    config = finetune_config("sft", str(base_run), path)
    with pytest.raises(DataError, match=f'^{path}:2: missing field "response"$'):
        make_task(config, tmp_path / "ft")
    pairs = write_jsonl(tmp_path / "pairs.jsonl", [{"prompt": "p", "chosen": "x", "rejected": "x"}])
    with pytest.raises(DataError, match=f"^{pairs}:1: .* identical"):
        make_task(finetune_config("dpo", str(base_run), pairs), tmp_path / "ft")


def test_validate_asks_fine_tuning_for_an_init_run_and_examples():
    from llm_jax.config import get_default_config

    config = get_default_config()
    config.train.mode = "dpo"
    config.train.dpo_beta = 0.0
    with pytest.raises(ConfigError) as e:
        validate(config)
    for key in ("train.init_from", "data.examples", "train.dpo_beta"):
        assert key in str(e.value)
    config.train.update(mode="pretrain", init_from="runs/trunk")  # a branch needs its step
    with pytest.raises(ConfigError, match="must be 'WORKDIR:STEP'"):
        validate(config)
