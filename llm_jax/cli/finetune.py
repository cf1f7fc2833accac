"""Fine-tune a trained run: supervised (sft), a reward model (reward), or DPO (dpo).

  python -m llm_jax.cli.finetune --mode=sft --init_from=RUN[:STEP] --data=FILE.jsonl \
      --workdir=DIR [--eval_data=FILE.jsonl] [--config.<key>=<value> ...]

The model, tokenizer and data.seq_len come from RUN (its latest checkpoint unless :STEP);
FILE holds {"prompt", "response"} or {"messages": [...]} lines (sft) or {"prompt", "chosen",
"rejected"} lines (reward, dpo). Rerunning the same command on DIR resumes it. Bad input is one
line `error: …`, exit status 2.
"""

from absl import flags
from ml_collections import config_flags

from llm_jax import distributed
from llm_jax.cli import errors, paths
from llm_jax.config import FINETUNE_MODES, get_default_config
from llm_jax.finetune import finetune, finetune_config

config_flags.DEFINE_config_dict("config", get_default_config(), "--config.<key>=<value> overrides")
flags.DEFINE_enum("mode", None, FINETUNE_MODES, "sft | reward | dpo")
flags.DEFINE_string("init_from", None, "RUN[:STEP]: the run directory to start from")
flags.DEFINE_string("data", None, "JSONL examples (a path or an fsspec URL)")
flags.DEFINE_string("eval_data", "", "Held-out JSONL (default: data.val_fraction of --data)")
flags.DEFINE_string("workdir", None, "Run directory (config.json, metrics.jsonl, checkpoints/)")
flags.DEFINE_string("coordinator_address", None, "HOST:PORT of process 0 (multi-process runs)")
flags.DEFINE_integer("num_processes", None, "Total number of processes", 1)
flags.DEFINE_integer("process_id", None, "This process's index", 0)
flags.mark_flags_as_required(["mode", "init_from", "data", "workdir"])
FLAGS = flags.FLAGS


def main(argv):
    errors.no_arguments(argv)
    distributed.initialize(FLAGS.coordinator_address, FLAGS.num_processes, FLAGS.process_id)
    overrides = dict(config_flags.get_override_values(FLAGS["config"]))
    overrides = {k: paths.absolute_config_value(k, v) for k, v in overrides.items()}
    if FLAGS.eval_data:
        overrides["data.eval_examples"] = paths.absolute(FLAGS.eval_data)
    init_from = paths.absolute_config_value("train.init_from", FLAGS.init_from)
    config = finetune_config(FLAGS.mode, init_from, paths.required("data", FLAGS.data), overrides)
    finetune(config, paths.required("workdir", FLAGS.workdir))


def run(argv=None):
    errors.run(main, argv)


if __name__ == "__main__":
    run()
