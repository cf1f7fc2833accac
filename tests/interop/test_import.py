"""Hugging Face Llama → llm_jax: same logits, bitwise round trips, shardings, train.init_from."""

import json

import jax
import numpy as np
import pytest

from llm_jax.checkpoint import CheckpointError, load_params
from llm_jax.config import ConfigError, get_default_config
from llm_jax.data.tokenizer import ByteTokenizer
from llm_jax.interop.export import export_params
from llm_jax.interop.hf_config import apply_llama_config, read_llama_config
from llm_jax.interop.hf_weights import read_params
from llm_jax.train.setup import build
from tests.interop.helpers import (
    logits,
    random_params,
    require,
    tiny_model,
    tokens_for,
    train_smoke_run,
)

transformers = require("transformers")
torch = require("torch")


def config_from(directory, **mesh):
    """A full config whose model comes from DIR/config.json, on the given mesh."""
    config = get_default_config()
    apply_llama_config(config.model, read_llama_config(directory), "test")
    config.mesh.update(data=-1, fsdp=1, tensor=1)
    config.mesh.update(**mesh)
    config.data.batch_size = 8
    return config


def imported(directory, config):
    parts = build(config)
    abstract, shardings = parts.abstract_state.params, parts.state_shardings.params
    return read_params(directory, abstract, shardings, tied=config.model.tie_embeddings)


@pytest.mark.parametrize("tied", [False, True])
def test_transformers_initialised_llama_gives_the_same_logits(tied, tmp_path):
    torch.manual_seed(0)
    hf_config = transformers.LlamaConfig(
        vocab_size=300, hidden_size=32, intermediate_size=48, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=32,
        rope_theta=2000.0, tie_word_embeddings=tied, initializer_range=0.3,
    )  # fmt: skip
    model = transformers.LlamaForCausalLM(hf_config)
    with torch.no_grad():  # norm gains away from 1, so a swapped norm would show
        for p in model.parameters():
            p.add_(0.2 * torch.randn_like(p)) if p.ndim == 1 else None
    model.save_pretrained(tmp_path)
    config = config_from(tmp_path)
    assert (config.model.n_kv_heads, config.model.rope_theta) == (2, 2000.0)
    params = jax.device_get(imported(tmp_path, config))
    tokens = tokens_for(config.model, high=300)
    with torch.no_grad():
        theirs = model(torch.tensor(np.asarray(tokens))).logits.numpy()
    ours = logits(config.model, params, tokens)
    assert ours.std() > 1.0
    assert np.abs(ours - theirs).max() <= 1e-4


# Shardings that cut every axis, head_dim included: blocks are read from inside tensors.
ODD_RULES = dict(layers="data", embed="", heads="fsdp", kv_heads="fsdp", head_dim="tensor")


@pytest.mark.parametrize("scan", [True, False])
@pytest.mark.parametrize("rules", ["default", "odd"])
def test_export_import_round_trip_is_bitwise(scan, rules, tmp_path):
    cfg = tiny_model(scan_layers=scan, tie_embeddings=False, n_kv_heads=2)
    params = random_params(cfg)
    export_params(cfg, params, ByteTokenizer(), tmp_path / "hf", max_shard_bytes=30_000)
    config = config_from(tmp_path / "hf", data=2, fsdp=2, tensor=2)
    config.model.scan_layers = scan
    if rules == "odd":
        config.mesh.rules.update(ODD_RULES)
    back = imported(tmp_path / "hf", config)
    query = back["blocks" if scan else "block_0"]["attn"]["query"]["kernel"]
    assert len(query.sharding.device_set) == 8
    jax.tree.map(
        lambda a, b: np.testing.assert_array_equal(np.asarray(a), np.asarray(b)), params, back
    )


def test_missing_and_misshapen_tensors_are_named(tmp_path):
    cfg = tiny_model()
    export_params(cfg, random_params(cfg), ByteTokenizer(), tmp_path / "hf")
    config = config_from(tmp_path / "hf")
    config.model.d_ff = 64
    with pytest.raises(CheckpointError, match=r"mlp.down_proj.weight: file has \(32, 48\)"):
        imported(tmp_path / "hf", config)
    config.model.d_ff, config.model.tie_embeddings = 48, False
    with pytest.raises(CheckpointError, match=r"missing \['lm_head.weight'\]"):
        imported(tmp_path / "hf", config)


def write_config(directory, **changes):
    path = directory / "config.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), **changes}))


@pytest.mark.parametrize(
    "change,named",
    [
        (dict(model_type="mistral"), "model_type='mistral'"),
        (dict(hidden_act="gelu"), "hidden_act='gelu'"),
        (dict(attention_bias=True), "attention_bias=True"),
        (dict(rope_parameters={"rope_type": "llama3", "factor": 8.0}), "rope scaling"),
    ],
)
def test_llama_variants_llm_jax_cannot_run_are_refused(change, named, tmp_path):
    cfg = tiny_model()
    export_params(cfg, random_params(cfg), ByteTokenizer(), tmp_path)
    write_config(tmp_path, **change)
    with pytest.raises(ConfigError, match=named):
        read_llama_config(tmp_path)


def test_init_from_hf_starts_from_exactly_those_params(smoke_run, exported_run, tmp_path):
    trunk, hf = smoke_run, exported_run
    # lr 0 is refused by validate(); an update of ~1e-30 is below every parameter's float32 ulp.
    run = train_smoke_run(tmp_path, **{"train.init_from": f"hf:{hf}", "train.lr": 1e-30})
    config, params = load_params(run)
    trunk_config, trunk_params = load_params(trunk)
    assert config.model.to_dict() == trunk_config.model.to_dict()  # all from config.json
    assert config.data.tokenizer == "byte"
    jax.tree.map(np.testing.assert_array_equal, params, trunk_params)  # unchanged


def test_init_from_hf_refuses_contradicting_overrides(exported_run, tmp_path):
    overrides = {"train.init_from": f"hf:{exported_run}", "model.d_ff": 256, "model.n_layers": 3}
    with pytest.raises(
        ConfigError, match=r"model.n_layers=3 but .* has 2; model.d_ff=256 but .* has 192"
    ):
        train_smoke_run(tmp_path, **overrides)
    assert not (tmp_path / "run").exists()
