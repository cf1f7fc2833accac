"""Fine-tune a trained run: supervised (sft), a reward model (reward), or DPO (dpo).

  python -m llm_jax.cli.finetune --mode=sft --init_from=RUN[:STEP] --data=FILE.jsonl \
      --workdir=DIR [--eval_data=FILE.jsonl] [--config.<key>=<value> ...]

The model, tokenizer and data.seq_len come from RUN (its latest checkpoint unless :STEP);
FILE holds {"prompt", "response"} or {"messages": [...]} lines (sft) or {"prompt", "chosen",
"rejected"} lines (reward, dpo). Rerunning the same command on DIR resumes it.
"""

import logging
import sys

from absl import app, flags
from absl import logging as absl_logging
from ml_collections import config_flags

from llm_jax import distributed
from llm_jax.checkpoint import CheckpointError
from llm_jax.cli import paths
from llm_jax.config import FINETUNE_MODES, ConfigError, get_default_config
from llm_jax.data import DataError
from llm_jax.finetune import finetune, finetune_config

config_flags.DEFINE_config_dict("config", get_default_config(), "--config.<key>=<value> overrides")
flags.DEFINE_enum("mode", None, FINETUNE_MODES, "sft | reward | dpo")
flags.DEFINE_string("init_from", None, "RUN[:STEP]: the run directory to start from")
flags.DEFINE_string("data", None, "JSONL examples (a path or an fsspec URL)")
flags.DEFINE_string("eval_data", "", "Held-out JSONL (default: data.val_fraction of --data)")
flags.DEFINE_string("workdir", None, "Run directory (config.json, metrics.jsonl, checkpoints/)")
flags.DEFINE_string("coordinator_address", None, "HOST:PORT of process 0 (multi-process runs)")
flags.DEFINE_integer("num_processes", None, "Total number of processes")
flags.DEFINE_integer("process_id", None, "This process's index")
flags.mark_flags_as_required(["mode", "init_from", "data", "workdir"])
FLAGS = flags.FLAGS


def _source(init_from: str) -> str:
    """RUN[:STEP] with RUN made absolute; other schemes (hf:DIR) keep theirs."""
    scheme, sep, rest = init_from.partition(":")
    if sep and scheme == "hf":
        return f"hf:{paths.absolute(rest)}"
    return paths.absolute(init_from)


def main(argv):
    del argv
    absl_logging.set_verbosity(absl_logging.WARNING)  # Orbax logs every file it writes at INFO
    logging.getLogger("llm_jax").setLevel(logging.INFO)
    distributed.initialize(FLAGS.coordinator_address, FLAGS.num_processes, FLAGS.process_id)
    overrides = dict(config_flags.get_override_values(FLAGS["config"]))
    if FLAGS.eval_data:
        overrides["data.eval_examples"] = paths.absolute(FLAGS.eval_data)
    try:
        config = finetune_config(
            FLAGS.mode, _source(FLAGS.init_from), paths.absolute(FLAGS.data), overrides
        )
        finetune(config, paths.absolute(FLAGS.workdir))
    except (ConfigError, DataError, CheckpointError) as e:
        sys.exit(f"finetune: {e}")


def run():
    app.run(main)


if __name__ == "__main__":
    run()
