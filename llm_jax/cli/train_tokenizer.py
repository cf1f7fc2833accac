"""Train a SentencePiece BPE tokenizer (byte fallback, exact round trips) on a corpus.

  python -m llm_jax.cli.train_tokenizer --corpus=stdlib --vocab_size=8192 --out=tokenizers/stdlib8k

Writes OUT.model, and OUT.json describing the sample it was trained on: a bounded, deterministic
sample streamed from the corpus (files in a seeded order, up to 16 MB of whole documents), so a
corpus of any size works. Use it with --config.data.tokenizer=OUT.model. A few seconds on stdlib.
"""

import json
import pathlib

from absl import flags

from llm_jax.cli import errors, paths
from llm_jax.data import train_sentencepiece
from llm_jax.data.inputs import BUILT_IN
from llm_jax.data.sources import ReadOptions
from llm_jax.data.tokenizer import bpe_sample

flags.DEFINE_string("corpus", "stdlib", "stdlib | file or glob (.txt[.gz], .jsonl[.gz], .parquet)")
flags.DEFINE_integer(
    "vocab_size", 8192, "Vocabulary size, including 256 byte pieces and specials", 262
)
flags.DEFINE_string("out", None, "Output prefix: writes OUT.model and OUT.json")
flags.DEFINE_integer("max_bytes", 0, "Sample only the first this many corpus bytes (0: all)", 0)
flags.DEFINE_string("text_key", "text", "JSONL field / Parquet column with the text")
flags.mark_flags_as_required(["out"])
FLAGS = flags.FLAGS


def main(argv):
    errors.no_arguments(argv)
    corpus = FLAGS.corpus if FLAGS.corpus in BUILT_IN else paths.required("corpus", FLAGS.corpus)
    out = paths.required("out", FLAGS.out)
    documents, sample = bpe_sample(corpus, ReadOptions(FLAGS.text_key, "fail", FLAGS.max_bytes))
    path = train_sentencepiece(documents, FLAGS.vocab_size, out)
    meta = {"trained_on": sample, "vocab_size": FLAGS.vocab_size}
    pathlib.Path(out + ".json").write_text(json.dumps(meta, indent=1) + "\n")
    print(path)


def run(argv=None):
    errors.run(main, argv)


if __name__ == "__main__":
    run()
