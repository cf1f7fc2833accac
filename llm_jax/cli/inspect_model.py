"""See inside a trained run: each subcommand prints a text table and writes a PNG.

  python -m llm_jax.cli.inspect_model tokens --workdir=DIR --text="def f(x):"
  python -m llm_jax.cli.inspect_model next --workdir=DIR --text="import " --top_k=5 --top_p=0.9
  python -m llm_jax.cli.inspect_model attention --workdir=DIR --text="for i" --layers=0 --heads=0,1
  python -m llm_jax.cli.inspect_model embeddings --workdir=DIR --token=e --chosen=a,i,o,u,x,1,2

The PNG goes to --out or DIR/inspect/<subcommand>.png.
"""

import logging
import sys

from absl import app, flags
from absl import logging as absl_logging

from llm_jax.cli import paths
from llm_jax.inspection.commands import COMMANDS, run_command

flags.DEFINE_string("workdir", None, "Run directory of tools/train.py")
flags.DEFINE_integer("step", None, "Checkpoint step (default: the latest)")
flags.DEFINE_string("out", None, "PNG path (default: WORKDIR/inspect/<subcommand>.png)")
flags.DEFINE_string("text", "", "Text to split (tokens) or prompt (next, attention)")
flags.DEFINE_list("temperatures", ["0.5", "1", "2"], "next: temperatures to compare")
flags.DEFINE_integer("top_k", 0, "next: top-k to mark survivors of (0: off)")
flags.DEFINE_float("top_p", 1.0, "next: top-p to mark survivors of (1: off)")
flags.DEFINE_integer("n", 10, "next: candidates to list")
flags.DEFINE_list("layers", None, "attention: layers to draw (default: all)")
flags.DEFINE_list("heads", None, "attention: heads to draw (default: all)")
flags.DEFINE_string("token", None, "embeddings: the query token (text that is one token)")
flags.DEFINE_integer("k", 10, "embeddings: neighbours to list")
flags.DEFINE_list("chosen", [], "embeddings: more tokens to place on the PCA plot")
flags.mark_flags_as_required(["workdir"])
FLAGS = flags.FLAGS
OPTIONS = {
    "next": lambda f: dict(
        temperatures=[float(t) for t in f.temperatures], top_k=f.top_k, top_p=f.top_p, n=f.n
    ),
    "attention": lambda f: dict(
        layers=f.layers and [int(i) for i in f.layers], heads=f.heads and [int(i) for i in f.heads]
    ),
    "embeddings": lambda f: dict(token=f.token, k=f.k, chosen=f.chosen),
    "tokens": lambda f: {},
}


def main(argv):
    if len(argv) != 2 or argv[1] not in COMMANDS:
        sys.exit(f"usage: inspect_model {{{'|'.join(COMMANDS)}}} --workdir=DIR [flags]")
    absl_logging.set_verbosity(absl_logging.WARNING)  # Orbax logs every file it reads at INFO
    logging.getLogger("llm_jax").setLevel(logging.INFO)
    options = dict(OPTIONS[argv[1]](FLAGS), text=FLAGS.text)
    table, png = run_command(
        argv[1], paths.absolute(FLAGS.workdir), step=FLAGS.step, out=FLAGS.out, **options
    )
    print(table)
    print(f"wrote {png}", file=sys.stderr)


def run():
    app.run(main)


if __name__ == "__main__":
    run()
