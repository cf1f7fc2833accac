"""Prepare a corpus once into a token store (tokenized in parallel, resumable), print its facts.

  python -m llm_jax.cli.prepare_data --corpus='data/*.jsonl.gz' --tokenizer=bpe:32768 \
      --out=stores/web [--workers=8] [--shard=i/N] [--merge] [--verify]

Train on it with --config.data.corpus=stores/web. --out may be remote (gs://...). Rerunning the
same command after a kill resumes (finished units are kept). On several machines, run
--shard=i/N on each (same --out), then --merge once. --verify checks every file's sha256.
Without --out the corpus goes into the cache that training runs use for data.corpus=SPEC.
"""

import json

from absl import flags

from llm_jax.cli import errors, paths
from llm_jax.config import get_default_config
from llm_jax.data import DataError, Store, merge, prepare_store
from llm_jax.data.dataset import cached_store
from llm_jax.data.prepare import SHARD_TOKENS, UNIT_BYTES
from llm_jax.data.tokenizer import build_tokenizer

_DATA = get_default_config().data
_KEYS = ("corpus", "tokenizer", "cache_dir", "max_bytes", "val_fraction", "text_key", "seq_len")
flags.DEFINE_string(
    "corpus",
    _DATA.corpus,
    "stdlib | site-packages | file or glob (.txt[.gz], .jsonl[.gz], .parquet), local or remote",
)
flags.DEFINE_string("tokenizer", _DATA.tokenizer, "byte | path/to/x.model | bpe:<vocab_size>")
flags.DEFINE_string("out", "", "Store directory, local or remote ('' = the training cache)")
flags.DEFINE_integer("workers", 0, "Tokenizing processes (0: one per CPU)")
flags.DEFINE_string("shard", "0/1", "i/N: prepare part i of N (units u ≡ i mod N), then --merge")
flags.DEFINE_bool("merge", False, "Write --out's manifest once all --shard parts are done")
flags.DEFINE_bool("verify", False, "Check the sha256 of every file of the store --out")
flags.DEFINE_string("cache_dir", _DATA.cache_dir, "'' = $LLM_JAX_CACHE or ~/.cache/llm_jax")
flags.DEFINE_integer("max_bytes", _DATA.max_bytes, "Read at most this many corpus bytes (0: all)")
flags.DEFINE_float("val_fraction", _DATA.val_fraction, "Fraction of documents held out")
flags.DEFINE_string("text_key", _DATA.text_key, "JSONL field / Parquet column with the text")
flags.DEFINE_enum(
    "bad_records",
    _DATA.bad_records,
    ["fail", "skip"],
    "Malformed JSON lines, records without text: fail, or skip and count them",
)
flags.DEFINE_integer("seq_len", _DATA.seq_len, "Checked: each split must hold one sequence")
flags.DEFINE_integer("unit_bytes", UNIT_BYTES, "Input bytes per unit of work (resume granularity)")
flags.DEFINE_integer("shard_tokens", SHARD_TOKENS, "Tokens per shard file, at most")
FLAGS = flags.FLAGS


def main(argv):
    errors.no_arguments(argv)
    config = get_default_config()
    for key in (*_KEYS, "bad_records"):
        config.data[key] = FLAGS[key].value
    paths.absolute_config(config)  # corpus, tokenizer and cache paths; the --out flag below
    print(json.dumps(_prepare(config.data, paths.absolute(FLAGS.out)), indent=1))


def _prepare(cfg, out: str) -> dict:
    if not out:
        tokenizer = None if cfg.tokenizer.startswith("bpe:") else build_tokenizer(cfg)
        return _checked(cached_store(cfg, cfg.corpus, tokenizer), cfg.seq_len)
    if FLAGS.verify:
        Store(out).verify("checksum")
        return {"verified": out, "files": len(Store(out).files())}
    if FLAGS.merge:
        merge(out)
    elif (
        prepare_store(cfg, out, workers=FLAGS.workers, part=_part(FLAGS.shard), **_layout()) is None
    ):
        return {"part": FLAGS.shard, "out": out, "next": "--merge once every part is done"}
    return _checked(Store(out), cfg.seq_len)


def _layout() -> dict:
    return dict(unit_bytes=FLAGS.unit_bytes, shard_tokens=FLAGS.shard_tokens)


def _part(value: str) -> tuple[int, int]:
    index, _, count = value.partition("/")
    if not (index.isdigit() and count.isdigit() and int(index) < int(count)):
        raise DataError(f"--shard={value!r} must be i/N with 0 ≤ i < N, e.g. --shard=0/4")
    return int(index), int(count)


def _checked(store: Store, seq_len: int) -> dict:
    """The store's facts; a DataError when a split is shorter than one sequence."""
    info = store.info()
    for split in ("train", "val"):
        if info[f"n_{split}_tokens"] < seq_len + 1:
            raise DataError(
                f"the {split} split of {store.url} has {info[f'n_{split}_tokens']} tokens, fewer "
                f"than one sequence of --seq_len+1={seq_len + 1}; use a larger corpus, a larger "
                "--val_fraction or a shorter --seq_len"
            )
    return info


def run(argv=None):
    errors.run(main, argv)


if __name__ == "__main__":
    run()
