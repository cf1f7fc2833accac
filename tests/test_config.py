"""validate() rejects each bad config with a message that names the fields and the fix."""

import subprocess
import sys

import pytest

from llm_jax.config import ConfigError, get_default_config, validate
from tests.train.cli import ROOT


def _config(**sections):
    c = get_default_config()
    for section, values in sections.items():
        c[section].update(values)
    return c


@pytest.mark.parametrize(
    "sections, kwargs, expected",
    [
        (dict(model=dict(d_model=100, n_heads=3)), {}, ["model.n_heads=3", "model.d_model=100"]),
        (dict(model=dict(n_heads=4, n_kv_heads=3)), {}, ["model.n_kv_heads=3", "divide"]),
        (dict(data=dict(seq_len=512)), {}, ["data.seq_len=512", "model.max_seq_len=256"]),
        (
            dict(model=dict(vocab_size=200)),
            dict(tokenizer_vocab=259),
            ["model.vocab_size=200", "259"],
        ),
        (dict(train=dict(warmup_steps=100, steps=100)), {}, ["train.warmup_steps=100"]),
        (
            dict(data=dict(batch_size=12)),
            dict(n_devices=8),
            ["data.batch_size=12", "multiple of 8"],
        ),
        (dict(train=dict(grad_accum=3)), {}, ["train.grad_accum=3", "must divide"]),
        (dict(model=dict(mlp="relu")), {}, ["model.mlp='relu'", "swiglu"]),
        (dict(train=dict(schedule="step")), {}, ["train.schedule='step'"]),
        (dict(mesh=dict(data=3)), dict(n_devices=8), ["mesh", "8 are available"]),
    ],
)
def test_validation_messages(sections, kwargs, expected):
    with pytest.raises(ConfigError) as error:
        validate(_config(**sections), **kwargs)
    for fragment in expected:
        assert fragment in str(error.value)


def test_default_config_is_valid():
    validate(get_default_config(), n_devices=8, tokenizer_vocab=259)


def test_every_key_has_a_comment():
    """Each key's line, or the line just above it, carries a comment."""
    lines = (ROOT / "llm_jax" / "config" / "defaults.py").read_text().splitlines()
    prefixes = ("m.", "d.", "t.", "ms.", "r.", "c.eval.", "c.checkpoint.", "c.log.")
    keys = [
        i
        for i, line in enumerate(lines)
        if line.strip().startswith(prefixes) and " = " in line and "ConfigDict" not in line
    ]
    assert len(keys) > 40
    uncommented = [
        lines[i] for i in keys if "#" not in lines[i] and not lines[i - 1].strip().startswith("#")
    ]
    assert not uncommented


def test_cli_rejects_unknown_key(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "tools/train.py",
            "--config=configs/smoke.py",
            f"--workdir={tmp_path}",
            "--config.model.d_modle=64",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "d_modle" in result.stderr
