"""Tokenize a corpus into the token cache (once) and print what it holds, as JSON.

  python tools/prepare_data.py --corpus=stdlib --tokenizer=bpe:8192 [--cache_dir=DIR]

A later training run with the same corpus and tokenizer reuses the cache without re-tokenizing.
"""

import json

from absl import app, flags

from llm_jax.config import get_default_config
from llm_jax.data import DataError, prepare_data

_DATA = get_default_config().data
flags.DEFINE_string("corpus", _DATA.corpus, "stdlib | text file or glob | .jsonl file")
flags.DEFINE_string("tokenizer", _DATA.tokenizer, "byte | path/to/x.model | bpe:<vocab_size>")
flags.DEFINE_string("cache_dir", _DATA.cache_dir, "'' = $LLM_JAX_CACHE or ~/.cache/llm_jax")
flags.DEFINE_integer("max_bytes", _DATA.max_bytes, "Read at most this many corpus bytes (0: all)")
flags.DEFINE_float("val_fraction", _DATA.val_fraction, "Fraction of documents held out")
flags.DEFINE_integer("seq_len", _DATA.seq_len, "Checked: each split must hold one sequence")
FLAGS = flags.FLAGS


def main(argv):
    del argv
    cfg = get_default_config().data
    for key in ("corpus", "tokenizer", "cache_dir", "max_bytes", "val_fraction", "seq_len"):
        cfg[key] = FLAGS[key].value
    try:
        print(json.dumps(prepare_data(cfg).info, indent=1))
    except DataError as e:
        raise SystemExit(f"error: {e}") from None


if __name__ == "__main__":
    app.run(main)
