"""Sources: what a sync makes the dataset look like.

A source is read once into a :class:`Source`: per example its source id, content hash
(computed by the native core), split names and span id, plus a way to produce the JSON of
chosen examples for an upload. Everything is validated here, before any request is sent.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Union

from phoenix_upsert import _progress
from phoenix_upsert._native import Scan, scan_examples, scan_jsonl
from phoenix_upsert.errors import InvalidSourceIdError

if TYPE_CHECKING:
    from phoenix_upsert._sources.options import SourceOptions

SourceIdKey = Union[str, Callable[[Mapping[str, Any]], Any], None]
"""How to find an example's source id: a key of the example (a column of a DataFrame, a
field of a JSONL line), a callable that returns it, or ``None`` to match by content only."""

Splits = tuple[str, ...]

#: Examples whose upload JSON the native core writes per call (bounded memory).
ROWS_BATCH = 4096


class Source:
    """A validated source: the native core's scan of it (per example its content hash, source
    id, split names and span id, in source order) and a way to produce the JSON of chosen
    examples for an upload. The sync engine takes its columns from the scan itself; the
    Python lists below are built only when asked for (a million examples' lists held about
    250 MB)."""

    def __init__(
        self,
        scan: Scan,
        rows: Callable[[Sequence[int], int], Iterator[bytes]],
        *,
        numbered: bool = False,
        name: str = "examples",
    ) -> None:
        self.scan = scan
        #: JSON texts of one part (0 input, 1 output, 2 metadata) of the examples at the
        #: given indices, written by the native core from what it scanned (key order kept,
        #: each example checked to hash as planned); called once per part so that an upload
        #: body can be streamed.
        self.rows = rows
        #: How to show the source in messages (a path, "examples").
        self.name = name
        self._numbered = numbered
        self._lines: list[int] | None = None

    def __len__(self) -> int:
        return len(self.scan)

    @cached_property
    def ids(self) -> list[str | None]:
        ids = self.scan.ids
        return ids if ids is not None else [None] * len(self.scan)

    @cached_property
    def hashes(self) -> list[str]:
        return self.scan.hashes

    @cached_property
    def splits(self) -> list[Splits] | None:
        """Normalized split names per example, or ``None`` if the source says nothing of
        splits (then the server's split assignments are left as they are)."""
        return self.scan._sync_splits

    @cached_property
    def span_ids(self) -> list[str | None] | None:
        """Span ids per example, or ``None`` if no example has one."""
        return self.scan._sync_span_ids

    @property
    def lines(self) -> list[int] | None:
        """1-based line numbers, for JSONL and CSV sources."""
        if self._lines is None and self._numbered:
            self._lines = self.scan.line_numbers
        return self._lines

    @lines.setter
    def lines(self, lines: list[int]) -> None:
        self._lines = lines
        self._numbered = False

    @property
    def line_override(self) -> list[int] | None:
        """Line numbers the scan does not know (a CSV file's lines, not its examples'), for
        the sync engine; it takes a JSONL file's from the scan."""
        return None if self._numbered else self._lines

    def upload_size(self, indices: Sequence[int]) -> int | None:
        """About how many bytes uploading these examples sends, if known (JSONL: the
        lines)."""
        if not self._numbered:
            return None
        return self.scan.size_of(indices) + 2 * len(indices)

    def where(self, index: int) -> str:
        """How to point a user at an example: ``line 7 (id 'q3')`` or ``example 2``."""
        lines = self.lines
        place = f"line {lines[index]}" if lines is not None else f"example {index}"
        source_id = self.ids[index] if index < len(self) else None
        return f"{place} (id {source_id!r})" if source_id is not None else place


def _call_source_id_key(key: Callable[[Mapping[str, Any]], Any], example: Any, i: int) -> Any:
    """The raw source id a callable returns (the core applies the source-id rule to it)."""
    if not isinstance(example, Mapping):
        return None  # the core reports the example itself
    try:
        return key(example)
    except Exception as e:
        raise InvalidSourceIdError(
            f"example {i}: source_id_key raised {type(e).__name__}: {e}", index=i
        ) from e


def from_examples(
    examples: Iterable[Mapping[str, Any]],
    *,
    source_id_key: SourceIdKey,
    splits_key: str | None,
    span_id_key: str | None,
    progress: bool | None = False,
) -> Source:
    """A source of mappings with ``input``, ``output`` and optional ``metadata``;
    ``progress`` as for a sync (a bar while hashing, for more than 1,000 examples)."""
    if isinstance(examples, Mapping):
        raise TypeError("examples: expected an iterable of examples, got a single mapping")
    items: list[Any] = examples if isinstance(examples, list) else list(examples)
    raw_ids = None
    if callable(source_id_key):
        raw_ids = [_call_source_id_key(source_id_key, ex, i) for i, ex in enumerate(items)]
    with _progress.bar(
        progress, long=len(items) > 1000, total=len(items), desc="hashing", unit=" examples"
    ) as bar:
        scan = scan_examples(
            items,
            id_key=source_id_key if isinstance(source_id_key, str) else None,
            ids=raw_ids,
            splits_key=splits_key,
            span_id_key=span_id_key or None,
            storable=True,  # what Phoenix cannot store is an error, with its example and path
            progress=None if bar.disable else lambda done: bar.update(done - bar.n),
        )

    def rows(indices: Sequence[int], part: int) -> Iterator[bytes]:
        for start in range(0, len(indices), ROWS_BATCH):
            yield from scan.example_rows(items, indices[start : start + ROWS_BATCH], part)

    return Source(scan, rows)


def from_jsonl(
    path: str | os.PathLike[str],
    *,
    source_id_key: SourceIdKey,
    splits_key: str | None,
    span_id_key: str | None,
    progress: bool | None = False,
    name: str | None = None,
) -> Source:
    """A JSONL file, hashed by the native core without Python objects per line.
    ``progress`` as for a sync (a bar while hashing a file of 1 MiB or more); ``name``: how
    to show the file (default: its path)."""
    if callable(source_id_key):
        raise TypeError("source_id_key must be a key (str) or None for a JSONL file")
    name = str(path) if name is None else name
    try:
        size: int | None = os.path.getsize(path)
    except OSError:
        size = None  # the scan says what is wrong with the path
    with _progress.byte_bar(
        progress, total=size, desc=f"hashing {name}", long=(size or 0) >= 1 << 20
    ) as bar:
        scan = scan_jsonl(
            path,
            id_key=source_id_key,
            splits_key=splits_key,
            span_id_key=span_id_key,
            storable=True,  # what Phoenix cannot store is an error, with its line and path
            progress=None if bar.disable else lambda done: bar.update(done - bar.n),
        )
    file_path = Path(path)

    def rows(indices: Sequence[int], part: int) -> Iterator[bytes]:
        """The lines are read again for an upload, and hashed again: what is sent is what
        was hashed and planned, or the upload stops half-sent (the server then rejects the
        truncated body as a whole) with :class:`SourceChangedError`."""
        for start in range(0, len(indices), ROWS_BATCH):
            yield from scan.jsonl_rows(file_path, indices[start : start + ROWS_BATCH], part)

    return Source(scan, rows, numbered=True, name=name)


def read_source(examples: Any, **options: Any) -> Source:
    """:func:`read` with the options as keywords (those of :class:`SourceOptions`)."""
    from phoenix_upsert._sources.options import SourceOptions

    return read(examples, SourceOptions(**options))


def read(examples: Any, options: SourceOptions) -> Source:
    """Read any supported source: a path or URL (JSONL or Parquet, plain or compressed with
    gzip or zstd; see ``remote``), a pandas DataFrame, an Arrow table or a polars DataFrame
    (see ``tables``), or an iterable of mappings."""
    if isinstance(examples, (str, os.PathLike)):
        from phoenix_upsert._sources import remote

        return remote.read_path(examples, options)
    is_table = type(examples).__module__.split(".", 1)[0] in ("pyarrow", "polars")
    is_pandas = type(examples).__name__ == "DataFrame" and hasattr(examples, "to_dict")
    if is_table or is_pandas:
        from phoenix_upsert._sources import tables

        if is_table and tables.table_kind(examples) is not None:
            return tables.from_table(examples, options)
        if is_pandas:
            return tables.from_dataframe(examples, options)
    options.no_column_keys("a list of examples")
    return from_examples(
        examples,
        source_id_key=options.source_id_key,
        splits_key=options.splits_key,
        span_id_key=options.span_id_key,
        progress=options.progress,
    )
