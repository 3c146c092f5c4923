"""Sources: what a sync makes the dataset look like.

A source is read once into a :class:`Source`: per example its source id, content hash
(computed by the native core), split names and span id, plus a way to produce the JSON of
chosen examples for an upload. Everything is validated here, before any request is sent.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Union

from phoenix_upsert._native import hash_examples, scan_jsonl
from phoenix_upsert._native import source_id as source_id_text
from phoenix_upsert.errors import (
    DuplicateSourceIdError,
    InvalidExampleError,
    InvalidInputError,
    InvalidSourceIdError,
    MissingSourceIdError,
    NullCharacterError,
    SourceChangedError,
)

if TYPE_CHECKING:
    pass

SourceIdKey = Union[str, Callable[[Mapping[str, Any]], Any], None]
"""How to find an example's source id: a key of the example (a column of a DataFrame, a
field of a JSONL line), a callable that returns it, or ``None`` to match by content only."""

Splits = tuple[str, ...]
PARTS = ("input", "output", "metadata")


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


@dataclass
class Source:
    """A validated source: parallel lists, one entry per example, in source order."""

    ids: list[str | None]
    hashes: list[str]
    #: Normalized split names per example, or ``None`` if the source says nothing of splits
    #: (then the server's split assignments are left as they are).
    splits: list[Splits] | None
    span_ids: list[str | None] | None
    #: JSON texts of one part (0 input, 1 output, 2 metadata) of the examples at the given
    #: indices; called once per part so that an upload body can be streamed.
    rows: Callable[[Sequence[int], int], Iterator[str]]
    #: 1-based line numbers, for JSONL sources.
    lines: list[int] | None = None
    name: str = "examples"
    #: Bytes per example, near what its upload takes (JSONL: its line), for progress.
    sizes: list[int] | None = None

    def __len__(self) -> int:
        return len(self.hashes)

    @property
    def has_ids(self) -> bool:
        return any(i is not None for i in self.ids)

    def upload_size(self, indices: Sequence[int]) -> int | None:
        """About how many bytes uploading these examples sends, if known."""
        if self.sizes is None:
            return None
        return sum(self.sizes[i] for i in indices) + 2 * len(indices)

    def where(self, index: int) -> str:
        """How to point a user at an example: ``line 7 (id 'q3')`` or ``example 2``."""
        place = f"line {self.lines[index]}" if self.lines is not None else f"example {index}"
        source_id = self.ids[index] if index < len(self.ids) else None
        return f"{place} (id {source_id!r})" if source_id is not None else place


def normalize_splits(value: Any, where: str) -> Splits:
    """Split names as the server stores them: stripped, non-empty, as a set (sorted here)."""
    if value is None:
        return ()
    if isinstance(value, str):
        names: Iterable[Any] = [value]
    elif isinstance(value, (list, tuple, set, frozenset)):
        names = value
    else:
        raise InvalidExampleError(
            f"{where}: splits must be a str, a list of str or None, got {type(value).__name__}",
            path="splits",
        )
    out = set()
    for k, name in enumerate(names):
        if name is None:
            continue
        if not isinstance(name, str):
            raise InvalidExampleError(
                f"{where}: split names must be str, got {type(name).__name__}", path=f"splits[{k}]"
            )
        if "\x00" in name:
            raise _nul(where, "a split name", "splits" if value is name else f"splits[{k}]")
        if name.strip():
            out.add(name.strip())
    return tuple(sorted(out))


def check_source_id(value: Any, index: int, where: str) -> str:
    """A usable source id, by the native core's rule (``_native.source_id``, the same for
    JSONL): a non-empty str without U+0000 as it is, an int as its decimal text."""
    if type(value) is str and value and value.isascii() and "\x00" not in value:
        return value  # the common case, plainly valid: no call into the core
    if value is None:
        raise MissingSourceIdError(f"{where}: no source id", index=index)
    try:
        return source_id_text(value)
    except InvalidSourceIdError as err:
        raise InvalidSourceIdError(f"{where}: {err}", index=index) from None


def check_unique(ids: Sequence[str | None], where: Callable[[int], str]) -> None:
    first: dict[str, int] = {}
    repeats: dict[str, list[int]] = {}
    for i, source_id in enumerate(ids):
        if source_id is None:
            continue
        j = first.setdefault(source_id, i)
        if j != i:
            repeats.setdefault(source_id, [j]).append(i)
    if not repeats:
        return
    shown = [
        f"{source_id!r} ({', '.join(where(i) for i in places[:4])})"
        for source_id, places in list(repeats.items())[:10]
    ]
    more = f" and {len(repeats) - 10} more" if len(repeats) > 10 else ""
    index = min(p[1] for p in repeats.values())
    raise DuplicateSourceIdError(
        f"{len(repeats)} source id(s) occur more than once: {', '.join(shown)}{more}",
        ids=list(repeats),
        index=index,
        source_id=ids[index],
    )


def _span_id(value: Any, where: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidExampleError(
            f"{where}: span_id must be a str or None, got {type(value).__name__}", path="span_id"
        )
    if "\x00" in value:
        raise _nul(where, "the span id", "span_id")
    return value.strip() or None


def _nul(where: str, what: str, path: str) -> NullCharacterError:
    """U+0000 in a name (the native core says the same of JSONL and of content)."""
    return NullCharacterError(
        f"{where}, {path}: {what} holds U+0000 (NUL), which PostgreSQL cannot store "
        "(Phoenix answers HTTP 500); remove it",
        path=path,
    )


def _with_place(err: InvalidInputError, source: Source | None, ids: Sequence[str | None]) -> None:
    """Add the example's id to a native error, in place."""
    if err.index is not None and err.index < len(ids) and ids[err.index] is not None:
        err.source_id = ids[err.index]
        if source is None and err.args:
            prefix = f"example {err.index}"
            message = str(err.args[0])
            if message.startswith(prefix):
                err.args = (f"{prefix} (id {err.source_id!r}){message[len(prefix) :]}",)


def from_examples(
    examples: Iterable[Mapping[str, Any]],
    *,
    source_id_key: SourceIdKey,
    splits_key: str | None,
    span_id_key: str | None,
) -> Source:
    """A source of mappings with ``input``, ``output`` and optional ``metadata``."""
    if isinstance(examples, Mapping):
        raise TypeError("examples: expected an iterable of examples, got a single mapping")
    items: list[Any] = examples if isinstance(examples, list) else list(examples)
    for i, ex in enumerate(items):
        if type(ex) is not dict and not isinstance(ex, Mapping):
            raise InvalidExampleError(
                f"example {i}: an example must be a mapping with 'input' and 'output', "
                f"got {type(ex).__name__}",
                index=i,
            )
    ids: list[str | None]
    if source_id_key is None:
        ids = [None] * len(items)
    elif callable(source_id_key):
        ids = []
        for i, ex in enumerate(items):
            try:
                raw = source_id_key(ex)
            except Exception as e:
                raise InvalidSourceIdError(
                    f"example {i}: source_id_key raised {type(e).__name__}: {e}", index=i
                ) from e
            ids.append(check_source_id(raw, i, f"example {i}"))
    else:
        key = source_id_key
        ids = [ex.get(key) for ex in items]
        if not all(type(v) is str and v and v.isascii() and "\x00" not in v for v in ids):
            ids = [check_source_id(v, i, f"example {i}") for i, v in enumerate(ids)]

    def where(i: int) -> str:
        return f"example {i}" if ids[i] is None else f"example {i} (id {ids[i]!r})"

    carries_splits = splits_key is not None and any(splits_key in ex for ex in items)
    split_values: list[Splits] = (
        [
            normalize_splits(ex[splits_key], where(i)) if splits_key in ex else ()
            for i, ex in enumerate(items)
        ]
        if carries_splits and splits_key is not None
        else [()] * len(items)
    )
    span_ids: list[str | None] = [None] * len(items)
    if span_id_key:
        raw_spans = [ex.get(span_id_key) for ex in items]
        if any(v is not None for v in raw_spans):
            span_ids = [_span_id(v, where(i)) for i, v in enumerate(raw_spans)]
    check_unique(ids, lambda i: f"example {i}")
    try:
        hashes = hash_examples(items, storable=True)
    except InvalidInputError as err:
        _with_place(err, None, ids)
        raise

    def rows(indices: Sequence[int], part: int) -> Iterator[str]:
        key = PARTS[part]
        for i in indices:
            yield _dumps(items[i].get(key, {}))

    return Source(
        ids=ids,
        hashes=hashes,
        splits=split_values if carries_splits else None,
        span_ids=span_ids if any(s is not None for s in span_ids) else None,
        rows=rows,
    )


def from_jsonl(
    path: str | os.PathLike[str],
    *,
    source_id_key: SourceIdKey,
    splits_key: str | None,
    span_id_key: str | None,
) -> Source:
    """A JSONL file, hashed by the native core without Python objects per line."""
    if callable(source_id_key):
        raise TypeError("source_id_key must be a key (str) or None for a JSONL file")
    scan = scan_jsonl(
        path,
        id_key=source_id_key,
        splits_key=splits_key,
        span_id_key=span_id_key,
        storable=True,  # what Phoenix cannot store is an error, with its line and path
    )
    n = len(scan)
    lines = scan.line_numbers
    raw_ids = scan.ids if scan.ids is not None else [None] * n
    ids: list[str | None] = []
    for i, raw in enumerate(raw_ids):
        if source_id_key is None:
            ids.append(None)
        else:
            try:
                ids.append(check_source_id(raw, i, f"line {lines[i]}"))
            except InvalidInputError as err:
                err.line = lines[i]
                raise
    check_unique(ids, lambda i: f"line {lines[i]}")
    splits: list[Splits] | None = None
    if scan.splits is not None and any(s is not None for s in scan.splits):
        splits = [tuple(s) if s is not None else () for s in scan.splits]
    span_ids = scan.span_ids if scan.span_ids is not None else None
    if span_ids is not None:
        span_ids = [(s.strip() or None) if s is not None else None for s in span_ids]
        if all(s is None for s in span_ids):
            span_ids = None
    offsets, lengths, hashes = scan.offsets, scan.lengths, scan.hashes
    file_path = Path(path)

    def rows(indices: Sequence[int], part: int) -> Iterator[str]:
        """The lines are read again for an upload, and hashed again: what is sent is what
        was hashed and planned, or the upload stops half-sent (the server then rejects the
        truncated body as a whole) with :class:`SourceChangedError`."""
        key = PARTS[part]
        with file_path.open("rb") as f:
            for start in range(0, len(indices), 512):
                batch = indices[start : start + 512]
                texts = []
                for i in batch:
                    f.seek(offsets[i])
                    texts.append(f.read(lengths[i]))
                _check_unchanged(file_path, texts, [hashes[i] for i in batch], batch, lines)
                for text in texts:
                    yield _dumps(json.loads(text).get(key, {}))

    return Source(
        ids=ids,
        hashes=scan.hashes,
        splits=splits,
        span_ids=span_ids,
        rows=rows,
        lines=lines,
        name=str(path),
        sizes=lengths,
    )


def _check_unchanged(
    path: Path,
    texts: Sequence[bytes],
    expected: Sequence[str],
    indices: Sequence[int],
    lines: Sequence[int],
) -> None:
    """Fail if lines read again do not hash as they did when the file was scanned."""
    try:
        again = scan_jsonl(b"\n".join(texts)).hashes
    except InvalidInputError:
        again = []
    for k, i in enumerate(indices):
        if k >= len(again) or again[k] != expected[k] or b"\n" in texts[k]:
            raise SourceChangedError(
                f"{path}: the file changed while syncing (line {lines[i]} no longer holds "
                "what was read and planned); nothing was written — run the sync again",
                index=i,
                line=lines[i],
            )


def read_source(
    examples: Any,
    *,
    source_id_key: SourceIdKey,
    splits_key: str | None,
    span_id_key: str | None,
    input_keys: Sequence[str] | None = None,
    output_keys: Sequence[str] | None = None,
    metadata_keys: Sequence[str] | None = None,
    progress: bool | None = False,
) -> Source:
    """Read any supported source: a path or URL (JSONL or Parquet, plain or compressed with
    gzip or zstd; see ``remote``), a pandas DataFrame, an Arrow table or a polars DataFrame
    (see ``tables``), or an iterable of mappings. ``progress`` as for a sync."""
    from phoenix_upsert._sources.options import SourceOptions

    options = SourceOptions(
        source_id_key=source_id_key,
        splits_key=splits_key,
        span_id_key=span_id_key,
        input_keys=input_keys,
        output_keys=output_keys,
        metadata_keys=metadata_keys,
        progress=progress,
    )
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
        examples, source_id_key=source_id_key, splits_key=splits_key, span_id_key=span_id_key
    )
