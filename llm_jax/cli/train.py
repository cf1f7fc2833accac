"""Train (or resume) a language model.

  python -m llm_jax.cli.train --config=configs/smoke.py --workdir=runs/smoke \
      [--config.train.steps=50]

Rerunning the same command on the same workdir resumes from the latest checkpoint.
"""

import logging

from absl import app, flags
from absl import logging as absl_logging
from ml_collections import config_flags

from llm_jax import distributed
from llm_jax.cli import paths
from llm_jax.train.trainer import train


def define_flags(fv=flags.FLAGS, argv=None) -> None:
    """This CLI's flags, on `fv`; `argv`: the command line --config.<key> overrides come from
    (default sys.argv; a sweep worker parses many command lines)."""
    config_flags.DEFINE_config_file(
        "config", None, "Preset: configs/<name>.py[:arg]", flag_values=fv, sys_argv=argv
    )
    flags.DEFINE_string(
        "workdir", None, "Run directory (config.json, checkpoints/...)", flag_values=fv
    )
    flags.DEFINE_string("coordinator_address", None, "HOST:PORT of process 0", flag_values=fv)
    flags.DEFINE_integer("num_processes", None, "Total number of processes", flag_values=fv)
    flags.DEFINE_integer("process_id", None, "This process's index", flag_values=fv)
    flags.mark_flags_as_required(["config", "workdir"], flag_values=fv)


define_flags()
FLAGS = flags.FLAGS


def quiet_logs() -> None:
    absl_logging.set_verbosity(absl_logging.WARNING)  # Orbax logs every file it writes at INFO
    logging.getLogger("llm_jax").setLevel(logging.INFO)


def main(argv):
    del argv
    quiet_logs()
    distributed.die_with_parent()  # a sweep's child: never outlive the runner
    # Explicit flags, else auto-detected on TPU pods / SLURM steps, else a single process.
    distributed.initialize(FLAGS.coordinator_address, FLAGS.num_processes, FLAGS.process_id)
    train(FLAGS.config, paths.absolute(FLAGS.workdir))


def run():
    app.run(main)


if __name__ == "__main__":
    run()
