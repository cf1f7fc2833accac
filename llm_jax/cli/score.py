"""Score responses with a reward model; prints one JSON object per line (logs go to stderr).

  python -m llm_jax.cli.score --workdir=RM --data=FILE.jsonl [--step=N]

A {"prompt", "response"} or {"messages": [...]} line comes back with "score"; a {"prompt",
"chosen", "rejected"} line with "chosen_score" and "rejected_score". Bad input is one line
`error: …`, exit status 2.
"""

import json

from absl import flags

from llm_jax.cli import errors, paths
from llm_jax.finetune.score import load_reward_model, score_file

flags.DEFINE_string("workdir", None, "Reward-model run directory (tools/finetune.py --mode=reward)")
flags.DEFINE_string("data", None, "JSONL of responses or preference pairs (a path or a URL)")
flags.DEFINE_integer("step", None, "Checkpoint step (default: the latest)", 1)
flags.DEFINE_integer("batch_size", 16, "Sequences scored per forward pass", 1)
flags.mark_flags_as_required(["workdir", "data"])
FLAGS = flags.FLAGS


def main(argv):
    errors.no_arguments(argv)
    model = load_reward_model(paths.required("workdir", FLAGS.workdir), FLAGS.step)
    for record in score_file(model, paths.required("data", FLAGS.data), FLAGS.batch_size):
        print(json.dumps(record))


def run(argv=None):
    errors.run(main, argv)


if __name__ == "__main__":
    run()
