"""Tables as sources: pandas DataFrames, Parquet files, Arrow tables and record batches,
polars DataFrames — one set of rules for all of them.

Either ``input_keys``/``output_keys``/``metadata_keys`` name the columns of each part (a
missing cell is left out: null, and for pandas also NaN, NA and NaT), or columns named
``input``, ``output`` and ``metadata`` hold dicts (structs, maps) that are the parts as they
are (``Dataset.to_dataframe()``'s shape). The id, splits and span id come from their columns;
a pandas DataFrame whose index is named after the id key, or ``example_id`` (as
``Dataset.to_dataframe()`` names it), has its ids in the index. Only the columns a sync needs
are read (all of them if ``source_id_key`` is a callable, which is given the whole row).

Values become Python values (``DataFrame.to_dict``, Arrow's ``to_pylist``, polars'
``to_dicts``) and follow the rules of any example: a struct is an object, a list an array, a
map an object (duplicate keys are an error); in Arrow and polars a NaN is an error, not a
missing cell (they tell null from NaN); timestamps, decimals and binary are not JSON and are
errors naming the column. A struct column gives every row every field of the struct, absent
ones as null.

pandas, pyarrow and polars are optional: imported only for such a source.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from phoenix_upsert._sources.options import SourceOptions
from phoenix_upsert._sources.source import Source, from_examples
from phoenix_upsert.errors import (
    InvalidExampleError,
    InvalidSourceIdError,
    MissingColumnError,
    MissingSourceIdError,
    SourceReadError,
)

if TYPE_CHECKING:
    import pandas as pd

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
    columns: Sequence[str], options: SourceOptions, *, what: str, holding: str
) -> list[str]:
    """The columns to read, after checking that the ones named are there."""
    source_id_key = options.source_id_key
    if any(options.column_keys):
        wanted: list[str] = []
        for part, keys in zip(PARTS, options.column_keys):
            unknown = [k for k in keys or () if k not in columns]
            if unknown:
                raise MissingColumnError(f"{what}: {part}_keys not among the columns: {unknown}")
            wanted.extend(keys or ())
    else:
        if "input" not in columns:
            raise InvalidExampleError(
                f"{what}: pass input_keys= and output_keys= (and metadata_keys=) to say which "
                "columns make up each example, or use columns named 'input'/'output'/"
                f"'metadata' holding {holding}"
            )
        wanted = [c for c in PARTS if c in columns]
    if isinstance(source_id_key, str):
        if source_id_key not in columns:
            raise MissingSourceIdError(
                f"{what}: source_id_key {source_id_key!r} is not a column (set source_id_key= "
                "to the column of the examples' ids, or None to match examples by content)"
            )
        wanted.append(source_id_key)
    unknown = [k for k in options.split_keys or () if k not in columns]
    if unknown:
        raise MissingColumnError(f"{what}: split_keys not among the columns: {unknown}")
    wanted.extend(options.split_keys or ())
    for key in (options.splits_key, options.span_id_key):
        if key is not None and key in columns:
            wanted.append(key)
    if callable(source_id_key):
        return list(columns)
    return list(dict.fromkeys(wanted))


def _is_null(value: Any) -> bool:
    return value is None


def _is_missing(value: Any) -> bool:
    """A missing pandas cell: None, NaN, NA or NaT."""
    if value is None:
        return True
    if isinstance(value, float):
        return math.isnan(value)
    try:
        import pandas as pd
    except ImportError:  # pragma: no cover - pandas is there if a DataFrame was passed
        return False
    return value is pd.NA or value is pd.NaT


def _source(
    rows: Iterable[dict[str, Any]],
    columns: Sequence[str],
    options: SourceOptions,
    *,
    name: str,
    missing: Callable[[Any], bool] = _is_null,
) -> Source:
    """Rows as examples (the id under ``__source_id__``), read as a list of examples is."""
    source_id_key, splits_key, span_id_key = (
        options.source_id_key,
        options.splits_key,
        options.span_id_key,
    )
    nested = not any(options.column_keys)
    examples: list[dict[str, Any]] = []
    for row in rows:
        if nested:
            ex: dict[str, Any] = {
                "input": row.get("input"),
                "output": row.get("output"),
                "metadata": row.get("metadata"),
            }
            for part in ("output", "metadata"):
                if missing(ex[part]):
                    ex[part] = {}
        else:
            ex = {
                part: {k: row[k] for k in keys or () if not missing(row[k])}
                for part, keys in zip(PARTS, options.column_keys)
            }
        if isinstance(source_id_key, str):
            ex["__source_id__"] = row[source_id_key]
        elif callable(source_id_key):
            try:
                ex["__source_id__"] = source_id_key(row)
            except Exception as e:
                raise InvalidSourceIdError(
                    f"example {len(examples)}: source_id_key raised {type(e).__name__}: {e}",
                    index=len(examples),
                ) from e
        if options.split_keys:
            # phoenix-client's split_keys: each column's (stripped) value is a split name
            cells = (row[k] for k in options.split_keys if not missing(row[k]))
            ex["splits"] = sorted({str(c).strip() for c in cells if str(c).strip()})
        for key, field in ((splits_key, "splits"), (span_id_key, "span_id")):
            if (
                key is not None
                and key in columns
                and not (field == "splits" and options.split_keys)
            ):
                value = row[key]
                ex[field] = None if missing(value) else value
        examples.append(ex)
    source = from_examples(
        examples,
        source_id_key="__source_id__" if source_id_key is not None else None,
        splits_key="splits" if splits_key is not None or options.split_keys else None,
        span_id_key="span_id",
        progress=options.progress,
    )
    source.name = name
    return source


def from_dataframe(df: pd.DataFrame, options: SourceOptions) -> Source:
    """A pandas DataFrame, like phoenix-client's ``create_dataset(dataframe=...)``."""
    columns = [str(c) for c in df.columns]
    source_id_key = options.source_id_key
    if isinstance(source_id_key, str) and source_id_key not in columns:
        index_name = df.index.name
        if index_name is not None and str(index_name) in (source_id_key, "example_id"):
            # The ids are the index: the shape of Dataset.to_dataframe() (indexed by
            # example_id), or a DataFrame indexed by the id key.
            df = df.reset_index()
            columns = [str(c) for c in df.columns]
            options = replace(options, source_id_key=str(index_name))
    needed = _needed(columns, options, what="DataFrame", holding="dicts")
    records: list[dict[str, Any]] = [
        {str(k): v for k, v in rec.items()} for rec in df.to_dict(orient="records")
    ]
    return _source(records, needed, options, name="examples", missing=_is_missing)


def from_table(table: Any, options: SourceOptions) -> Source:
    """An Arrow ``Table``/``RecordBatch`` or a polars ``DataFrame``."""
    kind = table_kind(table)
    if kind == "lazy":
        raise TypeError("examples: a polars LazyFrame must be collected first (.collect())")
    what = "Arrow table" if kind == "arrow" else "polars DataFrame"
    columns = [str(c) for c in table.columns] if kind == "polars" else list(table.schema.names)
    needed = _needed(columns, options, what=what, holding="structs")
    if kind == "polars":
        rows: list[dict[str, Any]] = table.select(needed).to_dicts()
    else:
        rows = table.select(needed).to_pylist(maps_as_pydicts="strict")
    return _source(rows, needed, options, name="examples")


def from_parquet(path: Path, options: SourceOptions, *, name: str) -> Source:
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
    needed = _needed(columns, options, what=name, holding="structs")
    rows: list[dict[str, Any]] = []
    try:
        with parquet:
            for batch in parquet.iter_batches(batch_size=8192, columns=needed):
                rows.extend(batch.to_pylist(maps_as_pydicts="strict"))
    except (pa.ArrowException, OSError) as e:
        raise SourceReadError(f"{name}: cannot read it as Parquet ({e})", url=name) from e
    return _source(rows, needed, options, name=name)
