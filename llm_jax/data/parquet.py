"""Parquet input: one document per row of the text column, read row group by row group."""

from __future__ import annotations

import hashlib

import fsspec

from llm_jax.data.formats import BLOCK, Segment, utf8
from llm_jax.data.inputs import DataError


def parquet_file(segment, budget, options, tally, record):
    """Rows of the row groups that start in [start, stop), column options.text_key."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    name, key, consumed = segment.input.name, options.text_key, 0
    record["sha256"] = _range_sha256(segment)
    with fsspec.open(segment.input.url, "rb") as f:
        try:
            parquet = pq.ParquetFile(f)
        except (pa.ArrowException, OSError) as e:
            raise DataError(f"{name} is not a readable Parquet file ({e}); re-export it") from e
        _check_column(name, parquet.schema_arrow, key)
        for group in range(parquet.num_row_groups):
            if not segment.start <= _group_offset(parquet.metadata.row_group(group)) < segment.end:
                continue
            try:
                for batch in parquet.iter_batches(1024, row_groups=[group], columns=[key]):
                    for value in batch.column(0).to_pylist():
                        if not value:
                            tally.skipped["empty" if value == "" else "null_text"] += 1
                            continue
                        if budget is not None:
                            if consumed + len(utf8(value)) > budget:
                                return consumed
                            consumed += len(utf8(value))
                        yield value
            except (pa.ArrowException, OSError) as e:
                raise DataError(
                    f"{name} row group {group} cannot be read ({e}); the file is corrupt: "
                    "re-export it, or remove it from the corpus"
                ) from e
    return consumed if budget is not None else segment.end - segment.start


def _check_column(name: str, schema, key: str) -> None:
    import pyarrow as pa

    if key not in schema.names:
        raise DataError(
            f"{name} has no column {key!r} (columns: {', '.join(schema.names)}); set "
            "data.text_key (prepare_data --text_key) to the column that holds the text"
        )
    kind = schema.field(key).type
    if not (pa.types.is_string(kind) or pa.types.is_large_string(kind)):
        raise DataError(f"{name}: column {key!r} holds {kind}, not strings; set data.text_key")


def _group_offset(group) -> int:
    """Where a row group starts in the file: its first column chunk's first page."""
    column = group.column(0)
    if column.has_dictionary_page and column.dictionary_page_offset:
        return min(column.dictionary_page_offset, column.data_page_offset)
    return column.data_page_offset


def _range_sha256(segment: Segment) -> str:
    digest, left = hashlib.sha256(), segment.end - segment.start
    with fsspec.open(segment.input.url, "rb") as f:
        f.seek(segment.start)
        while left > 0 and (block := f.read(min(BLOCK, left))):
            digest.update(block)
            left -= len(block)
    return digest.hexdigest()
