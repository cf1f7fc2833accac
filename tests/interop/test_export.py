"""Export → transformers: same logits, loadable config and tokenizer, refusals before writing."""

import json

import numpy as np
import pytest

from llm_jax.checkpoint import CheckpointError
from llm_jax.config import ConfigError
from llm_jax.data.tokenizer import ByteTokenizer
from llm_jax.interop.export import export_params
from tests.interop.helpers import logits, random_params, require, tiny_model, tokens_for

transformers = require("transformers")
torch = require("torch")

CASES = {  # every value of each axis appears: scan/unrolled, GQA/MHA, tied/untied, two thetas
    "scan-gqa-tied-1e4": dict(scan_layers=True, n_kv_heads=2, tie_embeddings=True),
    "unrolled-mha-untied-5e5": dict(
        scan_layers=False, n_kv_heads=4, tie_embeddings=False, rope_theta=5e5
    ),
    "scan-mqa-untied-5e5": dict(
        scan_layers=True, n_kv_heads=1, tie_embeddings=False, rope_theta=5e5
    ),
    "unrolled-gqa-tied-1e4": dict(scan_layers=False, n_kv_heads=2, tie_embeddings=True),
}


def hf_logits(directory, tokens):
    model = transformers.AutoModelForCausalLM.from_pretrained(directory, dtype=torch.float32)
    with torch.no_grad():
        return model(torch.tensor(np.asarray(tokens))).logits.numpy(), model


@pytest.mark.parametrize("case", CASES)
def test_transformers_logits_equal_llm_jax(case, tmp_path):
    cfg = tiny_model(**CASES[case])
    params = random_params(cfg)
    tokens = tokens_for(cfg)
    ours = logits(cfg, params, tokens)
    export_params(cfg, params, ByteTokenizer(), tmp_path / "hf")
    theirs, model = hf_logits(tmp_path / "hf", tokens)
    assert type(model).__name__ == "LlamaForCausalLM"
    assert ours.std() > 1.0  # logits far from uniform, so the 1e-4 bound means something
    assert np.abs(ours - theirs).max() <= 1e-4
    assert (ours.argmax(-1) == theirs.argmax(-1)).all()
    hf = json.loads((tmp_path / "hf" / "config.json").read_text())
    assert hf["tie_word_embeddings"] == cfg.tie_embeddings
    assert hf["num_key_value_heads"] == cfg.n_kv_heads
    assert model.config.rope_parameters["rope_theta"] == cfg.rope_theta


def test_sharded_export_has_an_index_and_loads(tmp_path):
    cfg = tiny_model(tie_embeddings=False)
    params = random_params(cfg)
    files = export_params(cfg, params, ByteTokenizer(), tmp_path / "hf", max_shard_bytes=20_000)
    shards = [f for f in files if f.endswith(".safetensors")]
    assert len(shards) > 2 and "model.safetensors.index.json" in files
    index = json.loads((tmp_path / "hf" / "model.safetensors.index.json").read_text())
    assert set(index["weight_map"].values()) == set(shards)
    tokens = tokens_for(cfg)
    theirs, _ = hf_logits(tmp_path / "hf", tokens)
    assert np.abs(logits(cfg, params, tokens) - theirs).max() <= 1e-4


def test_bfloat16_export_is_bfloat16_and_close(tmp_path):
    from safetensors import safe_open

    cfg = tiny_model()
    params = random_params(cfg)
    export_params(cfg, params, ByteTokenizer(), tmp_path / "hf", dtype="bfloat16")
    with safe_open(tmp_path / "hf" / "model.safetensors", framework="np") as f:
        assert {f.get_slice(n).get_dtype() for n in f.keys()}  # noqa: SIM118 (safe_open is no dict) == {"BF16"}
    assert json.loads((tmp_path / "hf" / "config.json").read_text())["torch_dtype"] == "bfloat16"
    tokens = tokens_for(cfg)
    theirs, _ = hf_logits(tmp_path / "hf", tokens)
    assert np.abs(logits(cfg, params, tokens) - theirs).max() < 0.2 * np.abs(theirs).max()


REFUSED = {
    "norm": "layernorm",
    "mlp": "gelu",
    "pos_encoding": ["learned", "sinusoidal", "none"],
}


@pytest.mark.parametrize(
    "key,value", [(k, v) for k, vs in REFUSED.items() for v in np.atleast_1d(vs).tolist()]
)
def test_inexpressible_configs_are_refused_before_writing(key, value, tmp_path):
    cfg = tiny_model(**{key: value})
    params = random_params(cfg)
    with pytest.raises(ConfigError, match=f"model.{key}='{value}'"):
        export_params(cfg, params, ByteTokenizer(), tmp_path / "hf")
    assert list(tmp_path.iterdir()) == []


def test_unknown_model_keys_are_refused(tmp_path):
    cfg = tiny_model()
    params = random_params(cfg)
    cfg.qk_norm = True  # a key added to the model later, unknown to the exporter
    with pytest.raises(ConfigError, match="model.qk_norm=True has no known LlamaConfig"):
        export_params(cfg, params, ByteTokenizer(), tmp_path / "hf")


def test_an_existing_directory_is_never_overwritten(tmp_path):
    cfg = tiny_model()
    (tmp_path / "hf").mkdir()
    (tmp_path / "hf" / "keep.txt").write_text("mine")
    with pytest.raises(CheckpointError, match="not an empty directory"):
        export_params(cfg, random_params(cfg), ByteTokenizer(), tmp_path / "hf")
    assert (tmp_path / "hf" / "keep.txt").read_text() == "mine"
