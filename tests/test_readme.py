"""Every command the README shows runs as typed from the repository root, relative paths
included: here from a directory laid out like the root (configs/, tools/, experiments/, tests/
linked), so runs/ lands there. Smoke-sized: the same flags and path forms, plus flags that
shorten the work (fewer steps and bytes, fewer bootstrap fits, a small stand-in study)."""

import dataclasses
import gzip
import json
import re
import shlex
import socket
import subprocess
import sys

import pytest

from llm_jax.scaling.synthetic import isoflop_table
from tests.scaling.test_cli import write_csv
from tests.train.cli import ROOT, cli_env

SHORT = [  # a train command made seconds long
    "--config.train.steps=2", "--config.train.warmup_steps=1", "--config.eval.every_steps=2",
    "--config.checkpoint.every_steps=2", "--config.log.every_steps=1",
    "--config.data.max_bytes=1000000", "--config.data.eval_tokens=4096",
]  # fmt: skip
FINETUNE = SHORT[:5]  # steps, warmup and cadences: a fine-tuning run has no corpus
BASE = ".venv/bin/python tools/train.py --config=configs/base.py"
SMALL_125M = ["--config.data.tokenizer=byte", "--config.data.seq_len=64",
              "--config.data.batch_size=2", "--config.train.warmup_steps=0"]  # fmt: skip


@dataclasses.dataclass
class Command:
    readme: str  # as the README shows it (continuation lines joined, comment cut)
    extra: tuple = ()  # smoke-size flags appended
    replace: tuple = ()  # (old, new) pairs: smoke sizes, or a stand-in input
    codes: tuple = (0,)
    before: str = ""  # the README line is flags to add to this command
    devices: int = 1  # CPU devices (XLA_FLAGS), as the README's mesh examples assume


COMMANDS = [
    Command(".venv/bin/python tools/train.py --config=configs/smoke.py --workdir=runs/smoke"),
    Command(".venv/bin/python tools/train.py --config=configs/demo.py --workdir=runs/model", SHORT),
    Command(".venv/bin/python tools/train.py --config=configs/base.py --workdir=runs/base", SHORT),
    Command(
        ".venv/bin/python tools/train.py --config=configs/sizes.py:125m --workdir=runs/125m",
        (*SHORT[:1], *SMALL_125M, *SHORT[2:]),
    ),
    Command(
        ".venv/bin/python tools/train.py --config=configs/base.py --workdir=runs/gqa "
        "--config.model.n_kv_heads=1 --config.model.pos_encoding=sinusoidal "
        "--config.train.schedule=wsd --config.data.corpus='/data/books/*.txt.gz'",
        SHORT,
        replace=(("/data/books", "{root}/data/books"),),
    ),
    *(
        Command(flags, SHORT, before=f"{BASE} --workdir=runs/mesh{i}", devices=8)
        for i, flags in enumerate(
            [
                "--config.mesh.data=1 --config.mesh.fsdp=-1",
                "--config.mesh.data=2 --config.mesh.fsdp=-1 --config.mesh.tensor=4",
            ]
        )
    ),  # fmt: skip
    Command(
        ".venv/bin/python tools/sample.py --workdir=runs/model --prompt='def ' "
        "--max_new_tokens=64 --temperature=0.8 --top_k=40 --top_p=0.95 --seed=0"
    ),
    Command(
        ".venv/bin/python tools/inspect_model.py attention --workdir=runs/model --text='import os'"
    ),  # fmt: skip
    Command(".venv/bin/python tools/export_hf.py --workdir=runs/model --out=hf/model"),
    Command(
        "python -c \"import transformers as t; t.AutoModelForCausalLM.from_pretrained('hf/model'); "
        "t.AutoTokenizer.from_pretrained('hf/model')\""
    ),
    Command(
        ".venv/bin/python tools/train.py --config=configs/finetune_hf.py --workdir=runs/ft "
        "--config.train.init_from=hf:hf/model --config.data.corpus=my_text.jsonl",
        (*SHORT, "--config.data.seq_len=64"),
    ),
    Command(
        ".venv/bin/python tools/finetune.py --mode=sft --init_from=runs/model --data=sft.jsonl "
        "--workdir=runs/sft --config.train.steps=500",
        FINETUNE,
        replace=(("--config.train.steps=500", ""),),
    ),
    Command(
        ".venv/bin/python tools/finetune.py --mode=sft --init_from=hf:hf/model --data=sft.jsonl "
        "--workdir=runs/sft_hf",
        FINETUNE,
    ),
    Command(
        ".venv/bin/python tools/finetune.py --mode=reward --init_from=runs/sft --data=prefs.jsonl "
        "--workdir=runs/rm",
        FINETUNE,
    ),
    Command(".venv/bin/python tools/score.py --workdir=runs/rm --data=prefs.jsonl"),
    Command(
        ".venv/bin/python tools/finetune.py --mode=dpo --init_from=runs/sft --data=prefs.jsonl "
        "--workdir=runs/dpo --config.train.dpo_beta=0.1",
        FINETUNE,
    ),
    Command(
        ".venv/bin/python tools/sample.py --workdir=runs/dpo --prompt='say: hello' --temperature=0"
    ),
    Command(
        ".venv/bin/python tools/fit_scaling_laws.py --runs=runs.csv --out=fits/ --bootstrap=1000",
        replace=(("--bootstrap=1000", "--bootstrap=20"),),
    ),
    Command(
        ".venv/bin/python tools/compile_check.py --config=configs/sizes.py:7b --mesh=1,64,1 "
        "--config.model.remat=full"
    ),  # fmt: skip
    Command(
        "python tools/launch_tpu_vm.py --tpu=my-v5p-64 --zone=us-east5-a --project=my-project "
        "--config=configs/sizes.py:1.3b --workdir=gs://my-bucket/runs/1.3b -- "
        "--config.mesh.data=1 --config.mesh.fsdp=-1"
    ),
    Command(
        ".venv/bin/python tools/sweep.py --config=experiments/chinchilla_cpu/config.py "
        "--workdir=runs/cpu --dry_run",
        ("--assume_flops_per_s=1e9",),  # plan without measuring this machine first
    ),
    Command(
        ".venv/bin/python tools/sweep.py --config=experiments/chinchilla_cpu/config.py "
        "--workdir=runs/cpu --workers=2 --threads_per_run=1",
        ("--set=data.cache_dir={cache}",),
        replace=(("experiments/chinchilla_cpu/config.py", "tests/sweep/tiny_study.py"),),
    ),
    Command(  # the stand-in study is too small to fit: the fit may say so, in one line
        ".venv/bin/python tools/fit_scaling_laws.py --runs=runs/cpu/runs.csv "
        "--out=runs/cpu/refit --bootstrap=200",
        replace=(("--bootstrap=200", "--bootstrap=20"),),
        codes=(0, 2),
    ),
    Command(
        ".venv/bin/python tools/fit_scaling_laws.py --runs=runs/cpu/runs.csv "
        "--curves=runs/cpu/curves.csv --out=runs/cpu/refit --bootstrap=200",
        replace=(("--bootstrap=200", "--bootstrap=20"),),
        codes=(0, 2),
    ),
]
TWO_PROCESSES = "for i in 0 1; do"  # the README's loop, run by bash as written
NOT_RUN = {  # README commands this test does not run, and why
    "python tools/launch_tpu_vm.py ...same flags... --run": "calls gcloud",
    "srun ": "needs a SLURM cluster",
    "python tools/sweep.py --config=experiments/chinchilla_gpu/config.py": (
        "GPU runs on a shared root; tests/sweep runs --shard, --collect and --emit=slurm (on a "
        "local SLURM) on the tiny study"
    ),
    "JAX_PLATFORMS=cpu XLA_FLAGS=--xla_force_host_platform_device_count=2": "in the loop, below",
    ".venv/bin/python tools/evaluate.py --workdir=runs/model --tasks=hellaswag": "downloads data",
}


def readme_commands() -> list[str]:
    """The README's shell commands: continuation lines joined, comments cut, spaces collapsed."""
    text = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```bash\n(.*?)```", text, re.S)
    joined = "\n".join(blocks).replace("\\\n", " ")
    lines = (re.sub(r"\s+#.*$", "", line) for line in joined.splitlines())
    return [" ".join(line.split()) for line in lines if line.strip()]


def test_the_listed_commands_are_the_readmes():
    """The list above is checked against README.md: a changed or added command fails here."""
    shown = readme_commands()
    missing = [c.readme for c in COMMANDS if not any(s.startswith(c.readme) for s in shown)]
    assert not missing
    assert TWO_PROCESSES in shown
    local = [s for s in shown if ("tools/" in s or "python -c" in s) and "gs://" not in s]
    known = [c.readme for c in COMMANDS] + list(NOT_RUN)
    assert [s for s in local if not any(s.startswith(k) for k in known)] == []


@pytest.fixture
def root(tmp_path):
    """A directory laid out like the repository root."""
    for name in ("configs", "tools", "experiments", "tests"):
        (tmp_path / name).symlink_to(ROOT / name)
    books = tmp_path / "data" / "books"
    books.mkdir(parents=True)
    for i in range(2):
        with gzip.open(books / f"book{i}.txt.gz", "wt") as f:
            f.write(
                "\n\n".join(f"Chapter {i}.{j}. " + "It was a dark night. " * 20 for j in range(400))
            )
    lines = (
        json.dumps({"text": f"Record {i}: " + "some text to fine-tune on. " * 8})
        for i in range(600)
    )
    (tmp_path / "my_text.jsonl").write_text("\n".join(lines) + "\n")
    words = ["abc", "hello", "jax", "tokens", "scaling", "law", "model", "data"]
    sft = [{"prompt": f"reverse: {w}", "response": w[::-1]} for w in words * 4]
    prefs = [{"prompt": f"say: {w}", "chosen": w.upper(), "rejected": w} for w in words * 4]
    for name, records in (("sft.jsonl", sft), ("prefs.jsonl", prefs)):
        (tmp_path / name).write_text("".join(json.dumps(r) + "\n" for r in records))
    table = isoflop_table(budgets=(1e18, 1e19, 1e20), per_budget=7, noise=0.005)
    write_csv(tmp_path / "runs.csv", table, ["params", "tokens", "loss", "flops"])
    return tmp_path


def run(command: str, root, devices: int) -> subprocess.CompletedProcess:
    argv = shlex.split(command)
    argv[0] = sys.executable
    env = cli_env()
    if devices > 1:
        env["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={devices}"
    return subprocess.run(argv, cwd=root, env=env, capture_output=True, text=True, timeout=900)


@pytest.mark.slow
def test_every_readme_command_runs_as_typed(root, tmp_path_factory):
    cache = tmp_path_factory.mktemp("cache")
    for c in COMMANDS:
        command = f"{c.before} {c.readme}".strip()
        for old, new in c.replace:
            command = command.replace(old, new.format(root=root))
        command = " ".join([command, *c.extra]).format(root=root, cache=cache)
        if "tools/train.py" in command:
            command += f" --config.data.cache_dir={cache}"
        result = run(command, root, c.devices)
        assert result.returncode in c.codes, (command, result.stderr[-3000:])
        assert "Traceback" not in result.stderr, (command, result.stderr[-3000:])
    assert (root / "runs" / "model" / "inspect" / "attention.png").is_file()  # relative paths
    assert json.loads((root / "fits" / "fits.json").read_text())["approach2"]["a"] > 0
    assert (root / "runs" / "cpu" / "runs.csv").is_file()
    _two_processes(root, cache)


def _two_processes(root, cache):
    """The README's two-process CPU loop, through bash, with a free port and 2 steps."""
    (block,) = [b for b in re.findall(r"```bash\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
                if TWO_PROCESSES in b]  # fmt: skip
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    script = block.replace(".venv/bin/python", shlex.quote(sys.executable))
    script = script.replace("127.0.0.1:8476", f"127.0.0.1:{port}")
    script = script.replace("--config.mesh.fsdp=2", f"--config.mesh.fsdp=2 {' '.join(SHORT)} "
                            f"--config.data.cache_dir={cache}")  # fmt: skip
    result = subprocess.run(["bash", "-c", script], cwd=root, env=cli_env(), capture_output=True,
                            text=True, timeout=900)  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    rows = [
        json.loads(x) for x in (root / "runs" / "two" / "metrics.jsonl").read_text().splitlines()
    ]
    assert max(r["step"] for r in rows) == 2
