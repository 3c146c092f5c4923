"""Columnar sources: Parquet files, Arrow tables and record batches, polars DataFrames.

They follow the rules of a pandas DataFrame (``_source.from_dataframe``): either
``input_keys``/``output_keys``/``metadata_keys`` name the columns of each part (a null cell
is left out), or columns named ``input``, ``output`` and ``metadata`` hold structs (maps, or
dicts) that are the parts as they are. The id, splits and span id come from their columns.
Only the columns a sync needs are read (all of them if ``source_id_key`` is a callable,
which is given the whole row).

Values become Python values (Arrow's ``to_pylist``, polars' ``to_dicts``) and follow the
rules of any example: a struct is an object, a list an array, a map an object (duplicate
keys are an error); a NaN is an error, not a missing cell (Arrow tells null from NaN);
timestamps, decimals and binary are not JSON and are errors naming the column. A struct
column gives every row every field of the struct, absent ones as null.

pyarrow and polars are optional: imported only for such a source.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from phoenix_upsert._sources.source import Source, SourceIdKey, from_examples
from phoenix_upsert.errors import (
    InvalidExampleError,
    InvalidSourceIdError,
    MissingSourceIdError,
    SourceReadError,
)

PARTS = ("input", "output", "metadata")


def table_kind(obj: Any) -> str | None:
    """``arrow`` or ``polars`` for a columnar object this module reads (without importing
    either library), ``lazy`` for a polars LazyFrame, else ``None``."""
    cls = type(obj)
    package = cls.__module__.split(".", 1)[0]
    if package == "pyarrow" and cls.__name__ in ("Table", "RecordBatch"):
        return "arrow"
    if package == "polars" and cls.__name__ == "DataFrame":
        return "polars"
    if package == "polars" and cls.__name__ == "LazyFrame":
        return "lazy"
    return None


def _needed(
    columns: Sequence[str],
    *,
    input_keys: Sequence[str] | None,
    output_keys: Sequence[str] | None,
    metadata_keys: Sequence[str] | None,
    source_id_key: SourceIdKey,
    splits_key: str | None,
    span_id_key: str | None,
    what: str,
) -> list[str]:
    """The columns to read, after checking that the ones named are there."""
    if callable(source_id_key):
        return list(columns)
    if input_keys or output_keys or metadata_keys:
        wanted: list[str] = []
        for part, keys in zip(PARTS, (input_keys, output_keys, metadata_keys)):
            unknown = [k for k in keys or () if k not in columns]
            if unknown:
                raise InvalidExampleError(f"{what}: {part}_keys not among the columns: {unknown}")
            wanted.extend(keys or ())
    else:
        if "input" not in columns:
            raise InvalidExampleError(
                f"{what}: pass input_keys= and output_keys= (and metadata_keys=) to say which "
                "columns make up each example, or use columns named 'input'/'output'/"
                "'metadata' holding structs"
            )
        wanted = [c for c in PARTS if c in columns]
    if isinstance(source_id_key, str):
        if source_id_key not in columns:
            raise MissingSourceIdError(
                f"{what}: source_id_key {source_id_key!r} is not a column (set source_id_key= "
                "to the column of the examples' ids, or None to match examples by content)"
            )
        wanted.append(source_id_key)
    for key in (splits_key, span_id_key):
        if key is not None and key in columns:
            wanted.append(key)
    return list(dict.fromkeys(wanted))


def _examples(
    rows: Iterable[dict[str, Any]],
    columns: Sequence[str],
    *,
    input_keys: Sequence[str] | None,
    output_keys: Sequence[str] | None,
    metadata_keys: Sequence[str] | None,
    source_id_key: SourceIdKey,
    splits_key: str | None,
    span_id_key: str | None,
) -> list[dict[str, Any]]:
    """Rows as the examples ``from_examples`` takes (the id under ``__source_id__``)."""
    nested = not (input_keys or output_keys or metadata_keys)
    out: list[dict[str, Any]] = []
    for row in rows:
        if nested:
            ex: dict[str, Any] = {
                "input": row.get("input"),
                "output": row.get("output"),
                "metadata": row.get("metadata"),
            }
            for part in ("output", "metadata"):
                if ex[part] is None:
                    ex[part] = {}
        else:
            ex = {
                part: {k: row[k] for k in keys or () if row[k] is not None}
                for part, keys in zip(PARTS, (input_keys, output_keys, metadata_keys))
            }
        if isinstance(source_id_key, str):
            ex["__source_id__"] = row[source_id_key]
        elif callable(source_id_key):
            try:
                ex["__source_id__"] = source_id_key(row)
            except Exception as e:
                raise InvalidSourceIdError(
                    f"example {len(out)}: source_id_key raised {type(e).__name__}: {e}",
                    index=len(out),
                ) from e
        if splits_key is not None and splits_key in columns:
            ex["splits"] = row[splits_key]
        if span_id_key is not None and span_id_key in columns:
            ex["span_id"] = row[span_id_key]
        out.append(ex)
    return out


def _source(
    rows: Iterable[dict[str, Any]],
    columns: Sequence[str],
    *,
    name: str,
    source_id_key: SourceIdKey,
    splits_key: str | None,
    span_id_key: str | None,
    input_keys: Sequence[str] | None,
    output_keys: Sequence[str] | None,
    metadata_keys: Sequence[str] | None,
) -> Source:
    examples = _examples(
        rows,
        columns,
        input_keys=input_keys,
        output_keys=output_keys,
        metadata_keys=metadata_keys,
        source_id_key=source_id_key,
        splits_key=splits_key,
        span_id_key=span_id_key,
    )
    source = from_examples(
        examples,
        source_id_key="__source_id__" if source_id_key is not None else None,
        splits_key="splits" if splits_key is not None else None,
        span_id_key="span_id",
    )
    source.name = name
    return source


def from_table(
    table: Any,
    *,
    source_id_key: SourceIdKey,
    splits_key: str | None,
    span_id_key: str | None,
    input_keys: Sequence[str] | None,
    output_keys: Sequence[str] | None,
    metadata_keys: Sequence[str] | None,
) -> Source:
    """An Arrow ``Table``/``RecordBatch`` or a polars ``DataFrame``."""
    kind = table_kind(table)
    if kind == "lazy":
        raise TypeError("examples: a polars LazyFrame must be collected first (.collect())")
    what = "Arrow table" if kind == "arrow" else "polars DataFrame"
    columns = [str(c) for c in table.columns] if kind == "polars" else list(table.schema.names)
    needed = _needed(
        columns,
        input_keys=input_keys,
        output_keys=output_keys,
        metadata_keys=metadata_keys,
        source_id_key=source_id_key,
        splits_key=splits_key,
        span_id_key=span_id_key,
        what=what,
    )
    if kind == "polars":
        rows: list[dict[str, Any]] = table.select(needed).to_dicts()
    else:
        rows = table.select(needed).to_pylist(maps_as_pydicts="strict")
    return _source(
        rows,
        needed,
        name="examples",
        source_id_key=source_id_key,
        splits_key=splits_key,
        span_id_key=span_id_key,
        input_keys=input_keys,
        output_keys=output_keys,
        metadata_keys=metadata_keys,
    )


def from_parquet(
    path: Path,
    *,
    name: str,
    source_id_key: SourceIdKey,
    splits_key: str | None,
    span_id_key: str | None,
    input_keys: Sequence[str] | None,
    output_keys: Sequence[str] | None,
    metadata_keys: Sequence[str] | None,
) -> Source:
    """A Parquet file, read batch by batch and only the columns needed."""
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError as e:
        from phoenix_upsert._sources.remote import EXTRAS

        raise SourceReadError(
            f"{name}: it is Parquet; reading it needs pyarrow: {EXTRAS['parquet']}", url=name
        ) from e
    try:
        parquet = pq.ParquetFile(path)
        columns = list(parquet.schema_arrow.names)
    except (pa.ArrowException, OSError) as e:
        raise SourceReadError(f"{name}: cannot read it as Parquet ({e})", url=name) from e
    needed = _needed(
        columns,
        input_keys=input_keys,
        output_keys=output_keys,
        metadata_keys=metadata_keys,
        source_id_key=source_id_key,
        splits_key=splits_key,
        span_id_key=span_id_key,
        what=name,
    )
    rows: list[dict[str, Any]] = []
    try:
        with parquet:
            for batch in parquet.iter_batches(batch_size=8192, columns=needed):
                rows.extend(batch.to_pylist(maps_as_pydicts="strict"))
    except (pa.ArrowException, OSError) as e:
        raise SourceReadError(f"{name}: cannot read it as Parquet ({e})", url=name) from e
    return _source(
        rows,
        needed,
        name=name,
        source_id_key=source_id_key,
        splits_key=splits_key,
        span_id_key=span_id_key,
        input_keys=input_keys,
        output_keys=output_keys,
        metadata_keys=metadata_keys,
    )
