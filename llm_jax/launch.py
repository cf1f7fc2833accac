"""The gcloud commands that put this code on every worker of a Cloud TPU VM and start training.

Every worker runs the same `tools/train.py` command; JAX detects the pod and joins the processes
(`jax.distributed.initialize()` with no arguments), so no per-worker flags are needed. The run
directory must be on GCS: all workers write one Orbax checkpoint, and process 0 the logs.
"""

from __future__ import annotations

import dataclasses
import shlex

from llm_jax.errors import UserError

GCLOUD_TPU = ("gcloud", "compute", "tpus", "tpu-vm")
REMOTE_DIR = "~/llm_jax"  # the source tree on each worker; tools/ and configs/ run from it
REMOTE_TARBALL = "llm_jax.tar.gz"  # relative to the home directory, for scp and ssh alike
REMOTE_LOG = "~/llm_jax_train.log"
# jax[tpu] brings libtpu; gcsfs lets epath (Orbax metadata, metrics) and TensorBoard use gs://.
TPU_PACKAGES = ("jax[tpu]>=0.10.2,<0.12", "gcsfs")


class LaunchError(UserError, ValueError):
    """Arguments that cannot start a multi-host run; the message says what to change."""


@dataclasses.dataclass(frozen=True)
class TpuVm:
    name: str
    zone: str
    project: str

    def _where(self) -> list[str]:
        return [f"--zone={self.zone}", f"--project={self.project}", "--worker=all"]

    def ssh(self, remote_command: str) -> list[str]:
        """Run one shell command on every worker (in parallel; gcloud waits for all)."""
        return [*GCLOUD_TPU, "ssh", self.name, *self._where(), f"--command={remote_command}"]

    def scp(self, local: str, remote: str) -> list[str]:
        return [*GCLOUD_TPU, "scp", local, f"{self.name}:{remote}", *self._where()]


def is_git_url(source: str) -> bool:
    return source.startswith(("https://", "http://", "git@", "ssh://")) or source.endswith(".git")


def fetch_commands(vm: TpuVm, source: str, ref: str, tarball: str) -> list[list[str]]:
    """Get the source tree onto every worker: a git clone, or a tarball (packed from `.`)."""
    if is_git_url(source):
        clone = f"rm -rf {REMOTE_DIR} && git clone -q {shlex.quote(source)} {REMOTE_DIR}"
        if ref:
            clone += f" && git -C {REMOTE_DIR} checkout -q {shlex.quote(ref)}"
        return [vm.ssh(clone)]
    steps = []
    if source == ".":  # this checkout at `ref` (uncommitted edits are not packed)
        steps.append(
            ["git", "archive", "--format=tar.gz", "--prefix=llm_jax/", "-o", tarball, ref or "HEAD"]
        )
    elif source.endswith((".tar.gz", ".tgz")):
        tarball = source
    else:
        raise LaunchError(f"--source={source!r}: give a git URL, a .tar.gz of the repo, or '.'")
    unpack = (
        f"rm -rf {REMOTE_DIR} && mkdir -p {REMOTE_DIR} && "
        f"tar -xzf ~/{REMOTE_TARBALL} -C {REMOTE_DIR} --strip-components=1"
    )
    return [*steps, vm.scp(tarball, REMOTE_TARBALL), vm.ssh(unpack)]


def install_command(vm: TpuVm, python: str = "python3") -> list[str]:
    packages = " ".join(shlex.quote(p) for p in TPU_PACKAGES)
    python = shlex.quote(python)  # every user string reaching the remote shell is quoted
    return vm.ssh(
        f"cd {REMOTE_DIR} && {python} -m pip install -q -U {packages} "
        f"&& {python} -m pip install -q -e ."
    )


def train_command(vm: TpuVm, config: str, workdir: str, overrides=(), python="python3"):
    """Start tools/train.py on all workers, detached, so a dropped ssh session does not stop it."""
    train = shlex.join(
        [python, "tools/train.py", f"--config={config}", f"--workdir={workdir}", *overrides]
    )
    return vm.ssh(f"cd {REMOTE_DIR} && setsid nohup {train} > {REMOTE_LOG} 2>&1 < /dev/null &")


def launch_commands(
    vm: TpuVm,
    *,
    source: str,
    config: str,
    workdir: str,
    overrides=(),
    ref: str = "",
    python: str = "python3",
    tarball: str = "/tmp/llm_jax.tar.gz",
) -> list[list[str]]:
    """Everything, in order: fetch the code, install it, start training on every host."""
    if not workdir.startswith("gs://"):
        raise LaunchError(
            f"--workdir={workdir!r} must be a gs:// path: every worker writes the same checkpoint "
            "and resumes from it (e.g. gs://my-bucket/runs/125m)"
        )
    return [
        *fetch_commands(vm, source, ref, tarball),
        install_command(vm, python),
        train_command(vm, config, workdir, overrides, python),
    ]


def logs_command(vm: TpuVm, worker: int = 0) -> list[str]:
    """Follow one worker's training log (process 0 prints the loss lines)."""
    command = vm.ssh(f"tail -f {REMOTE_LOG}")
    return [arg if arg != "--worker=all" else f"--worker={worker}" for arg in command]
