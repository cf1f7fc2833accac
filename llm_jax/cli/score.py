"""Score responses with a reward model; prints one JSON object per line (logs go to stderr).

  python -m llm_jax.cli.score --workdir=RM --data=FILE.jsonl [--step=N]

A {"prompt", "response"} or {"messages": [...]} line comes back with "score"; a {"prompt",
"chosen", "rejected"} line with "chosen_score" and "rejected_score".
"""

import json
import logging
import sys

from absl import app, flags

from llm_jax.checkpoint import CheckpointError
from llm_jax.cli import paths
from llm_jax.data import DataError
from llm_jax.finetune.score import load_reward_model, score_file

flags.DEFINE_string("workdir", None, "Reward-model run directory (tools/finetune.py --mode=reward)")
flags.DEFINE_string("data", None, "JSONL of responses or preference pairs (a path or a URL)")
flags.DEFINE_integer("step", None, "Checkpoint step (default: the latest)")
flags.DEFINE_integer("batch_size", 16, "Sequences scored per forward pass")
flags.mark_flags_as_required(["workdir", "data"])
FLAGS = flags.FLAGS


def main(argv):
    del argv
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING)
    try:
        model = load_reward_model(paths.absolute(FLAGS.workdir), FLAGS.step)
        records = score_file(model, paths.absolute(FLAGS.data), FLAGS.batch_size)
    except (DataError, CheckpointError) as e:
        sys.exit(f"score: {e}")
    for record in records:
        print(json.dumps(record))


def run():
    app.run(main)


if __name__ == "__main__":
    run()
