"""Prepare a token store once: plan units of work, tokenize them in parallel, write the manifest.

Units are groups of whole files (≈ unit_bytes together) or byte ranges of one large splittable
file (uncompressed JSONL, Parquet), in corpus order; a capped corpus (max_bytes) is one unit, read
in order. The plan depends only on the inputs and the settings, so any number of workers, and
any split of the units over machines (part i of N takes units u ≡ i mod N), writes the same files.
A unit's record in work/ marks it done, so a rerun after a kill skips finished units; the manifest
is written last, from the records, and work/ is then removed.
"""

from __future__ import annotations

import collections
import json
import logging
import math
import multiprocessing
import os
import platform

import numpy as np

from llm_jax.data.inputs import BUILT_IN, DataError, resolve, url_to_fs
from llm_jax.data.progress import PrepareProgress
from llm_jax.data.sources import Segment, corpus_hash
from llm_jax.data.store import FORMAT, MANIFEST, SPLITS, dumps
from llm_jax.data.tokenize import check_val_fraction, token_dtype
from llm_jax.data.tokenizer import (
    ByteTokenizer,
    bpe_sample,
    bpe_vocab_size,
    build_tokenizer,
    load_tokenizer_from_dir,
    read_options,
    train_bpe,
)
from llm_jax.data.writer import Job, tokenize_unit, unit_record_path, write_atomically

log = logging.getLogger("llm_jax")

UNIT_BYTES = 64 << 20  # input bytes per unit of work (the resume granularity)
SHARD_TOKENS = 1 << 26  # tokens per shard file (128 MB of uint16)


def plan_units(inputs, unit_bytes: int, max_bytes: int) -> list[list[Segment]]:
    """The units of work, in corpus order."""
    if max_bytes:  # the cap runs across files in order: one sequential unit
        return [[Segment(i) for i in inputs]]
    units, group, size = [], [], 0
    for source in inputs:
        if source.splittable and source.size > unit_bytes:
            units += [group] if group else []
            group, size = [], 0
            n = math.ceil(source.size / unit_bytes)
            bounds = [k * source.size // n for k in range(n + 1)]
            units += [[Segment(source, a, b)] for a, b in zip(bounds, bounds[1:], strict=False)]
            continue
        group.append(Segment(source))
        size += source.size
        if size >= unit_bytes:
            units.append(group)
            group, size = [], 0
    return units + ([group] if group else [])


def prepare_store(
    data_cfg,
    out: str,
    *,
    workers: int = 1,
    part: tuple[int, int] = (0, 1),
    tokenizer=None,
    unit_bytes: int = UNIT_BYTES,
    shard_tokens: int = SHARD_TOKENS,
) -> dict | None:
    """Prepare data_cfg.corpus into the store ``out``; its manifest, or None for a part of N > 1.

    Resumable: units finished by an earlier (killed) run are kept and skipped.
    """
    index, count = part
    fs, root = url_to_fs(out)
    if fs.isfile(f"{root}/{MANIFEST}"):
        return _existing(fs, root, out, data_cfg)
    check_val_fraction(data_cfg.val_fraction)
    inputs = resolve(data_cfg.corpus)
    tokenizer = _store_tokenizer(fs, root, out, data_cfg, tokenizer)
    units = plan_units(inputs, unit_bytes, data_cfg.max_bytes)
    options = read_options(data_cfg)
    settings = dict(val_fraction=data_cfg.val_fraction, max_bytes=data_cfg.max_bytes)
    settings |= dict(text_key=options.text_key, bad_records=options.bad_records)
    settings |= dict(unit_bytes=unit_bytes, shard_tokens=shard_tokens)
    plan = {
        "format": FORMAT,
        "corpus": data_cfg.corpus,
        "inputs": [[i.name, i.size] for i in inputs],  # versions are checked per unit
        "units": [[[s.input.name, s.start, s.end] for s in u] for u in units],
        "settings": settings,
        "tokenizer": _tokenizer_facts(tokenizer),
    }
    _write_or_check_plan(fs, root, out, plan)
    if not fs.isfile(f"{root}/tokenizer/tokenizer.json"):  # saved once the plan agrees
        tokenizer.save(f"{out}/tokenizer")
    done = _finished_units(fs, root, units)
    todo = [u for u in range(len(units)) if u % count == index and u not in done]
    proto = None if isinstance(tokenizer, ByteTokenizer) else tokenizer.proto
    dtype = np.dtype(token_dtype(tokenizer.vocab_size)).newbyteorder("<").str
    threads = max(1, (os.cpu_count() or 1) // max(1, workers))
    job = Job(out, proto, options, data_cfg.val_fraction, shard_tokens, dtype, threads)
    _run(job, units, todo, workers, PrepareProgress(units, todo))
    return merge(out) if count == 1 else None


def merge(out: str) -> dict:
    """Write the manifest from every unit's record (all parts must be done); remove work/."""
    fs, root = url_to_fs(out)
    if fs.isfile(f"{root}/{MANIFEST}"):
        return _load(fs, f"{root}/{MANIFEST}")
    if not fs.isfile(f"{root}/work/plan.json"):
        raise DataError(f"{out} has no preparation to merge (work/plan.json is missing)")
    plan = _load(fs, f"{root}/work/plan.json")
    done = _finished_units(fs, root)
    missing = [u for u in range(len(plan["units"])) if u not in done]
    if missing:
        raise DataError(
            f"{out}: {len(missing)} of {len(plan['units'])} units are not prepared yet (e.g. unit "
            f"{missing[0]}); finish every --shard=i/N part, then run --merge again"
        )
    records = [_load(fs, unit_record_path(root, u)) for u in range(len(plan["units"]))]
    manifest = _manifest(plan, records)
    if not manifest["splits"]["train"]["tokens"] + manifest["splits"]["val"]["tokens"]:
        raise DataError(
            f"data.corpus={plan['corpus']!r} is empty (no text in {len(plan['inputs'])} "
            f"file(s); skipped: {manifest['skipped']}); point it at files that contain text"
        )
    write_atomically(fs, f"{root}/{MANIFEST}", dumps(manifest))
    fs.rm(f"{root}/work", recursive=True)
    for leftover in fs.glob(f"{root}/shards/*.tmp-*"):  # from killed workers
        fs.rm(leftover)
    return manifest


def _manifest(plan: dict, records: list[dict]) -> dict:
    inputs = [r for record in records for r in record["inputs"]]
    skipped = collections.Counter()
    for record in records:
        skipped.update(record["skipped"])
    splits = {}
    for name in SPLITS:
        parts = [record["splits"][name] for record in records]
        splits[name] = {key: sum(p[key] for p in parts) for key in ("tokens", "documents", "bytes")}
        splits[name] |= {key: [x for p in parts for x in p[key]] for key in ("shards", "docs")}
    return {
        "format": FORMAT,
        "corpus": plan["corpus"],
        "corpus_hash": corpus_hash(plan["corpus"], inputs),
        "n_files": len(plan["inputs"]),
        "units": len(records),
        "inputs": inputs,
        "settings": plan["settings"],
        "tokenizer": plan["tokenizer"],
        "dtype": np.dtype(token_dtype(plan["tokenizer"]["vocab_size"])).name,
        "skipped": dict(sorted(skipped.items())),
        "splits": splits,
        # Built-in corpora depend on the interpreter: say which.
        **({"python_version": platform.python_version()} if plan["corpus"] in BUILT_IN else {}),
    }


def _store_tokenizer(fs, root: str, out: str, data_cfg, tokenizer):
    """The tokenizer an earlier run (or part) saved in out/tokenizer, else the one asked for."""
    spec = data_cfg.tokenizer
    if not fs.isfile(f"{root}/tokenizer/tokenizer.json"):
        if tokenizer is None and spec.startswith("bpe:"):
            documents, sample = bpe_sample(data_cfg.corpus, read_options(data_cfg))
            return train_bpe(documents, sample, bpe_vocab_size(spec))
        return tokenizer or build_tokenizer(data_cfg)
    saved = load_tokenizer_from_dir(f"{out}/tokenizer")
    wanted = tokenizer or (None if spec.startswith("bpe:") else build_tokenizer(data_cfg))
    if wanted is None and saved.vocab_size == bpe_vocab_size(spec):
        wanted = saved
    if wanted is None or wanted.fingerprint != saved.fingerprint:
        raise DataError(
            f"{out}/tokenizer holds another tokenizer than --tokenizer={spec!r} (an earlier "
            "preparation); rerun with the same --tokenizer, or use a new --out"
        )
    saved.spec = spec
    return saved


def _tokenizer_facts(tokenizer) -> dict:
    files = ["tokenizer/tokenizer.json"]
    if not isinstance(tokenizer, ByteTokenizer):
        files.append("tokenizer/tokenizer.model")
    facts = dict(spec=tokenizer.spec, fingerprint=tokenizer.fingerprint, files=files)
    facts |= dict(vocab_size=tokenizer.vocab_size, eos_id=tokenizer.eos_id)
    return facts | (
        {"trained_on": tokenizer.metadata} if getattr(tokenizer, "metadata", None) else {}
    )


def _write_or_check_plan(fs, root: str, out: str, plan: dict) -> None:
    path = f"{root}/work/plan.json"
    if fs.isfile(path):
        if _load(fs, path) != plan:
            raise DataError(
                f"{out} holds an unfinished preparation of other inputs or settings "
                "(work/plan.json differs: a file changed, or another corpus, tokenizer or "
                "setting); rerun with the same ones to resume, or use a new --out"
            )
        return
    fs.makedirs(f"{root}/work", exist_ok=True)
    write_atomically(fs, path, dumps(plan))


def _existing(fs, root: str, out: str, data_cfg) -> dict:
    manifest = _load(fs, f"{root}/{MANIFEST}")
    held = (manifest["corpus"], manifest["tokenizer"]["spec"])
    if held != (data_cfg.corpus, data_cfg.tokenizer):
        raise DataError(
            f"{out} already holds a store of corpus {held[0]!r} with tokenizer {held[1]!r}, not "
            f"{data_cfg.corpus!r} with {data_cfg.tokenizer!r}; choose another --out"
        )
    return manifest


def _finished_units(fs, root: str, units=None) -> set[int]:
    """Units with a record; given the plan's units, only those whose inputs did not change."""
    names = fs.glob(f"{root}/work/unit-*.json")
    done = {int(n.rsplit("unit-", 1)[1].removesuffix(".json")) for n in names}
    if units is None:
        return done
    current = {
        u for u in done if _load(fs, unit_record_path(root, u))["versions"] == _versions(units[u])
    }
    for u in sorted(done - current):
        log.info("unit %d: an input changed since it was prepared; preparing it again", u)
    return current


def _versions(segments) -> list[str]:
    return [s.input.version for s in segments]


def _load(fs, path: str) -> dict:
    return json.loads(fs.cat_file(path))


def _run(job: Job, units, todo: list[int], workers: int, progress) -> None:
    """Tokenize the units in ``todo``: here, or in ``workers`` spawned processes."""
    workers = min(workers or os.cpu_count() or 1, len(todo))
    if workers <= 1:
        for u in todo:
            progress.update(tokenize_unit(job, u, units[u]))
    else:  # spawn, not fork: the caller may be a trainer with JAX's threads running
        with multiprocessing.get_context("spawn").Pool(workers) as pool:
            tasks = [(job, u, units[u]) for u in todo]
            for record in pool.imap_unordered(_tokenize_task, tasks):
                progress.update(record)
    progress.close()


def _tokenize_task(task) -> dict:
    return tokenize_unit(*task)
