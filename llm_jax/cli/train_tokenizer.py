"""Train a SentencePiece BPE tokenizer (byte fallback, exact round trips) on a corpus.

  python -m llm_jax.cli.train_tokenizer --corpus=stdlib --vocab_size=8192 --out=tokenizers/stdlib8k

Writes OUT.model; use it with --config.data.tokenizer=OUT.model. Takes a few seconds on the stdlib
(training reads a 16 MB sample of the corpus).
"""

from absl import app, flags

from llm_jax.data import DataError, load_corpus, train_sentencepiece

flags.DEFINE_string("corpus", "stdlib", "stdlib | text file or glob (.txt, .txt.gz) | .jsonl file")
flags.DEFINE_integer("vocab_size", 8192, "Vocabulary size, including 256 byte pieces and specials")
flags.DEFINE_string("out", None, "Output prefix: writes OUT.model")
flags.DEFINE_integer("max_bytes", 0, "Read at most this many corpus bytes (0: all)")
flags.mark_flags_as_required(["out"])
FLAGS = flags.FLAGS


def main(argv):
    del argv
    try:
        corpus = load_corpus(FLAGS.corpus, FLAGS.max_bytes)
        print(train_sentencepiece(corpus.documents, FLAGS.vocab_size, FLAGS.out))
    except DataError as e:
        raise SystemExit(f"error: {e}") from None


def run():
    app.run(main)


if __name__ == "__main__":
    run()
