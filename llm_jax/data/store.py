"""The token store: its on-disk format, its manifest, and a reader that opens in constant time.

A store is a directory (local, or remote through fsspec)::

    manifest.json                  written last: its presence means the store is complete
    tokenizer/tokenizer.json       the tokenizer (+ tokenizer.model for SentencePiece)
    shards/train-UUUUU-SSS.bin     tokens of work unit U, shard S: raw little-endian uint16
                                   (vocab ≤ 65535) or uint32, ≤ shard_tokens tokens each
    shards/train-UUUUU.docs        int64 little-endian: end offset of each document of unit U
                                   within its train tokens (EOS included)
    shards/val-...                 the same for the held-out documents
    work/                          only while unfinished: plan.json and one record per unit

A split is the concatenation of its shards in order; each document is followed by EOS. Opening
reads manifest.json and the tokenizer only; token windows are read on demand: np.memmap on a
local disk, ranged reads (fsspec cat_ranges) elsewhere.
"""

from __future__ import annotations

import functools
import hashlib
import json

import numpy as np

from llm_jax.data.inputs import BUILT_IN, DataError, url_to_fs
from llm_jax.data.tokenizer import load_tokenizer_from_dir

FORMAT = "llm_jax.store.v1"
MANIFEST = "manifest.json"
SPLITS = ("train", "val")


def is_store(url: str) -> bool:
    fs, root = url_to_fs(url)
    return fs.isfile(f"{root}/{MANIFEST}")


def is_unfinished(url: str) -> bool:
    fs, root = url_to_fs(url)
    return not fs.isfile(f"{root}/{MANIFEST}") and fs.isfile(f"{root}/work/plan.json")


def dumps(document: dict) -> bytes:
    """Canonical JSON: the same document gives the same bytes (manifests compare bitwise)."""
    return (json.dumps(document, indent=1, sort_keys=True) + "\n").encode()


class Store:
    """A prepared store: manifest facts, the tokenizer, and a TokenStream per split."""

    def __init__(self, url: str):
        self.url = str(url)
        self.fs, self.root = url_to_fs(self.url)
        path = f"{self.root}/{MANIFEST}"
        if not self.fs.isfile(path):
            raise DataError(
                f"{self.url} is not a prepared store ({MANIFEST} is missing); prepare it with "
                f"tools/prepare_data.py --corpus=... --out={self.url}"
            )
        raw = self.fs.cat_file(path)
        self.manifest_sha256 = hashlib.sha256(raw).hexdigest()
        self.manifest = json.loads(raw)
        if self.manifest.get("format") != FORMAT:
            raise DataError(
                f"{self.url}/{MANIFEST} has format {self.manifest.get('format')!r}, "
                f"not {FORMAT!r}; "
                "re-prepare the store with this version of tools/prepare_data.py"
            )
        self.dtype = np.dtype(self.manifest["dtype"]).newbyteorder("<")

    @functools.cached_property
    def tokenizer(self):
        return load_tokenizer_from_dir(f"{self.url}/tokenizer")

    def split(self, name: str) -> TokenStream:
        shards = self.manifest["splits"][name]["shards"]
        return TokenStream(self.fs, self.root, shards, self.dtype)

    def files(self) -> dict[str, tuple[int, str]]:
        """Every data file the manifest lists: relative path → (bytes, sha256)."""
        out = {}
        for split in self.manifest["splits"].values():
            for shard in split["shards"]:
                out[shard["file"]] = (shard["tokens"] * self.dtype.itemsize, shard["sha256"])
            for docs in split["docs"]:
                out[docs["file"]] = (docs["documents"] * 8, docs["sha256"])
        return out

    def verify(self, level: str = "size") -> None:
        """DataError unless every file has the manifest's size (and sha256, level=checksum)."""
        expected = self.files()
        listed = self.fs.find(f"{self.root}/shards", detail=True) if expected else {}
        sizes = {path.rsplit("/shards/", 1)[-1]: info["size"] for path, info in listed.items()}
        fix = "re-prepare the store (or copy it again); it is not trained on"
        for name, (size, sha256) in expected.items():
            have = sizes.get(name.removeprefix("shards/"))
            if have is None:
                raise DataError(f"store {self.url}: {name} is missing; {fix}")
            if have != size:
                raise DataError(
                    f"store {self.url}: {name} has {have} bytes, the manifest says {size} "
                    f"(truncated or replaced); {fix}"
                )
            if level == "checksum" and self._sha256(name) != sha256:
                raise DataError(
                    f"store {self.url}: {name} does not match its sha256 in {MANIFEST} "
                    f"(corrupt); {fix}"
                )

    def _sha256(self, name: str) -> str:
        digest = hashlib.sha256()
        with self.fs.open(f"{self.root}/{name}", "rb") as f:
            while block := f.read(1 << 22):
                digest.update(block)
        return digest.hexdigest()

    @property
    def bytes_per_token(self) -> float:
        """UTF-8 bytes per held-out token, EOS counted: loss in nats/token times tokens/byte
        over ln 2 is bits per byte, comparable across tokenizers."""
        val = self.manifest["splits"]["val"]
        return val["bytes"] / max(1, val["tokens"])

    def info(self) -> dict:
        """Facts for run.json (the keys the token cache recorded, plus the store's identity)."""
        m = self.manifest
        train, val = m["splits"]["train"], m["splits"]["val"]
        info = {
            "corpus": m["corpus"],
            "corpus_hash": m["corpus_hash"],
            "store": self.url,
            "manifest_sha256": self.manifest_sha256,
            "n_files": m["n_files"],
            "n_documents": train["documents"] + val["documents"],
            "n_val_documents": val["documents"],
            "n_bytes": train["bytes"] + val["bytes"],
            "n_train_tokens": train["tokens"],
            "n_val_tokens": val["tokens"],
            "skipped": m["skipped"],
            "tokenizer": m["tokenizer"]["spec"],
            "tokenizer_fingerprint": m["tokenizer"]["fingerprint"],
            "vocab_size": m["tokenizer"]["vocab_size"],
            "dtype": self.dtype.name,
            "val_bytes_per_token": self.bytes_per_token,
        }
        info |= {k: m["settings"][k] for k in ("max_bytes", "val_fraction")}
        if m["corpus"] in BUILT_IN:
            info["python_version"] = m["python_version"]
        return info


class TokenStream:
    """One split as a 1-D token sequence over its shards: len(), slices, and gather(rows)."""

    def __init__(self, fs, root: str, shards: list[dict], dtype: np.dtype):
        self._fs, self.dtype = fs, dtype
        self._paths = [f"{root}/{s['file']}" for s in shards]
        self._starts = np.cumsum([0] + [s["tokens"] for s in shards])
        self._local = "file" in np.atleast_1d(fs.protocol)
        self._maps: dict[int, np.ndarray] = {}

    def __len__(self) -> int:
        return int(self._starts[-1])

    def __getitem__(self, key: slice) -> np.ndarray:
        start, stop, step = key.indices(len(self))
        if step != 1:
            raise IndexError("a TokenStream takes contiguous slices only")
        return self._read([(start, stop)])[0]

    def gather(self, starts: np.ndarray, length: int) -> np.ndarray:
        """Rows [start, start + length) as int32 (rows, length): reads only those windows."""
        starts = np.asarray(starts, dtype=np.int64)
        out = np.empty((len(starts), length), dtype=np.int32)
        if not self._local:  # one cat_ranges call for the whole batch
            for r, row in enumerate(self._read([(s, s + length) for s in starts.tolist()])):
                out[r] = row
            return out
        if len(starts) and (starts.min() < 0 or starts.max() + length > len(self)):
            raise IndexError(f"a row of {length} tokens runs outside the split's {len(self)}")
        shards = np.searchsorted(self._starts, starts, "right") - 1
        bounds = self._starts.tolist()
        for r, (start, shard) in enumerate(zip(starts.tolist(), shards.tolist(), strict=True)):
            if start + length <= bounds[shard + 1]:  # within one shard: a slice of its map
                lo = start - bounds[shard]
                out[r] = self._map(shard)[lo : lo + length]
            else:
                out[r] = self[start : start + length]
        return out

    def _read(self, ranges: list[tuple[int, int]]) -> list[np.ndarray]:
        pieces = [self._pieces(a, b) for a, b in ranges]  # per range: [(shard, lo, hi)]
        flat = [p for row in pieces for p in row]
        data = self._local_pieces(flat) if self._local else self._remote_pieces(flat)
        out, i = [], 0
        for row in pieces:
            parts = data[i : i + len(row)] or [np.zeros(0, self.dtype)]
            out.append(np.concatenate(parts) if len(parts) > 1 else parts[0])
            i += len(row)
        return out

    def _pieces(self, start: int, stop: int) -> list[tuple[int, int, int]]:
        """(shard, lo, hi) parts of tokens [start, stop); shards are never empty."""
        if not 0 <= start <= stop <= len(self):
            raise IndexError(f"tokens [{start}, {stop}) outside the split's {len(self)}")
        shard, out = int(np.searchsorted(self._starts, start, "right")) - 1, []
        while start < stop:
            base = int(self._starts[shard])
            hi = min(stop, int(self._starts[shard + 1]))
            out.append((shard, start - base, hi - base))
            start, shard = hi, shard + 1
        return out

    def _local_pieces(self, pieces) -> list[np.ndarray]:
        return [np.array(self._map(shard)[lo:hi]) for shard, lo, hi in pieces]

    def _map(self, shard: int) -> np.ndarray:
        if shard not in self._maps:  # a plain view: np.memmap's slicing costs ~10 us a row
            mapped = np.memmap(self._paths[shard], dtype=self.dtype, mode="r")
            self._maps[shard] = mapped.view(np.ndarray)
        return self._maps[shard]

    def _remote_pieces(self, pieces) -> list[np.ndarray]:
        size = self.dtype.itemsize
        blobs = self._fs.cat_ranges(
            [self._paths[s] for s, _, _ in pieces],
            [lo * size for _, lo, _ in pieces],
            [hi * size for _, _, hi in pieces],
            on_error="raise",
        )
        return [np.frombuffer(b, dtype=self.dtype) for b in blobs]
