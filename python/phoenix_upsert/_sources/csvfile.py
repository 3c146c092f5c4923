"""CSV files as sources, read as Phoenix reads the CSV that phoenix-client's
``create_dataset(csv_file_path=..., input_keys=..., output_keys=..., metadata_keys=...)``
uploads, so that the same file gives the same examples and the same content hashes.

phoenix-client sends the file as it is; the server parses it (Phoenix 20's
``POST /v1/datasets/upload`` with ``text/csv``). Its rules, which this module follows:

- The bytes are UTF-8 text (a byte-order mark stays part of the first column's name), read
  by Python's ``csv.DictReader`` with its default dialect (comma, ``"`` quotes, records may
  span lines inside quotes); blank lines are skipped. The first row names the columns; a
  name twice is an error.
- Every cell is a **string**: ``1`` is ``"1"``, ``true`` is ``"true"``. A cell that is empty
  or only whitespace is left out of its part (a short row's missing cells too); other cells
  are kept exactly, spaces included.
- ``input_keys``/``output_keys``/``metadata_keys`` name the columns of each part. If none is
  given, they are inferred as phoenix-client infers them: the first column whose name ends
  with ``response``, ``answer`` or ``output`` (an ``s`` allowed, any case) is the output,
  the columns before it the input, the ones after it the metadata (no such column: all are
  input) — leaving out the columns of the source id, the splits and the span id.
- If a key of any part starts with ``input.``, ``output.`` or ``metadata.``, dotted names
  nest: in the input, a column ``input.question.text`` is ``{"question": {"text": ...}}``;
  and in that mode a cell that looks like a JSON array or object (``[...]``, ``{...}``) is
  parsed as JSON (if it parses).
- Splits: ``split_keys`` names columns whose (stripped, non-empty) cells are split names
  (phoenix-client's ``split_keys``); otherwise the ``splits_key`` column, if there is one,
  holds a split name or a JSON array of them (phoenix-client's ``split_key``).
- The span id is the ``span_id_key`` column's cell, if the column exists (blank or ``nan``:
  none); the source id is the ``source_id_key`` column's (phoenix-client's
  ``example_id_key``; blank or ``nan``: none).

Every problem is an :class:`~phoenix_upsert.errors.InvalidInputError` naming the file, and
the line and column where there is one, before anything is sent.
"""

from __future__ import annotations

import csv
import io
import json
import re
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from phoenix_upsert._sources.options import SourceOptions
from phoenix_upsert._sources.source import Source, from_examples
from phoenix_upsert.errors import (
    CSVEncodingError,
    CSVSyntaxError,
    InvalidExampleError,
    InvalidInputError,
    MissingColumnError,
    MissingSourceIdError,
)

PARTS = ("input", "output", "metadata")

#: Names that say a file is CSV (compressed or not), whatever its first bytes.
CSV_SUFFIXES = (".csv", ".csv.gz", ".csv.gzip", ".csv.zst", ".csv.zstd")

#: phoenix-client's rule for the output column when no keys are given.
_OUTPUT_COLUMN = re.compile(r"(?i)(response|answer|output)s?$")

#: Phoenix reads CSV fields of up to 1e9 characters; Python's csv module stops at 131072
#: by default (a process-wide setting, raised while a file is read).
_FIELD_LIMIT = 1_000_000_000
_LIMIT_LOCK = threading.Lock()


def is_csv_name(name: str) -> bool:
    """Whether a path or URL names a CSV file (``data.csv``, ``s3://b/x.csv.gz``)."""
    path = urlsplit(name).path if "://" in name else name
    return path.lower().endswith(CSV_SUFFIXES)


def looks_like_csv(head: bytes) -> bool:
    """For a source whose name does not say: JSONL starts with ``{`` (after blanks or a
    byte-order mark); anything else given with column keys is read as CSV."""
    text = head.lstrip(b"\xef\xbb\xbf").lstrip()
    return bool(text) and not text.startswith(b"{")


def from_csv_file(path: Path, options: SourceOptions, *, name: str) -> Source:
    """A CSV file (uncompressed: a compressed or remote one is copied and decompressed
    first, see ``remote``)."""
    from phoenix_upsert._sources.remote import _open_local

    with _open_local(path, name) as f:
        data = f.read()
    return from_csv_bytes(data, options, name=name)


def _decode(data: bytes, name: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        column = e.start - (data.rfind(b"\n", 0, e.start) + 1) + 1
        raise CSVEncodingError(
            f"{name}: line {line}, byte {column}: not UTF-8 text ({e.reason}, byte "
            f"{data[e.start : e.start + 1]!r}); Phoenix reads CSV as UTF-8 — save the file "
            "as UTF-8",
            line=line,
            column=column,
        ) from e


def _keys(
    columns: list[str], options: SourceOptions, name: str
) -> tuple[list[str], list[str], list[str]]:
    """The columns of input, output and metadata: as given, or inferred as phoenix-client
    does."""
    given = options.column_keys
    if any(given):
        parts = [list(dict.fromkeys(k or ())) for k in given]
        for part, keys in zip(PARTS, parts):
            missing = [k for k in keys if k not in columns]
            if missing:
                raise MissingColumnError(
                    f"{name}: {part}_keys: no column {', '.join(map(repr, missing))} (the "
                    f"columns: {', '.join(map(repr, columns))})"
                )
        for i in range(3):
            for j in range(i + 1, 3):
                both = sorted(set(parts[i]) & set(parts[j]))
                if both:
                    raise InvalidExampleError(
                        f"{name}: {PARTS[i]}_keys and {PARTS[j]}_keys both name {both}"
                    )
        return parts[0], parts[1], parts[2]
    special = {options.splits_key, options.span_id_key, *(options.split_keys or ())}
    if isinstance(options.source_id_key, str):
        special.add(options.source_id_key)
    content = [c for c in columns if c not in special]
    for i, column in enumerate(content):
        if _OUTPUT_COLUMN.search(column):
            return content[:i], [column], content[i + 1 :]
    return content, [], []


def _no_entry(value: Any) -> bool:
    """A cell Phoenix leaves out: none (a short row) or only whitespace."""
    return value is None or (isinstance(value, str) and not value.strip())


def _maybe_json(value: str) -> Any:
    stripped = value.strip()
    if (stripped.startswith("[") and stripped.endswith("]")) or (
        stripped.startswith("{") and stripped.endswith("}")
    ):
        try:
            return json.loads(stripped)
        except ValueError:
            pass
    return value


def _dotted_part(row: dict[str, Any], keys: Sequence[str], part: str, where: str) -> dict[str, Any]:
    """A part built from dotted column names (``input.a.b``), as Phoenix builds it."""
    prefix = f"{part}."
    plain: dict[str, Any] = {}
    nested: dict[str, Any] = {}
    for key in keys:
        raw = row.get(key)
        if raw is None or _no_entry(raw):
            continue
        value = _maybe_json(raw)
        if not key.startswith(prefix):
            plain[key] = value
            continue
        steps = key[len(prefix) :].split(".")
        node = nested
        for step in steps[:-1]:
            child = node.setdefault(step, {})
            if not isinstance(child, dict):
                raise InvalidExampleError(
                    f"{where}: column {key!r}: {part}.{step} has a value of its own and "
                    "cannot also hold nested columns",
                    path=f"{part}.{step}",
                )
            node = child
        if steps[-1] in node:
            raise InvalidExampleError(
                f"{where}: column {key!r} conflicts with a column nested under it",
                path=f"{part}.{'.'.join(steps)}",
            )
        node[steps[-1]] = value
    plain.update(nested)
    return plain


def _split_names(raw: Any) -> list[str]:
    """A ``splits_key`` cell: a JSON array of names or one name (Phoenix's ``split_key``)."""
    text = raw.strip() if isinstance(raw, str) else ""
    if not text:
        return []
    try:
        parsed = json.loads(text)
    except ValueError:
        parsed = None
    if isinstance(parsed, list):
        return sorted({str(s).strip() for s in parsed if s and str(s).strip()})
    return [text]


def _optional_id(raw: Any) -> str | None:
    """A source id or span id cell: blank or ``nan`` is none (as Phoenix reads it)."""
    if _no_entry(raw) or str(raw).lower() == "nan":
        return None
    return str(raw)


def _at_line(error: InvalidInputError, name: str, lines: list[int]) -> InvalidInputError:
    """An error about example ``i`` (the core's words), said of the file and its line."""
    index = error.index
    if index is None or error.line is not None or not 0 <= index < len(lines):
        return error
    message = str(error)
    prefix = f"example {index}"
    if message.startswith(prefix):
        message = message[len(prefix) :]
    error.args = (f"{name}: line {lines[index]}{message}",)
    error.line = lines[index]
    return error


def from_csv_bytes(data: bytes, options: SourceOptions, *, name: str) -> Source:
    """The examples of CSV ``data`` (see the module docs); ``name`` is how errors name it."""
    text = _decode(data, name)
    with _LIMIT_LOCK:
        limit = csv.field_size_limit()
        csv.field_size_limit(max(limit, _FIELD_LIMIT))
        try:
            return _read(csv.DictReader(io.StringIO(text)), options, name=name)
        except csv.Error as e:
            raise CSVSyntaxError(f"{name}: not valid CSV: {e}") from e
        finally:
            csv.field_size_limit(limit)


def _read(reader: csv.DictReader[str], options: SourceOptions, *, name: str) -> Source:
    try:
        header = reader.fieldnames
    except csv.Error as e:
        raise CSVSyntaxError(f"{name}: line 1: not valid CSV: {e}", line=1) from e
    if not header:
        raise CSVSyntaxError(
            f"{name}: no header row (the file is empty); a CSV source starts with a row of "
            "column names",
            line=1,
        )
    columns = list(header)
    twice = sorted({c for c in columns if columns.count(c) > 1})
    if twice:
        raise CSVSyntaxError(f"{name}: line 1: columns named twice: {twice}", line=1)
    input_keys, output_keys, metadata_keys = _keys(columns, options, name)
    split_keys = list(options.split_keys or ())
    missing = [k for k in split_keys if k not in columns]
    if missing:
        raise MissingColumnError(
            f"{name}: split_keys: no column {', '.join(map(repr, missing))} (the columns: "
            f"{', '.join(map(repr, columns))})"
        )
    source_id_key = options.source_id_key
    if callable(source_id_key):
        raise TypeError("source_id_key must be a column name (str) or None for a CSV file")
    if source_id_key is not None and source_id_key not in columns:
        raise MissingSourceIdError(
            f"{name}: source_id_key {source_id_key!r} is not a column (set source_id_key= to "
            "the column of the examples' ids, or None to match examples by content)"
        )
    splits_key = None if split_keys else options.splits_key
    if splits_key is not None and splits_key not in columns:
        splits_key = None
    span_id_key = options.span_id_key if options.span_id_key in columns else None
    dotted = any(
        k.startswith(("input.", "output.", "metadata."))
        for k in (*input_keys, *output_keys, *metadata_keys)
    )

    examples: list[dict[str, Any]] = []
    lines: list[int] = []
    last_line = reader.line_num
    for row in reader:
        line = last_line + 1  # where the record starts (a quoted cell may span lines)
        last_line = reader.line_num
        where = f"{name}: line {line}"
        if dotted:
            ex: dict[str, Any] = {
                part: _dotted_part(row, keys, part, where)
                for part, keys in zip(PARTS, (input_keys, output_keys, metadata_keys))
            }
        else:
            ex = {
                part: {k: row[k] for k in keys if not _no_entry(row.get(k))}
                for part, keys in zip(PARTS, (input_keys, output_keys, metadata_keys))
            }
        if source_id_key is not None:
            ex["__source_id__"] = _optional_id(row.get(source_id_key))
        if split_keys:
            cells = (row.get(k) for k in split_keys)
            ex["splits"] = sorted({c.strip() for c in cells if c and c.strip()})
        elif splits_key is not None:
            ex["splits"] = _split_names(row.get(splits_key))
        if span_id_key is not None:
            ex["span_id"] = _optional_id(row.get(span_id_key))
        examples.append(ex)
        lines.append(line)
    try:
        source = from_examples(
            examples,
            source_id_key="__source_id__" if source_id_key is not None else None,
            splits_key="splits" if split_keys or splits_key is not None else None,
            span_id_key="span_id",
            progress=options.progress,
        )
    except InvalidInputError as e:
        raise _at_line(e, name, lines) from None
    source.name = name
    source.lines = lines
    return source
