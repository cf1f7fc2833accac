"""What a run trains on: one corpus or a weighted mixture of sources, each a token store.

Opening reads manifests only. A source that is a raw corpus spec (``stdlib``, files, globs) is
prepared once into the local cache (data.cache_dir/stores/KEY), KEY hashing the spec, each
file's name, size and modification time, the tokenizer and the settings: a later start lists
the files and opens the store, without reading the corpus.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import fcntl
import hashlib
import logging
import math

import numpy as np

from llm_jax.config import parse_mixture
from llm_jax.data.cache_check import discard
from llm_jax.data.inputs import DataError, built_in_version, resolve
from llm_jax.data.loader import BatchIterator, eval_batches, n_windows
from llm_jax.data.mixture import Mixture
from llm_jax.data.prepare import prepare_store
from llm_jax.data.store import FORMAT, MANIFEST, Store, TokenStream, dumps, is_store, is_unfinished
from llm_jax.data.tokenizer import build_tokenizer, cache_root

log = logging.getLogger("llm_jax")


@dataclasses.dataclass
class Source:
    name: str  # "" for a run on data.corpus alone
    weight: float
    store: Store
    train: TokenStream
    val: TokenStream


class TrainingData:
    """The run's tokenizer, batches, eval sets and run.json facts, for one or many sources."""

    def __init__(self, data_cfg, tokenizer, sources: list[Source], *, steps: int, seed: int):
        self.cfg, self.tokenizer, self.sources, self.seed = data_cfg, tokenizer, sources, seed
        self.mixture = None
        if data_cfg.mixture:
            names, weights = [s.name for s in sources], [s.weight for s in sources]
            streams = [s.train for s in sources]
            self.mixture = Mixture(names, streams, weights, data_cfg.seq_len, data_cfg.repeat)
        self.epochs = self._epochs(steps * data_cfg.batch_size)
        for name, epochs in self.epochs.items():
            if epochs > 1 and not data_cfg.repeat:
                raise DataError(
                    f"{_where(name)}train.steps={steps} × data.batch_size={data_cfg.batch_size} "
                    f"rows read its training windows {epochs:.2f} times and data.repeat=False; "
                    "add data, lower its weight, train fewer steps, or set data.repeat=True"
                )
            if epochs > 1:
                log.info("%sthe run reads the training data %.2f times", _where(name), epochs)

    def _epochs(self, n_rows: int) -> dict[str, float]:
        if self.mixture is not None:
            return self.mixture.epochs(n_rows, self.seed)
        return {"": n_rows / n_windows(len(self.sources[0].train), self.cfg.seq_len)}

    def batch_iterator(self, *, process_index=0, process_count=1) -> BatchIterator:
        d = self.cfg
        return BatchIterator(
            self.mixture or self.sources[0].train,
            seed=self.seed,
            batch_size=d.batch_size,
            seq_len=d.seq_len,
            prefetch=d.prefetch,
            process_index=process_index,
            process_count=process_count,
        )

    def eval_batches(
        self, *, eval_tokens=None, process_index=0, process_count=1
    ) -> dict[str, list[np.ndarray]]:
        """Per source, this process's rows of its fixed held-out set (data.eval_tokens, or a
        subset of as many tokens, built the same way)."""
        d = self.cfg
        kw = dict(
            seq_len=d.seq_len, batch_size=d.batch_size, eval_tokens=eval_tokens or d.eval_tokens
        )
        kw |= dict(process_index=process_index, process_count=process_count)
        return {s.name: eval_batches(s.val, **kw) for s in self.sources}

    def eval_metrics(self, losses: dict[str, float]) -> dict[str, float]:
        """Loss and bits per byte: per source (NAME/loss) and of the mixture (weighted).

        The mixture's bits per byte is its nats over its bytes: Σ w·loss / (ln 2 · Σ w·bytes/token).
        """
        shares = np.array([s.weight for s in self.sources]) / sum(s.weight for s in self.sources)
        bytes_per_token = [s.store.bytes_per_token for s in self.sources]
        loss = float(np.dot(shares, [losses[s.name] for s in self.sources]))
        out = {
            "loss": loss,
            "bits_per_byte": loss / math.log(2) / float(np.dot(shares, bytes_per_token)),
        }
        if self.mixture is not None:
            for s, bpt in zip(self.sources, bytes_per_token, strict=True):
                out[f"{s.name}/loss"] = losses[s.name]
                out[f"{s.name}/bits_per_byte"] = losses[s.name] / math.log(2) / bpt
        return out

    @property
    def info(self) -> dict:
        """run.json's data facts: the store's, or per source with weights and manifest hashes."""
        if self.mixture is None:
            return self.sources[0].store.info() | {"epochs": self.epochs[""]}
        mixture = {
            s.name: s.store.info() | dict(weight=s.weight, epochs=self.epochs[s.name])
            for s in self.sources
        }
        identity = [[s.name, s.weight, s.store.info()["corpus_hash"]] for s in self.sources]
        return {
            "corpus": self.cfg.mixture,
            "corpus_hash": hashlib.sha256(dumps({"mixture": identity})).hexdigest(),
            "mixture": mixture,
            "tokenizer": self.cfg.tokenizer,
            "tokenizer_fingerprint": self.tokenizer.fingerprint,
            "vocab_size": self.tokenizer.vocab_size,
        }


def open_training_data(data_cfg, *, steps: int, seed: int) -> TrainingData:
    """Open (preparing raw specs once) and check every source, before any training step."""
    entries = parse_mixture(data_cfg.mixture) if data_cfg.mixture else [("", 1.0, data_cfg.corpus)]
    bpe = data_cfg.tokenizer.startswith("bpe:")
    if bpe and len(entries) > 1:
        raise DataError(
            f"data.tokenizer={data_cfg.tokenizer!r} with a data.mixture: a mixture needs one "
            "tokenizer for all sources; train it with tools/train_tokenizer.py and set "
            "data.tokenizer=PATH.model"
        )
    tokenizer = None if bpe else build_tokenizer(data_cfg)
    sources = []
    for name, weight, spec in entries:
        try:
            store = _open_store(data_cfg, spec, tokenizer)
            tokenizer = tokenizer or _store_bpe(store, data_cfg)
            _check_store(store, tokenizer, data_cfg)
        except DataError as e:
            raise DataError(_where(name) + str(e)) from e
        sources.append(Source(name, weight, store, store.split("train"), store.split("val")))
    return TrainingData(data_cfg, tokenizer, sources, steps=steps, seed=seed)


def cached_store(data_cfg, spec: str, tokenizer=None) -> Store:
    """The store of raw corpus ``spec`` in the cache, prepared on first use (one process at a
    time: others wait on a lock, then open it). tokenizer None means data_cfg.tokenizer's bpe:N.
    """
    inputs = resolve(spec)
    key = {
        "format": FORMAT,
        "corpus": spec,
        "python": built_in_version(spec),
        "inputs": [[i.name, i.size, i.version] for i in inputs],
        "tokenizer": tokenizer.fingerprint if tokenizer else data_cfg.tokenizer,
        "settings": [data_cfg[k] for k in ("val_fraction", "max_bytes", "text_key", "bad_records")],
    }
    directory = cache_root(data_cfg) / "stores" / hashlib.sha256(dumps(key)).hexdigest()[:24]
    if not _intact(directory):  # missing, or broken (removed, to be prepared again)
        directory.parent.mkdir(parents=True, exist_ok=True)
        with _locked(directory.with_name(directory.name + ".lock")):
            if not _intact(directory):
                cfg = copy.deepcopy(data_cfg)
                cfg.corpus = spec
                log.info("preparing data.corpus=%r into %s (once)", spec, directory)
                tokenizer = tokenizer or build_tokenizer(cfg)
                prepare_store(cfg, str(directory), workers=cfg.prepare_workers, tokenizer=tokenizer)
    return Store(str(directory))


def _intact(directory) -> bool:
    """Whether a cached store is there and whole; a broken one is removed (with a warning)."""
    if not (directory / MANIFEST).is_file():
        return False
    try:
        Store(str(directory)).verify("size")
    except (DataError, OSError, ValueError, KeyError) as e:  # truncated or garbled files
        log.warning("cached token store %s is broken (%s): preparing it again", directory, e)
        discard(directory)
        return False
    return True


def _open_store(data_cfg, spec: str, tokenizer) -> Store:
    if is_store(spec):
        if data_cfg.max_bytes:
            raise DataError(
                f"data.max_bytes={data_cfg.max_bytes} caps raw corpora, but {spec} is a prepared "
                "store; set data.max_bytes=0 (or prepare a capped store with --max_bytes)"
            )
        return Store(spec)
    if is_unfinished(spec):
        raise DataError(
            f"{spec} is an unfinished store ({MANIFEST} is missing, work/ holds the finished "
            f"units); finish it: tools/prepare_data.py --out={spec} with the same flags (or "
            "--merge once every --shard part is done)"
        )
    return cached_store(data_cfg, spec, tokenizer)


def _store_bpe(store: Store, data_cfg):
    """data.tokenizer=bpe:N on a store: the store's tokenizer, if it is that bpe:N."""
    spec = store.manifest["tokenizer"]["spec"]
    if spec != data_cfg.tokenizer:
        raise DataError(
            f"store {store.url} was tokenized with {spec!r}, but data.tokenizer="
            f"{data_cfg.tokenizer!r}; set data.tokenizer={_store_tokenizer_spec(store)}"
        )
    return store.tokenizer


def _store_tokenizer_spec(store: Store) -> str:
    spec = store.manifest["tokenizer"]["spec"]
    return spec if spec == "byte" else f"{store.url}/tokenizer/tokenizer.model"


def _check_store(store: Store, tokenizer, data_cfg) -> None:
    """Same tokenizer as the run, files as the manifest says, one sequence per split."""
    theirs = store.manifest["tokenizer"]
    if theirs["fingerprint"] != tokenizer.fingerprint:
        raise DataError(
            f"store {store.url} was tokenized with {theirs['spec']!r} (fingerprint "
            f"{theirs['fingerprint']}), but the run's data.tokenizer={data_cfg.tokenizer!r} has "
            f"fingerprint {tokenizer.fingerprint}; set data.tokenizer="
            f"{_store_tokenizer_spec(store)}, or prepare the store again with "
            f"--tokenizer={data_cfg.tokenizer}"
        )
    store.verify(data_cfg.verify)
    need = data_cfg.seq_len + 1
    for split in ("train", "val"):
        have = store.manifest["splits"][split]["tokens"]
        if have < need:
            raise DataError(
                f"the {split} split of {store.url} ({store.manifest['corpus']!r}) has {have} "
                f"tokens, fewer than one sequence of data.seq_len+1={need}; use a larger corpus, "
                f"a larger data.val_fraction (it was {store.manifest['settings']['val_fraction']}) "
                "or a shorter data.seq_len"
            )


def _where(name: str) -> str:
    return f"data.mixture source {name!r}: " if name else ""


@contextlib.contextmanager
def _locked(path):
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
