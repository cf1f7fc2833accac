"""A real one-node SLURM on localhost for tests: munged, slurmctld and slurmd (Debian's
slurm-wlm) on free ports, every file under one temporary directory, stopped by PID.

Two fake GPUs (character devices made with mknod, as root) give SLURM GRES to bind, so the
environment `srun --gpus-per-task=1` sets can be checked without a GPU. Anything missing (the
packages, root, a daemon that will not start) raises Unavailable with the reason.
"""

import os
import shutil
import socket
import subprocess
import time

DAEMONS = ("munged", "slurmctld", "slurmd", "sbatch", "srun", "scontrol", "sinfo")


class Unavailable(RuntimeError):
    """SLURM cannot run here; the message says why."""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LocalSlurm:
    def __init__(self, directory):
        missing = [d for d in DAEMONS if not shutil.which(d)]
        if missing:
            raise Unavailable(f"not installed: {missing} (apt-get install slurm-wlm munge)")
        if os.geteuid() != 0:
            raise Unavailable("slurmd must run as root to start jobs")
        self.dir, self.host = directory, socket.gethostname()
        self.processes: list[subprocess.Popen] = []
        self.conf = os.path.join(directory, "slurm.conf")
        self.env = dict(os.environ, SLURM_CONF=self.conf)

    def start(self, timeout=60.0) -> "LocalSlurm":
        d = self.dir
        for sub in ("munge", "state", "spool", "log", "gpu"):
            os.makedirs(os.path.join(d, sub), exist_ok=True)
        os.chmod(os.path.join(d, "munge"), 0o700)
        key = os.path.join(d, "munge", "munge.key")
        with open(key, "wb") as f:
            f.write(os.urandom(1024))
        os.chmod(key, 0o400)
        self.socket = os.path.join(d, "munge", "socket")
        for i in (0, 1):  # fake GPUs: SLURM only needs character devices to bind
            os.mknod(os.path.join(d, "gpu", f"nvidia{i}"), 0o600 | 0o020000, os.makedev(1, 3))
        self._write_config()
        munge = os.path.join(d, "munge")
        self._spawn(
            "munged", "-F", "-f", f"--socket={self.socket}", f"--key-file={key}",
            f"--log-file={d}/log/munged.log", f"--pid-file={munge}/pid",
            f"--seed-file={munge}/seed",
        )  # fmt: skip
        self._wait(lambda: os.path.exists(self.socket), timeout, "munged")
        self._spawn("slurmctld", "-D", "-i", "-f", self.conf)
        self._spawn("slurmd", "-D", "-f", self.conf)
        self._wait(self._node_idle, timeout, "slurmctld/slurmd")
        return self

    def _write_config(self) -> None:
        d, cpus = self.dir, os.cpu_count() or 1
        lines = [
            "ClusterName=llmjaxtest",
            f"SlurmctldHost={self.host}(127.0.0.1)",
            "SlurmUser=root",
            "AuthType=auth/munge",
            "CredType=cred/munge",
            f"AuthInfo=socket={self.socket}",
            f"SlurmctldPort={_free_port()}",
            f"SlurmdPort={_free_port()}",
            f"StateSaveLocation={d}/state",
            f"SlurmdSpoolDir={d}/spool",
            f"SlurmctldPidFile={d}/slurmctld.pid",
            f"SlurmdPidFile={d}/slurmd.pid",
            f"SlurmctldLogFile={d}/log/slurmctld.log",
            f"SlurmdLogFile={d}/log/slurmd.log",
            "ProctrackType=proctrack/linuxproc",
            "TaskPlugin=task/none",
            "JobAcctGatherType=jobacct_gather/none",
            "AccountingStorageType=accounting_storage/none",
            "SchedulerType=sched/builtin",
            "SelectType=select/cons_tres",
            "SelectTypeParameters=CR_CPU",
            "MpiDefault=none",
            "ReturnToService=2",
            "KillWait=60",  # SIGTERM → SIGKILL: time for a run to save its checkpoint
            "MinJobAge=600",  # finished jobs stay visible to scontrol
            "GresTypes=gpu",
            f"NodeName={self.host} NodeAddr=127.0.0.1 CPUs={cpus} RealMemory=4000 Gres=gpu:2"
            " State=UNKNOWN",
            f"PartitionName=debug Nodes={self.host} Default=YES MaxTime=INFINITE State=UP",
        ]
        with open(self.conf, "w") as f:
            f.write("\n".join(lines) + "\n")
        with open(os.path.join(d, "gres.conf"), "w") as f:
            f.write(f"NodeName={self.host} Name=gpu File={d}/gpu/nvidia[0-1]\n")

    def _spawn(self, *command: str) -> None:
        log = open(os.path.join(self.dir, "log", f"{command[0]}.out"), "w")  # noqa: SIM115
        self.processes.append(
            subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=self.env)
        )

    def _node_idle(self) -> bool:
        out = self.run("sinfo", "-h", "-o", "%t", check=False).stdout.strip()
        return out in ("idle", "mix", "alloc")

    def _wait(self, ready, timeout: float, what: str) -> None:
        deadline = time.time() + timeout
        while not ready():
            dead = [p.args[0] for p in self.processes if p.poll() is not None]
            if dead or time.time() > deadline:
                raise Unavailable(f"{what} did not start ({dead or 'timeout'}): {self.logs()}")
            time.sleep(0.3)

    def logs(self) -> str:
        out = []
        for name in sorted(os.listdir(os.path.join(self.dir, "log"))):
            with open(os.path.join(self.dir, "log", name), errors="replace") as f:
                out.append(f"--- {name}\n" + "".join(f.readlines()[-15:]))
        return "\n".join(out)

    def run(self, *command: str, check=True, timeout=60) -> subprocess.CompletedProcess:
        return subprocess.run(
            command, env=self.env, capture_output=True, text=True, check=check, timeout=timeout
        )

    def job_state(self, job: str) -> str:
        out = self.run("scontrol", "show", "job", job, "-o", check=False).stdout
        states = [f.split("=", 1)[1] for f in out.split() if f.startswith("JobState=")]
        return ",".join(sorted(set(states))) or "GONE"

    def stop(self) -> None:
        self.run("scancel", "--user=root", check=False)
        for process in reversed(self.processes):  # slurmd, slurmctld, then munged
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
