"""See inside a trained run: each subcommand prints a text table and writes a PNG.

  python -m llm_jax.cli.inspect_model tokens --workdir=DIR --text="def f(x):"
  python -m llm_jax.cli.inspect_model next --workdir=DIR --text="import " --top_k=5 --top_p=0.9
  python -m llm_jax.cli.inspect_model attention --workdir=DIR --text="for i" --layers=0 --heads=0,1
  python -m llm_jax.cli.inspect_model embeddings --workdir=DIR --token=e --chosen=a,i,o,u,x,1,2

The PNG goes to --out or DIR/inspect/<subcommand>.png.
"""

import math
import sys

from absl import flags

from llm_jax.cli import errors, paths
from llm_jax.inspection.commands import COMMANDS, run_command

flags.DEFINE_string("workdir", None, "Run directory of tools/train.py")
flags.DEFINE_integer("step", None, "Checkpoint step (default: the latest)", 1)
flags.DEFINE_string("out", None, "PNG path (default: WORKDIR/inspect/<subcommand>.png)")
flags.DEFINE_string("text", "", "Text to split (tokens) or prompt (next, attention)")
flags.DEFINE_list("temperatures", ["0.5", "1", "2"], "next: temperatures to compare")
flags.DEFINE_integer("top_k", 0, "next: top-k to mark survivors of (0: off)", 0)
flags.DEFINE_float("top_p", 1.0, "next: top-p to mark survivors of (1: off)")
flags.DEFINE_integer("n", 10, "next: candidates to list", 1)
flags.DEFINE_list("layers", None, "attention: layers to draw (default: all)")
flags.DEFINE_list("heads", None, "attention: heads to draw (default: all)")
flags.DEFINE_string("token", None, "embeddings: the query token (text that is one token)")
flags.DEFINE_integer("k", 10, "embeddings: neighbours to list", 1)
flags.DEFINE_list("chosen", [], "embeddings: more tokens to place on the PCA plot")
flags.mark_flags_as_required(["workdir"])
FLAGS = flags.FLAGS


def _all(kind, texts, above) -> bool:
    """Every text parses as `kind` and is a finite number > above."""
    try:
        return all(math.isfinite(kind(t)) and kind(t) > above for t in texts or ())
    except ValueError:
        return False


errors.require("top_p", lambda p: 0 < p <= 1, "must be in (0, 1]")
errors.require("temperatures", lambda ts: _all(float, ts, 0), "must be numbers > 0, e.g. 0.5,1")
errors.require("layers", lambda xs: _all(int, xs, -1), "must be integers ≥ 0, e.g. 0,1")
errors.require("heads", lambda xs: _all(int, xs, -1), "must be integers ≥ 0, e.g. 0,1")
errors.require("out", lambda out: out is None or out.endswith(".png"), "must end in .png")

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
        errors.fail(f"usage: inspect_model {{{'|'.join(COMMANDS)}}} --workdir=DIR [flags]")
    options = dict(OPTIONS[argv[1]](FLAGS), text=FLAGS.text)
    workdir, out = paths.required("workdir", FLAGS.workdir), paths.absolute(FLAGS.out or "")
    table, png = run_command(argv[1], workdir, step=FLAGS.step, out=out or None, **options)
    print(table)
    print(f"wrote {png}", file=sys.stderr)


def run(argv=None):
    errors.run(main, argv)


if __name__ == "__main__":
    run()
