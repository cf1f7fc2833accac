"""Train (or resume) a language model.

  python -m llm_jax.cli.train --config=configs/smoke.py --workdir=runs/smoke \
      [--config.train.steps=50] [--step=N]

Rerunning the same command on the same workdir resumes from the latest checkpoint that restores
(a corrupt one is moved to checkpoints/corrupt/). --step=N resumes from step N instead, moving
later checkpoints to checkpoints/superseded/. Bad input is one line `error: …`, exit status 2.
"""

from absl import flags
from ml_collections import config_flags

from llm_jax import distributed
from llm_jax.cli import errors, host, paths
from llm_jax.train.trainer import train


def define_flags(fv=flags.FLAGS, argv=None) -> None:
    """This CLI's flags, on `fv`; `argv`: the command line --config.<key> overrides come from
    (default sys.argv; a sweep worker parses many command lines)."""
    config_flags.DEFINE_config_file(
        "config", None, "Preset file: configs/<name>.py[:arg]", flag_values=fv, sys_argv=argv
    )
    flags.DEFINE_string(
        "workdir", None, "Run directory (config.json, metrics.jsonl, checkpoints/)", flag_values=fv
    )
    flags.DEFINE_integer(
        "step", None, "Resume from this checkpoint step (default: the latest)", 1, flag_values=fv
    )
    flags.DEFINE_string(
        "coordinator_address", None, "HOST:PORT of process 0 (multi-process runs)", flag_values=fv
    )
    flags.DEFINE_integer("num_processes", None, "Total number of processes", 1, flag_values=fv)
    flags.DEFINE_integer("process_id", None, "This process's index", 0, flag_values=fv)
    flags.mark_flags_as_required(["config", "workdir"], flag_values=fv)


define_flags()
FLAGS = flags.FLAGS


def main(argv, fv=FLAGS):
    errors.no_arguments(argv)
    distributed.die_with_parent()  # a sweep's child: never outlive the runner
    # Explicit flags, else auto-detected on TPU pods / SLURM, else a single process.
    distributed.initialize(fv.coordinator_address, fv.num_processes, fv.process_id)
    config = paths.absolute_config(fv.config)
    train(config, paths.required("workdir", fv.workdir), step=fv.step)


def run(argv=None):
    if argv is None:  # a command line, not a test calling in: set malloc up before JAX starts
        host.reexec_with_host_tunables()
    errors.run(main, argv)


if __name__ == "__main__":
    run()
