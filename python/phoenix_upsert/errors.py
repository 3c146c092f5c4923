"""Exceptions raised by phoenix-upsert.

Every error about bad input is an :class:`InvalidInputError` (a ``ValueError``) that says
where the problem is: ``path`` (the JSON path inside the value, e.g. ``input.turns[3].score``),
``index`` (the example's position in the source), ``line``/``column`` (for JSONL files) and,
once the sync client knows it, ``source_id``. Bad input is always reported before anything
is sent to the server.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = [
    "AuthenticationError",
    "CSVEncodingError",
    "CSVSyntaxError",
    "CircularReferenceError",
    "ConcurrentWriteError",
    "DatasetNotFoundError",
    "DuplicateContentError",
    "DuplicateSourceIdError",
    "EmptySourceError",
    "InternalError",
    "InvalidExampleError",
    "InvalidInputError",
    "InvalidSourceIdError",
    "JSONEncodingError",
    "JSONLEncodingError",
    "JSONLSyntaxError",
    "JSONSyntaxError",
    "LineTooLongError",
    "LoneSurrogateError",
    "MissingColumnError",
    "MissingSourceIdError",
    "NestingTooDeepError",
    "NonFiniteNumberError",
    "NonJSONTypeError",
    "NonStringKeyError",
    "NullCharacterError",
    "NumberOutOfRangeError",
    "PhoenixUpsertError",
    "ServerError",
    "ServerTooOldError",
    "SourceAccessError",
    "SourceChangedError",
    "SourceNotFoundError",
    "SourceReadError",
    "SourceUnreachableError",
    "SyncVerificationError",
]


class PhoenixUpsertError(Exception):
    """Base class of every exception raised by phoenix-upsert."""


class InvalidInputError(PhoenixUpsertError, ValueError):
    """The source data cannot be synced as it is; nothing was sent.

    Attributes:
        path: JSON path of the offending value inside the example (``""`` if not applicable).
        index: 0-based position of the example in the source, if known.
        line: 1-based line number in a JSONL file, if the source is a file.
        column: 1-based byte column in that line, if known.
        source_id: the example's source id, if known.
    """

    def __init__(
        self,
        message: str,
        *,
        path: str = "",
        index: int | None = None,
        line: int | None = None,
        column: int | None = None,
        source_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.path = path
        self.index = index
        self.line = line
        self.column = column
        self.source_id = source_id


class NonFiniteNumberError(InvalidInputError):
    """NaN, Infinity or -Infinity: JSON has no such numbers."""


class NumberOutOfRangeError(InvalidInputError):
    """A number that does not fit a double (Phoenix hashes every number as a double); when
    syncing, also a whole number outside [-2^63, 2^64-1], which Phoenix cannot store: an int,
    or a float PostgreSQL hands back as one (``1e21``, ``-1e19``)."""


class LoneSurrogateError(InvalidInputError):
    """A string or key containing an unpaired UTF-16 surrogate (not valid Unicode text)."""


class NullCharacterError(InvalidInputError):
    """When syncing: a string or key (of ``input``/``output``/``metadata``), a split name or a
    span id holding U+0000 (NUL). It is valid JSON and Phoenix hashes it, but PostgreSQL
    cannot store it (Phoenix answers HTTP 500), so it is refused on every backend. (In a
    source id it is an :class:`InvalidSourceIdError`.)"""


class NestingTooDeepError(InvalidInputError):
    """Arrays and objects nested deeper than ``phoenix_upsert.MAX_DEPTH`` levels."""


class CircularReferenceError(InvalidInputError):
    """A dict or list that contains itself."""


class NonJSONTypeError(InvalidInputError, TypeError):
    """A value of a type JSON cannot represent (set, bytes, datetime, arbitrary objects)."""


class NonStringKeyError(NonJSONTypeError):
    """A dict key that is not a ``str``: JSON object keys are strings."""


class InvalidExampleError(InvalidInputError, TypeError):
    """An example of the wrong shape: not a mapping, ``input``/``output`` missing, or
    ``input``/``output``/``metadata`` not a dict; an id or splits value of the wrong type."""


class JSONSyntaxError(InvalidInputError):
    """A JSON text that is not valid JSON (or is truncated)."""


class JSONEncodingError(InvalidInputError):
    """A JSON text given as bytes that are not valid UTF-8."""


class JSONLSyntaxError(JSONSyntaxError):
    """A JSONL line that is not valid JSON (or is truncated)."""


class JSONLEncodingError(JSONEncodingError):
    """A JSONL line that is not valid UTF-8."""


class LineTooLongError(InvalidInputError):
    """A JSONL line longer than the ``max_line_bytes`` limit."""


class CSVSyntaxError(InvalidInputError):
    """A CSV source that cannot be read as CSV: no header row (an empty file), a column named
    twice, or a record the ``csv`` module rejects. ``line`` says where, when known."""


class CSVEncodingError(InvalidInputError):
    """A CSV source that is not UTF-8 text (Phoenix reads CSV as UTF-8); ``line`` and
    ``column`` (a 1-based byte offset in the line) say where."""


class MissingColumnError(InvalidExampleError):
    """``input_keys``, ``output_keys``, ``metadata_keys`` or ``split_keys`` name a column
    that the table or CSV file does not have (the message lists the columns it has)."""


class EmptySourceError(InvalidInputError):
    """A mirror sync of a source without examples: it would delete every example of the
    dataset (a failed export, an empty file). Pass ``allow_empty=True`` if that is meant."""


class SourceChangedError(InvalidInputError):
    """The source file changed between reading it and uploading it: what would be sent is
    not what was hashed and planned. The upload is stopped before its end, so the server
    applies none of it; run the sync again."""


class SourceReadError(InvalidInputError, OSError):
    """The source (a file or a URL) could not be read: a store that cannot be reached, a
    missing optional package (``pip install 'phoenix-upsert[remote]'``), a compressed stream
    that is corrupt. The message names the source (a URL without its password or query).
    Nothing was sent.

    Attributes:
        url: the source, as shown in the message.
    """

    def __init__(self, message: str, *, url: str = "") -> None:
        super().__init__(message)
        self.url = url


class SourceNotFoundError(SourceReadError, FileNotFoundError):
    """No such file, object or bucket at the source's URL."""


class SourceUnreachableError(SourceReadError, ConnectionError):
    """The store holding the source cannot be reached (connection refused, no such host, a
    timeout): a network error, not bad input — the command line exits 3 for it, as for a
    Phoenix server it cannot reach."""


class SourceAccessError(SourceReadError, PermissionError):
    """The store refused the credentials, or they are not allowed to read the source (for
    ``s3://``: the standard AWS variables, ``AWS_ACCESS_KEY_ID`` and the others)."""


class MissingSourceIdError(InvalidInputError):
    """An example without a source id while syncing by id."""


class InvalidSourceIdError(InvalidInputError):
    """A source id that cannot be used: not a str or an int (a float, a bool), empty, holding
    a lone surrogate or U+0000, or a node id of another dataset."""


class DuplicateSourceIdError(InvalidInputError):
    """The same source id on more than one example.

    Attributes:
        ids: every duplicated id.
    """

    def __init__(
        self,
        message: str,
        *,
        ids: Sequence[str] = (),
        path: str = "",
        index: int | None = None,
        line: int | None = None,
        column: int | None = None,
        source_id: str | None = None,
    ) -> None:
        super().__init__(
            message, path=path, index=index, line=line, column=column, source_id=source_id
        )
        self.ids = list(ids)


class DuplicateContentError(InvalidInputError):
    """A merge that would add, without a source id, an example whose content the dataset
    already holds: Phoenix matches examples without ids by content, so it keeps one copy
    (give the examples ids, or remove the duplicate). ``index`` is the first such example."""


class InternalError(PhoenixUpsertError, RuntimeError):
    """A bug in phoenix-upsert: its native core failed where it never should (the message
    says where). Nothing was sent because of it; please report it."""


class ServerError(PhoenixUpsertError):
    """The Phoenix server answered with an error, or could not be reached.

    Attributes:
        status_code: the HTTP status, or ``None`` if no response arrived.
        detail: the server's explanation, if it gave one.
    """

    def __init__(self, message: str, *, status_code: int | None = None, detail: str = "") -> None:
        super().__init__(message)
        self.status_code = status_code
        self.detail = detail
        #: Seconds the server asked to wait (HTTP 429 ``Retry-After``), if it did.
        self.retry_after: float | None = None
        #: Whether this error ended a series of retries.
        self.exhausted = False


class AuthenticationError(ServerError):
    """The server refused the credentials (HTTP 401/403): set ``PHOENIX_API_KEY`` or pass
    ``api_key=``."""


class DatasetNotFoundError(ServerError):
    """No dataset with the given id exists on the server."""


class ServerTooOldError(ServerError):
    """The server is too old for phoenix-upsert (it needs declarative dataset uploads with
    example ids, ``action=update``, from Phoenix 15.0)."""


class SyncVerificationError(PhoenixUpsertError):
    """A write could not be proven to have made the dataset hold the source — the server's
    report, its versions or the dataset read back disagree with the plan — and reading the
    dataset again and writing again, as many times as allowed, did not prove it either.
    Raised as :class:`ConcurrentWriteError`, its one cause seen in practice."""


class ConcurrentWriteError(SyncVerificationError):
    """Another writer kept changing the dataset while this sync ran; the dataset may hold
    the other writer's content. Run the sync again."""
