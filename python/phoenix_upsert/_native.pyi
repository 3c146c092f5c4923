"""Type stubs of the Rust extension module (rust/src/python)."""

from collections.abc import Callable, Iterable, Mapping, Sequence
from os import PathLike
from typing import Any, final

__all__ = [
    "CONFLICT_WRITES",
    "DEFAULT_MAX_LINE_BYTES",
    "MAX_DEPTH",
    "Diff",
    "JsonlScan",
    "Scan",
    "SyncMachine",
    "__version__",
    "canonicalize",
    "canonicalize_json",
    "content_hash",
    "diff",
    "hash_examples",
    "hash_jsonl",
    "manifest_after_write",
    "manifest_decode",
    "manifest_encode",
    "manifest_file_name",
    "manifest_provable",
    "plan",
    "scan_examples",
    "scan_jsonl",
    "source_id",
]

__version__: str

MAX_DEPTH: int
"""Deepest nesting of arrays/objects accepted in a value (input/output/metadata is level 1)."""

DEFAULT_MAX_LINE_BYTES: int
"""Longest JSONL line accepted by default (64 MiB)."""

def canonicalize(value: Any) -> bytes:
    """RFC 8785 canonical JSON of ``value``, byte for byte what Phoenix's server computes.

    Accepts dict (str keys), list, tuple, str, int, float, bool and None, subclasses included.
    Raises a subclass of :class:`phoenix_upsert.InvalidInputError` naming the JSON path of
    anything else: NaN/Infinity, lone surrogates, ints beyond a double, other types, non-str
    keys, cycles, nesting deeper than ``MAX_DEPTH``.
    """

def canonicalize_json(text: str | bytes) -> bytes:
    """RFC 8785 canonical JSON of a JSON text (one value)."""

def content_hash(
    input: Mapping[str, Any], output: Mapping[str, Any], metadata: Mapping[str, Any]
) -> str:
    """Phoenix's ``content_hash`` of one example: 32 lowercase hex characters, the first 16
    bytes of SHA-256 over the canonical JSON of ``{"input", "metadata", "output"}``."""

def source_id(value: object) -> str:
    """The source id ``value`` stands for, by the rule every source follows: a non-empty
    ``str`` without U+0000 as it is; an ``int`` (not a ``bool``) as its decimal text, as
    ``str(int)`` writes it (a JSON integer literal in a file reads the same: ``-0`` is
    ``"0"``). Anything else raises :class:`phoenix_upsert.InvalidSourceIdError`."""

def hash_examples(
    examples: Iterable[Mapping[str, Any]],
    *,
    storable: bool = False,
    progress: Callable[[int], None] | None = None,
) -> list[str]:
    """Content hashes of many examples (mappings with dict ``input`` and ``output`` and an
    optional dict ``metadata``, ``{}`` if absent), in order. Canonicalizes and hashes on all
    cores with the GIL released; only the walk over the Python objects holds it.

    With ``storable=True`` (what a sync uses), what Phoenix hashes but cannot store is an
    error too: a whole number outside [-2^63, 2^64-1] — an int, or a float PostgreSQL hands
    back as an int (``1e21``, ``-1e19``; exactly: a float ``f`` with ``not -2^63 < f <
    2^64``) — and U+0000 in a string or key. Of several bad examples, the first is
    reported. ``progress`` is called with the number of examples done, once per batch; an
    exception it raises stops the hashing and propagates."""

def hash_jsonl(
    path: str | PathLike[str],
    *,
    max_line_bytes: int = ...,
    storable: bool = False,
    progress: Callable[[int], None] | None = None,
) -> list[str]:
    """Content hashes of the examples of a JSONL file (one object per line with ``input``,
    ``output`` and optional ``metadata``), streamed and parsed in Rust, in parallel.
    Blank lines are skipped; errors name the line. ``storable`` and ``progress`` as for
    :func:`scan_jsonl`."""

@final
class Scan:
    """Per-example results of :func:`scan_jsonl` or :func:`scan_examples`, in source
    order. ``line_numbers``, ``offsets`` and ``lengths`` are empty for Python objects."""

    def __len__(self) -> int: ...
    @property
    def hashes(self) -> list[str]: ...
    @property
    def ids(self) -> list[str | None] | None:
        """Source ids under ``id_key`` (see :func:`source_id`: integer literals as their
        decimal text); ``None`` if no ``id_key``."""
    @property
    def node_ids(self) -> list[str | None] | None: ...
    @property
    def external_ids(self) -> list[str | None] | None:
        """Of a Phoenix export scanned with ``id_key`` and ``node_id_key``: each example's
        external id — its ``id``, unless that is its node id (Phoenix's way of saying it has
        none); ``None`` unless both keys were given."""
    @property
    def span_ids(self) -> list[str | None] | None: ...
    @property
    def splits(self) -> list[list[str] | None] | None:
        """Split names (stripped, sorted, unique) per example; ``None`` where the line has
        no splits key; ``None`` overall if no ``splits_key``."""
    @property
    def _sync_splits(self) -> list[tuple[str, ...]] | None:
        """The split names as a sync reads them: ``None`` unless some example has a splits
        key, else a tuple per example (empty where it has none)."""
    @property
    def _sync_span_ids(self) -> list[str | None] | None:
        """The span ids as a sync reads them: ``None`` unless some example has one."""
    @property
    def line_numbers(self) -> list[int]: ...
    @property
    def offsets(self) -> list[int]:
        """Byte offset of each example's line in the file."""
    @property
    def lengths(self) -> list[int]:
        """Byte length of each example's line, without its newline."""
    def size_of(self, indices: Sequence[int]) -> int:
        """The byte lengths of the lines at ``indices``, summed (0 where the scan kept no
        positions)."""
    def jsonl_rows(
        self, path: str | PathLike[str], indices: Sequence[int], part: int
    ) -> list[bytes]:
        """The upload JSON of part ``part`` (0 input, 1 output, 2 metadata; ``{}`` for
        absent metadata) of the examples at ``indices`` of this JSONL scan, one text per
        example, key order kept: their lines read again from ``path`` and checked to hash
        as scanned, else :class:`phoenix_upsert.SourceChangedError` naming the line."""
    def example_rows(
        self, examples: Sequence[Mapping[str, Any]], indices: Sequence[int], part: int
    ) -> list[bytes]:
        """The same for the Python examples this scan was made of, walked again."""

JsonlScan = Scan

def scan_jsonl(
    source: str | PathLike[str] | bytes,
    *,
    id_key: str | None = None,
    splits_key: str | None = None,
    span_id_key: str | None = None,
    node_id_key: str | None = None,
    max_line_bytes: int = ...,
    storable: bool = False,
    progress: Callable[[int], None] | None = None,
) -> Scan:
    """Hash JSONL — a file (a path, streamed) or data in memory (``bytes``, e.g. a Phoenix
    dataset export) — and collect, per example, the values under the given keys and the
    line's position (to read it again for an upload).

    With ``storable=True`` (what a sync uses), the rules of :func:`hash_examples` apply
    (numbers Phoenix cannot store, U+0000 in content), and U+0000 in split names and span ids
    and empty source ids are errors too; with ``id_key``, so are a line without a source id
    and an id on two lines. An error names the line, the JSON path and, when the line has
    one, its source id. Span ids are stripped (an empty one is ``None``).

    ``progress`` (files only) is called with the number of bytes read so far, from the
    reading thread, at most once per block (1 MiB) and once at the end; an exception it
    raises (``KeyboardInterrupt`` too) stops the scan and propagates."""

def scan_examples(
    examples: Iterable[Mapping[str, Any]],
    *,
    id_key: str | None = None,
    ids: Iterable[object] | None = None,
    splits_key: str | None = None,
    span_id_key: str | None = None,
    storable: bool = False,
    progress: Callable[[int], None] | None = None,
) -> Scan:
    """Scan Python examples by the rules of :func:`scan_jsonl`: content hashes, and the
    source ids under ``id_key`` (or the raw values ``ids``, one per example, e.g. computed
    by a callable: :func:`source_id` applies to each), split names under ``splits_key``
    (a str, a list/tuple/set/frozenset of str or None, or None; stripped, sorted, unique)
    and span ids under ``span_id_key`` (a str or None; stripped, an empty one is ``None``).
    ``storable`` and errors as for :func:`scan_jsonl`, naming ``example N``.
    ``progress`` as for :func:`hash_examples`."""

@final
class Diff:
    """Result of :func:`diff`: indices into ``previous`` and ``incoming``."""

    @property
    def added(self) -> list[int]:
        """Incoming indices of examples to create."""
    @property
    def updated(self) -> list[tuple[int, int]]:
        """(incoming, previous) pairs whose content differs."""
    @property
    def unchanged(self) -> list[tuple[int, int]]:
        """(incoming, previous) pairs with the same content."""
    @property
    def deleted(self) -> list[int]:
        """Previous indices of examples to delete (empty when merging)."""
    @property
    def unknown_node_ids(self) -> list[int]:
        """Incoming indices whose id is the node id of no previous example."""

def diff(
    previous: Scan | Iterable[tuple[str, str | None, str]],
    incoming: Scan | Iterable[tuple[str | None, str]],
    *,
    merge: bool = False,
) -> Diff:
    """Classify ``incoming`` against ``previous`` by Phoenix's own matching rules.

    ``previous``: the server's examples as ``(node_id, external_id or None, content_hash)``,
    or a :class:`Scan` of a Phoenix export (with ``id_key`` and ``node_id_key``).
    ``incoming``: ``(source_id or None, content_hash)`` pairs, or a :class:`Scan`.
    An incoming example with an id matches only by that id (as a node id if it is a
    ``DatasetExample`` GlobalID); one without matches the first unmatched previous example
    with the same hash. Unmatched previous examples are deleted unless ``merge``.
    Raises :class:`phoenix_upsert.DuplicateSourceIdError` listing repeated ids.
    """

def manifest_file_name(server: str, dataset_id: str) -> str:
    """The file name of a dataset's sync manifest (the directory is the caller's)."""

def manifest_provable(fingerprint_json: str, proven_at: int | None) -> bool:
    """Whether a manifest for this fingerprint (JSON text), whose content the server showed
    at its clock ``proven_at`` (seconds since the epoch), can tell its dataset from one
    deleted and created again."""

def manifest_encode(
    fingerprint_json: str,
    node_ids: Sequence[str],
    external_ids: Sequence[str | None],
    hashes: Sequence[str],
    splits: Sequence[Sequence[str]],
) -> bytes:
    """A sync manifest's bytes, before compression."""

def manifest_decode(
    data: bytes, expected_json: str
) -> tuple[list[str], list[str | None], list[str], list[list[str]]] | None:
    """The example columns of a manifest that applies to the expected fingerprint; ``None``
    for a stale one. Raises ValueError, saying why, for bytes that are not a manifest."""

def manifest_after_write(
    previous: tuple[Sequence[str], Sequence[str | None], Sequence[str], Sequence[Sequence[str]]],
    ids: Sequence[str | None],
    hashes: Sequence[str],
    splits: Sequence[Sequence[str]] | None,
    matched: Sequence[tuple[int, int]],
    merge: bool,
) -> tuple[list[str], list[str | None], list[str], list[list[str]]]:
    """What a dataset holds after a write landed, without reading it back: the source's
    examples (a matched one keeps its node id and external id; a new one has none yet, "", and
    its source id as external id), then, when merging, the previous ones not matched."""

def plan(
    previous: tuple[Sequence[str], Sequence[str | None], Sequence[str], Sequence[Sequence[str]]],
    ids: Sequence[str | None],
    hashes: Sequence[str],
    splits: Sequence[Sequence[str]] | None,
    lines: Sequence[int] | None,
    *,
    merge: bool,
    exists: bool,
    snapshot: bool,
    unknown: bool,
) -> tuple[str, list[int], list[int], list[int], list[int], int, list[tuple[int, int]], bool]:
    """The sync's plan (``rust/src/plan.rs``, one rule for both SDKs): ``(action, added,
    updated, split_changes, deleted, unchanged, matched, full)`` — source indices by class,
    previous indices of the deleted examples, the (source, previous) pairs matched, and
    whether the write carries the whole source. Raises ``InvalidSourceIdError`` (a node id of
    no example of the dataset), ``DuplicateSourceIdError`` (one example named twice) or
    ``DuplicateContentError`` (a merge adding a copy without an id)."""

CONFLICT_WRITES: int
"""Writes a sync may make while other writers keep changing the dataset."""

@final
class SyncMachine:
    """One sync of the core's engine (``rust/src/sync``, a sans-IO state machine): ``poll()``
    says what to do next, ``handle_*`` hands it the answers. The driver is
    ``phoenix_upsert._engine.driver``."""

    def __new__(
        cls,
        *,
        name: str | None,
        dataset_id: str | None,
        merge: bool,
        dry_run: bool,
        description: str | None,
        allow_empty: bool,
        manifest: bool,
        server: str,
        retries: int,
        timeout: float | None,
        server_version: Sequence[int] | None,
        credentials: str,
        source_name: str,
        seed: int,
        scan: Scan,
        lines: Sequence[int] | None,
    ) -> SyncMachine: ...
    def poll(self) -> tuple[Any, ...]:
        """The next step: ``("http", method, path, query, headers, timeout, connect_timeout,
        purpose, examples, what, label, body)``, ``("load", file)``, ``("save", file, data)``,
        ``("sleep", seconds)``, ``("log", level, message)``, ``("done", plan, synced,
        server_version)`` or ``("failed", class, message, status, detail, retry_after,
        exhausted)``; an input error is raised."""
    def feed(self, chunk: bytes) -> None:
        """A chunk of the answer to the last ``http`` step, as it came: appended to one
        buffer, so that a large answer is held once, not as its chunks and their join."""
    def handle_response(
        self, status: int, headers: Sequence[tuple[str, str]], body: bytes | None
    ) -> None:
        """The answer to the last ``http`` step: its body, or ``None`` for the chunks fed."""
    def handle_transport(self, stale: bool, message: str) -> None: ...
    def handle_manifest(self, data: bytes | None, *, fed: bool = False) -> None:
        """The manifest file's bytes, gunzipped: ``data``, or with ``fed`` the chunks fed;
        neither: no file, or not readable (whatever was fed is dropped)."""
