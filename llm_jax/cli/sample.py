"""Complete a prompt with a trained run; only the completion goes to stdout (logs to stderr).

  python -m llm_jax.cli.sample --workdir=DIR --prompt="def " --max_new_tokens=64 --temperature=0.8 \
      --top_k=40 --top_p=0.95 --seed=0 [--num_samples=3] [--stream] [--step=N]

Several samples are separated by a line "----". Temperature 0 is greedy decoding. A fine-tuned
run's prompt is formatted as a user turn with its chat template (--nochat: raw text).
"""

import logging
import math
import sys

from absl import flags

from llm_jax.cli import errors, paths
from llm_jax.inspection.complete import SEPARATOR, complete
from llm_jax.inspection.run import load_run
from llm_jax.sampling import Sampler

flags.DEFINE_string("workdir", None, "Run directory of tools/train.py")
flags.DEFINE_integer("step", None, "Checkpoint step (default: the latest)", 1)
flags.DEFINE_string("prompt", "", "Text to continue")
flags.DEFINE_integer("max_new_tokens", 64, "Most tokens to generate (fewer when EOS comes)", 1)
flags.DEFINE_float("temperature", 1.0, "Softmax temperature; 0 is greedy")
flags.DEFINE_integer("top_k", 0, "Keep the k most likely tokens (0: off)", 0)
flags.DEFINE_float("top_p", 1.0, "Nucleus: keep the most likely tokens up to this mass (1: off)")
flags.DEFINE_float("min_p", 0.0, "Keep tokens ≥ min_p × the top probability (0: off)")
flags.DEFINE_float("repetition_penalty", 1.0, "Penalty on tokens already seen (1: off)")
flags.DEFINE_integer("seed", 0, "Sampling seed")
flags.DEFINE_integer("num_samples", 1, "Completions to generate", 1)
flags.DEFINE_bool("stream", False, "Print tokens as they are produced")
flags.DEFINE_bool("doc_start", True, "Start the prompt with EOS, as documents start in training")
flags.DEFINE_bool("chat", True, "Fine-tuned runs: the prompt is a user turn in the run's template")
flags.mark_flags_as_required(["workdir"])
errors.require("temperature", lambda t: math.isfinite(t) and t >= 0, "must be finite and ≥ 0")
errors.require("top_p", lambda p: 0 < p <= 1, "must be in (0, 1]")
errors.require("min_p", lambda p: 0 <= p <= 1, "must be in [0, 1]")
errors.require("repetition_penalty", lambda r: math.isfinite(r) and r > 0, "must be finite, > 0")
FLAGS = flags.FLAGS


def main(argv):
    errors.no_arguments(argv)
    f = FLAGS
    sampler = Sampler(f.temperature, f.top_k, f.top_p, f.min_p, f.repetition_penalty)
    run = load_run(paths.required("workdir", f.workdir), f.step)
    step = "latest" if f.step is None else f.step
    logging.getLogger("llm_jax").info("loaded %s (step %s)", f.workdir, step)

    def write(text):
        sys.stdout.write(text)
        sys.stdout.flush()

    texts = complete(
        run, f.prompt, max_new_tokens=f.max_new_tokens, sampler=sampler, seed=f.seed,
        num_samples=f.num_samples, doc_start=f.doc_start, write=write if f.stream else None,
        chat=f.chat,
    )  # fmt: skip
    print("" if f.stream else SEPARATOR.join(texts))


def run(argv=None):
    errors.run(main, argv)


if __name__ == "__main__":
    run()
