"""The model config as a Hugging Face LlamaConfig (config.json) and back, with refusals.

Every model key is either mapped to a LlamaConfig field, required to have the one value Llama
expresses, or known not to change the function the model computes. A key in none of these
(added to the model later) is refused rather than exported wrongly.
"""

from __future__ import annotations

import dataclasses
import json
import pathlib

from llm_jax.config import ConfigError, get_default_config

# Model key → LlamaConfig field, for the keys that carry over one to one.
MAPPED = {
    "vocab_size": "vocab_size",
    "d_model": "hidden_size",
    "n_layers": "num_hidden_layers",
    "n_heads": "num_attention_heads",
    "n_kv_heads": "num_key_value_heads",
    "d_ff": "intermediate_size",
    "max_seq_len": "max_position_embeddings",
    "rope_theta": "rope_theta",
    "norm_eps": "rms_norm_eps",
    "tie_embeddings": "tie_word_embeddings",
}
# The only value Llama can express for each of these keys.
REQUIRED = {"pos_encoding": "rope", "norm": "rmsnorm", "mlp": "swiglu"}
# Keys that change how the function is computed or stored, never what it is.
NEUTRAL = (
    "init_std",
    "dtype",
    "param_dtype",
    "remat",
    "scan_layers",
    "scan_unroll",
    "attention",
    "attention_block",
)

_LLAMA_SIZES = ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads")
_LLAMA_SIZES += ("intermediate_size",)
_LLAMA_FIXED = {  # LlamaConfig fields that must hold these values for an import
    "hidden_act": "silu",
    "attention_bias": False,
    "mlp_bias": False,
}


def fields(model_cfg) -> dict:
    """The model config as a plain dict (a ConfigDict, a dataclass or a dict)."""
    if dataclasses.is_dataclass(model_cfg):
        return dataclasses.asdict(model_cfg)
    return model_cfg.to_dict() if hasattr(model_cfg, "to_dict") else dict(model_cfg)


def check_exportable(model_cfg) -> None:
    """Refuse a model Llama cannot express, naming every offending key."""
    model_cfg = fields(model_cfg)
    problems = [
        f"model.{key}={model_cfg[key]!r} (Llama has {value!r} only)"
        for key, value in REQUIRED.items()
        if model_cfg[key] != value
    ]
    known = set(MAPPED) | set(REQUIRED) | set(NEUTRAL)
    problems += [
        f"model.{key}={model_cfg[key]!r} has no known LlamaConfig counterpart "
        "(map it in llm_jax/interop/hf_config.py)"
        for key in model_cfg
        if key not in known
    ]
    if problems:
        raise ConfigError(
            "cannot export as a Hugging Face Llama model: " + "; ".join(problems)
            + ". Only rope + rmsnorm + swiglu models convert (train.z_loss is fine)"
        )  # fmt: skip


def llama_config(model_cfg, tokenizer, dtype: str) -> dict:
    """config.json of LlamaForCausalLM for this model and tokenizer; check_exportable first."""
    check_exportable(model_cfg)
    m = fields(model_cfg)
    config = {hf: m[key] for key, hf in MAPPED.items()}
    return {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        **config,
        "head_dim": m["d_model"] // m["n_heads"],
        "rope_parameters": {"rope_type": "default", "rope_theta": m["rope_theta"]},
        **_LLAMA_FIXED,
        "attention_dropout": 0.0,
        "initializer_range": m["init_std"],
        "bos_token_id": tokenizer.bos_id if tokenizer.bos_id >= 0 else None,
        "eos_token_id": tokenizer.eos_id,
        "pad_token_id": tokenizer.pad_id,
        "torch_dtype": dtype,
        "use_cache": True,
    }


def generation_config(tokenizer) -> dict:
    """generation_config.json: the special ids and nothing else (transformers' defaults)."""
    return {
        "bos_token_id": tokenizer.bos_id if tokenizer.bos_id >= 0 else None,
        "eos_token_id": tokenizer.eos_id,
        "pad_token_id": tokenizer.pad_id,
    }


def read_llama_config(directory) -> dict:
    """DIR/config.json, refused (naming the fields) unless it is a plain Llama."""
    path = pathlib.Path(directory) / "config.json"
    if not path.is_file():
        raise ConfigError(f"{path} not found: is {directory} a Hugging Face model directory?")
    try:
        hf = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path} is not valid JSON ({e}); re-export or re-download it") from e
    absent = [field for field in _LLAMA_SIZES if field not in hf]
    if absent:
        raise ConfigError(f"{path} lacks {absent}: not a complete LlamaConfig")
    problems = [] if hf.get("model_type") == "llama" else [f"model_type={hf.get('model_type')!r}"]
    problems += [f"{k}={hf.get(k, v)!r}" for k, v in _LLAMA_FIXED.items() if hf.get(k, v) != v]
    rope = hf.get("rope_parameters") or hf.get("rope_scaling") or {}
    if rope.get("rope_type", rope.get("type", "default")) != "default":
        problems.append(f"rope scaling {rope!r}")
    head_dim = hf.get("head_dim") or hf["hidden_size"] // hf["num_attention_heads"]
    if head_dim * hf["num_attention_heads"] != hf["hidden_size"]:
        problems.append(f"head_dim={head_dim} (llm_jax needs hidden_size / num_attention_heads)")
    if problems:
        raise ConfigError(
            f"{path}: llm_jax cannot load this model: {', '.join(problems)}; it imports Llama "
            "models with SiLU MLPs, no biases and unscaled RoPE"
        )
    return hf


def model_overrides(hf: dict) -> dict:
    """The model keys a Llama config.json fixes (everything but the NEUTRAL keys)."""
    rope = hf.get("rope_parameters") or {}
    theta = rope.get("rope_theta", hf.get("rope_theta", 10_000.0))
    values = {key: hf[field] for key, field in MAPPED.items() if field in hf}
    values["n_kv_heads"] = hf.get("num_key_value_heads") or hf["num_attention_heads"]
    values["tie_embeddings"] = bool(hf.get("tie_word_embeddings", False))
    values["rope_theta"], values["norm_eps"] = float(theta), float(hf.get("rms_norm_eps", 1e-6))
    return {**values, **REQUIRED}


def apply_llama_config(model_cfg, hf: dict, where: str) -> None:
    """Set the model keys from `hf`; a key set away from its default to another value is refused."""
    defaults = get_default_config().model
    values = model_overrides(hf)
    clashes = [
        f"model.{key}={model_cfg[key]!r} but {where} has {value!r}"
        for key, value in values.items()
        if model_cfg[key] != defaults[key] and model_cfg[key] != value
    ]
    if clashes:
        raise ConfigError(
            "the config contradicts the Hugging Face model it starts from: " + "; ".join(clashes)
            + ". Drop these overrides (the model's own values are used)"
        )  # fmt: skip
    model_cfg.update(values)
