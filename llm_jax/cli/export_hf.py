"""Export a run as a Hugging Face Llama model directory (config, safetensors, tokenizer).

  python -m llm_jax.cli.export_hf --workdir=RUN --out=DIR [--step=S] [--dtype=bfloat16] \
      [--max_shard_mb=5000]

transformers then loads it with no llm_jax code: AutoModelForCausalLM.from_pretrained(DIR) and
AutoTokenizer.from_pretrained(DIR). Models Llama cannot express are refused before anything is
written.
"""

from absl import flags

from llm_jax.cli import errors, paths
from llm_jax.interop.export import DTYPES, export_run

flags.DEFINE_string("workdir", None, "Run directory of tools/train.py")
flags.DEFINE_integer("step", None, "Checkpoint step (default: the latest)", 1)
flags.DEFINE_string("out", None, "New (or empty) directory to write the model into")
flags.DEFINE_enum("dtype", "float32", DTYPES, "dtype of the written weights")
flags.DEFINE_float("max_shard_mb", 5000.0, "Split the weights into shards of at most this size")
flags.mark_flags_as_required(["workdir", "out"])
errors.require("max_shard_mb", lambda mb: mb > 0, "must be > 0")
FLAGS = flags.FLAGS


def main(argv):
    errors.no_arguments(argv)
    f = FLAGS
    files = export_run(
        paths.required("workdir", f.workdir),
        paths.required("out", f.out),
        step=f.step,
        dtype=f.dtype,
        max_shard_bytes=int(f.max_shard_mb * 1e6),
    )
    print(f"wrote {f.out}: {', '.join(files)}")


def run(argv=None):
    errors.run(main, argv)


if __name__ == "__main__":
    run()
