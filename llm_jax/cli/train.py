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
from llm_jax.cli import host, paths
from llm_jax.train.trainer import train

config_flags.DEFINE_config_file("config", None, "Preset file: configs/<name>.py[:arg]")
flags.DEFINE_string("workdir", None, "Run directory (config.json, metrics.jsonl, checkpoints/)")
flags.DEFINE_string("coordinator_address", None, "HOST:PORT of process 0 (multi-process runs)")
flags.DEFINE_integer("num_processes", None, "Total number of processes")
flags.DEFINE_integer("process_id", None, "This process's index")
flags.mark_flags_as_required(["config", "workdir"])
FLAGS = flags.FLAGS


def main(argv):
    del argv
    absl_logging.set_verbosity(absl_logging.WARNING)  # Orbax logs every file it writes at INFO
    logging.getLogger("llm_jax").setLevel(logging.INFO)
    # Explicit flags, else auto-detected on TPU pods / SLURM, else a single process.
    distributed.initialize(FLAGS.coordinator_address, FLAGS.num_processes, FLAGS.process_id)
    train(FLAGS.config, paths.absolute(FLAGS.workdir))


def run():
    host.reexec_with_host_tunables()  # before JAX starts: malloc settings for XLA CPU
    app.run(main)


if __name__ == "__main__":
    run()
