"""tools/launch_tpu_vm.py: the gcloud commands it prints (--dry_run) and runs (--run)."""

import os
import shlex
import subprocess
import sys

import pytest

from llm_jax.launch import LaunchError, TpuVm, launch_commands
from tests.train.cli import ROOT

VM = ["--tpu=my-v5p-64", "--zone=us-east5-a", "--project=my-project"]
RUN = ["--config=configs/sizes.py:1.3b", "--workdir=gs://my-bucket/runs/1.3b"]
WHERE = ["--zone=us-east5-a", "--project=my-project", "--worker=all"]


def launcher(*args, env=None):
    return subprocess.run(
        [sys.executable, "tools/launch_tpu_vm.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def printed(result) -> list[list[str]]:
    assert result.returncode == 0, result.stderr[-2000:]
    return [shlex.split(line) for line in result.stdout.splitlines() if not line.startswith("#")]


def remote(command) -> str:
    """The shell command an ssh line runs on every worker."""
    assert command[:6] == ["gcloud", "compute", "tpus", "tpu-vm", "ssh", "my-v5p-64"]
    assert command[6:9] == WHERE
    (flag,) = command[9:]
    return flag.removeprefix("--command=")


def test_dry_run_packs_this_checkout_installs_and_starts_all_hosts():
    lines = printed(launcher(*VM, *RUN, "--", "--config.mesh.fsdp=-1", "--config.mesh.data=1"))
    archive, scp, unpack, install, train = lines
    assert archive[:2] == ["git", "archive"] and archive[-1] == "HEAD"
    tarball = archive[archive.index("-o") + 1]
    assert scp == [
        "gcloud",
        "compute",
        "tpus",
        "tpu-vm",
        "scp",
        tarball,
        "my-v5p-64:llm_jax.tar.gz",
        *WHERE,
    ]
    assert "tar -xzf ~/llm_jax.tar.gz -C ~/llm_jax" in remote(unpack)
    assert "pip install" in remote(install) and "jax[tpu]" in remote(install)
    assert "pip install -q -e ." in remote(install)
    started = shlex.split(remote(train))
    assert started[:3] == ["cd", "~/llm_jax", "&&"]
    at = started.index("tools/train.py")
    # The same command on every host: JAX detects the pod, so no per-worker process flags.
    assert started[at + 1 : at + 5] == [*RUN, "--config.mesh.fsdp=-1", "--config.mesh.data=1"]
    assert not any("coordinator" in arg or "process_id" in arg for arg in started)
    assert remote(train).endswith("&")  # detached: survives the ssh session


def test_dry_run_from_a_git_url_checks_out_the_ref():
    lines = printed(
        launcher(
            *VM,
            *RUN,
            "--source=https://github.com/org/llm_jax.git",
            "--ref=v1",
            "--python=python3.11",
        )
    )
    clone, install, train = lines
    assert remote(clone) == (
        "rm -rf ~/llm_jax && git clone -q https://github.com/org/llm_jax.git ~/llm_jax"
        " && git -C ~/llm_jax checkout -q v1"
    )
    assert remote(install).startswith("cd ~/llm_jax && python3.11 -m pip install")
    assert "python3.11 tools/train.py" in remote(train)


def test_run_executes_the_printed_commands(tmp_path):
    """--run calls gcloud with exactly the printed arguments (a fake gcloud records them)."""
    log = tmp_path / "calls"
    fake = tmp_path / "gcloud"
    fake.write_text(
        f'#!/bin/sh\nfor a in "$@"; do printf "%s\\t" "$a"; done >> {log}\necho >> {log}\n'
    )
    fake.chmod(0o755)
    env = dict(os.environ, PATH=f"{tmp_path}:{os.environ['PATH']}")
    args = [*VM, *RUN, "--source=https://github.com/org/llm_jax.git"]
    expected = printed(launcher(*args))
    assert printed(launcher(*args, "--run", env=env)) == expected
    calls = [line.rstrip("\t").split("\t") for line in log.read_text().splitlines()]
    assert calls == [command[1:] for command in expected]


def test_local_workdir_is_refused():
    result = launcher(*VM, "--config=configs/smoke.py", "--workdir=runs/smoke")
    assert result.returncode != 0 and "must be a gs:// path" in result.stderr


def test_unknown_source_is_refused():
    with pytest.raises(LaunchError, match="git URL, a .tar.gz"):
        launch_commands(TpuVm("t", "z", "p"), source="code.zip", config="c", workdir="gs://b/r")


HOSTILE = "x; touch /tmp/pwned $(id) `id` 'q' \"d\" ~ *"  # what a remote shell must not expand


@pytest.mark.parametrize("source", ["https://github.com/org/llm_jax.git", "."])
def test_every_user_string_reaches_the_remote_shell_as_one_word(source):
    """Each command the workers run splits (as their shell would) into words that keep every
    user-given string whole: --python, --ref, --source, --config, --workdir, overrides."""
    commands = launch_commands(
        TpuVm("t", "z", "p"),
        source=source if source == "." else f"{source}#{HOSTILE}",
        ref=HOSTILE,
        config=f"configs/{HOSTILE}.py",
        workdir=f"gs://b/{HOSTILE}",
        overrides=[f"--config.data.corpus={HOSTILE}"],
        python=f"python3{HOSTILE}",
    )
    remote = [c[-1].removeprefix("--command=") for c in commands if c[3:5] == ["tpu-vm", "ssh"]]
    words = [word for command in remote for word in shlex.split(command)]
    for given in (
        f"python3{HOSTILE}",
        f"configs/{HOSTILE}.py",
        f"--workdir=gs://b/{HOSTILE}",
        f"--config.data.corpus={HOSTILE}",
    ):
        assert any(given in word for word in words), given
    if source != ".":
        assert f"{source}#{HOSTILE}" in words and HOSTILE in words  # the clone URL and the ref
    assert not any(word in ("touch", ";", "x;") for word in words)  # nothing split out to run


def test_the_remote_install_and_train_commands_run_with_every_string_whole(tmp_path):
    """The workers' shell, played by bash in a fake home: a --python path with spaces, `;` and
    substitutions runs as that one program, with --config/--workdir/overrides as whole
    arguments, and nothing split out of them runs."""
    hostile = "a b; touch ran; $(touch ran) `touch ran` 'q'"  # no '/': it names a file
    home, record = tmp_path / "home", tmp_path / "argv"
    marker = home / "llm_jax" / "ran"  # where an injected `touch` would run (after the cd)
    (home / "llm_jax").mkdir(parents=True)
    python = tmp_path / f"py {hostile}"
    python.write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" >> {shlex.quote(str(record))}\n')
    python.chmod(0o755)
    config, workdir = f"configs/{hostile}.py", f"gs://b/{hostile}"
    overrides = [f"--config.data.corpus={hostile}"]
    commands = launch_commands(
        TpuVm("t", "z", "p"), source="https://x/y.git", config=config, workdir=workdir,
        overrides=overrides, python=str(python),
    )  # fmt: skip
    install, train = (c[-1].removeprefix("--command=") for c in commands[-2:])
    env = dict(os.environ, HOME=str(home))
    for remote in (install, train.removesuffix("&")):  # the train command detaches: run it here
        subprocess.run(["bash", "-c", remote], env=env, check=True, timeout=60)
    lines = record.read_text().splitlines()
    assert lines[:2] == ["-m", "pip"] and "-e" in lines  # both pip calls, by that python
    train_args = ["tools/train.py", f"--config={config}", f"--workdir={workdir}", *overrides]
    assert lines[-len(train_args) :] == train_args
    assert not marker.exists()
