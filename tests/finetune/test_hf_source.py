"""Fine-tuning from train.init_from=hf:DIR: a run exported by llm_jax/interop starts exactly
where fine-tuning from the run itself starts (same parameters, same first losses); a reward model
loads all but the unembedding and gets a fresh reward_head; bad directories are one line."""

import shutil

import jax
import numpy as np
import pytest

from llm_jax.checkpoint import load_params
from llm_jax.finetune import finetune, finetune_config, make_task
from llm_jax.train.setup import build
from tests.finetune.helpers import (
    case_preferences,
    chat_corpus,
    pretrain,
    reverse_examples,
    words,
    write_jsonl,
)
from tests.finetune.test_cli import run_tool
from tests.train.cli import read_metrics

pytest.importorskip("safetensors", reason="needs the [hf] extra: pip install -e '.[dev,hf]'")
pytest.importorskip("tokenizers", reason="needs the [hf] extra: pip install -e '.[dev,hf]'")

SHORT = {"train.steps": 2, "train.warmup_steps": 1, "data.batch_size": 8, "log.every_steps": 1}


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """(run, DIR): an untied tiny LM pretrained for 2 steps, and its Hugging Face export."""
    from llm_jax.interop.export import export_run

    root = tmp_path_factory.mktemp("hf_source")
    corpus = chat_corpus(root / "corpus.jsonl", 2000)
    run = pretrain(root / "run", corpus, root / "cache", steps=2, tie_embeddings=False)
    export_run(run, root / "hf")
    return run, root / "hf"


@pytest.fixture
def sft_data(tmp_path):
    examples = [{k: e[k] for k in ("prompt", "response")} for e in reverse_examples(words(20, 0))]
    return write_jsonl(tmp_path / "sft.jsonl", examples)


def initial_params(config, workdir):
    task = make_task(config, workdir)
    parts = build(config, objective=task.objective)
    state = task.initial_state(parts)
    return jax.device_get(state.params), parts.state_shardings.params, state.params


def assert_equal_trees(a, b):
    assert jax.tree.structure(a) == jax.tree.structure(b)
    jax.tree.map(np.testing.assert_array_equal, a, b)


def test_sft_from_hf_starts_from_the_exported_run(exported, sft_data, tmp_path):
    run, hf = exported
    from_run = finetune_config("sft", str(run), sft_data, SHORT)
    from_hf = finetune_config("sft", f"hf:{hf}", sft_data, SHORT)
    assert from_hf.model.to_dict() == from_run.model.to_dict()
    assert (from_hf.data.seq_len, from_hf.data.tokenizer) == (64, "byte")

    params, _, _ = initial_params(from_hf, tmp_path / "probe")
    assert not from_hf.model.tie_embeddings and "unembed" in params
    assert_equal_trees(params, jax.device_get(load_params(run)[1]))  # bitwise

    finetune(from_run, tmp_path / "ft_run")
    finetune(from_hf, tmp_path / "ft_hf")
    losses = [[r["loss"] for r in read_metrics(tmp_path / d)] for d in ("ft_run", "ft_hf")]
    assert len(losses[0]) == 2 and losses[1] == losses[0]  # same start, data and seed


def test_a_reward_model_from_hf_loads_all_but_the_unembedding(exported, tmp_path):
    run, hf = exported
    prefs = write_jsonl(tmp_path / "prefs.jsonl", case_preferences(words(20, 3)))
    config = finetune_config("reward", f"hf:{hf}", prefs, SHORT)
    params, shardings, placed = initial_params(config, tmp_path / "probe")
    assert set(params) == {"embed", "blocks", "final_norm", "reward_head"}
    lm = jax.device_get(load_params(run)[1])
    assert_equal_trees({k: v for k, v in params.items() if k != "reward_head"},
                       {k: v for k, v in lm.items() if k != "unembed"})  # fmt: skip
    head = params["reward_head"]["kernel"]
    assert head.shape == (config.model.d_model,) and 0 < head.std() < 4 * config.model.init_std
    # the fresh head is the seed's, as from the run directory itself
    same, _, _ = initial_params(finetune_config("reward", str(run), prefs, SHORT), tmp_path / "p2")
    assert_equal_trees(params, same)
    assert jax.tree.map(lambda x: x.sharding, placed) == shardings


def _without_safetensors(hf, tmp_path):
    copy = tmp_path / "no_weights"
    shutil.copytree(hf, copy, ignore=shutil.ignore_patterns("*.safetensors*"))
    return [f"--init_from=hf:{copy}"], "has neither model.safetensors nor"


BAD = {
    "missing": lambda hf, tmp_path: ([f"--init_from=hf:{tmp_path / 'nowhere'}"], "not a directory"),
    "no_safetensors": _without_safetensors,
    "shape_override": lambda hf, tmp_path: (
        [f"--init_from=hf:{hf}", "--config.model.d_model=64"],
        r"model.d_model=64 (the Hugging Face model has 32)",
    ),
}


@pytest.mark.parametrize("case", BAD)
def test_bad_hf_sources_are_one_line_and_nothing_is_written(exported, sft_data, tmp_path, case):
    args, named = BAD[case](exported[1], tmp_path)
    workdir = tmp_path / "ft"
    result = run_tool("finetune", "--mode=sft", f"--data={sft_data}", f"--workdir={workdir}", *args)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr[-2000:]
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: train.init_from='hf:") and named in last, last
    assert not workdir.exists()
