"""The local sync manifest: what the server held after the last sync, so that the next one
need not download the dataset.

The rules — the format, when a manifest applies (the server's :class:`Fingerprint` of the
dataset), when one may be written (:func:`provable`), the file's name — are the native
core's (``rust/src/manifest.rs``), shared with the TypeScript package, so that each SDK reads
the other's manifests. This module does the file work: the directory, gzip, atomic writes
readable by the owner only. A manifest that is unreadable, corrupt or stale is ignored (with
a warning when corrupt), never trusted. It holds ids, content hashes and split names — no
example content and no credentials.

Split assignments are not versioned by Phoenix, so a manifest proves content only: the sync
engine does not use it for a source that carries splits.
"""

from __future__ import annotations

import gzip
import json
import logging
import os
import tempfile
import time
import zlib
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

from phoenix_upsert import _native

logger = logging.getLogger("phoenix_upsert")


def default_directory() -> Path:
    """``$PHOENIX_UPSERT_CACHE_DIR``, else ``$XDG_CACHE_HOME/phoenix-upsert``, else
    ``~/.cache/phoenix-upsert``."""
    explicit = os.environ.get("PHOENIX_UPSERT_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "phoenix-upsert"


@dataclass(frozen=True)
class Fingerprint:
    """What the server says about a dataset's current state."""

    server: str
    dataset_id: str
    dataset_created_at: str
    version_id: str
    version_created_at: str
    #: The version before it, if any.
    previous_version_id: str | None
    previous_version_created_at: str | None
    #: The ids of the latest versions, newest first (a version that commits late, below a
    #: newer one, changes that one's export and shows up here).
    version_ids: tuple[str, ...]
    example_count: int


def _json(fingerprint: Fingerprint) -> str:
    return json.dumps(asdict(fingerprint))


def provable(fingerprint: Fingerprint, proven_at: datetime | None) -> bool:
    """Whether a manifest for ``fingerprint``, whose content the server showed at its clock
    ``proven_at``, can later tell its dataset from one deleted and created again with the
    same row ids and creation times (the core's rule)."""
    if proven_at is not None and proven_at.tzinfo is None:
        proven_at = proven_at.replace(tzinfo=timezone.utc)  # a Date header's "-0000" zone
    seconds = None if proven_at is None else int(proven_at.timestamp())
    return _native.manifest_provable(_json(fingerprint), seconds)


@dataclass
class ServerExamples:
    """The examples of one dataset version, as parallel lists."""

    node_ids: list[str]  # "" where unknown (examples this client created, not yet read back)
    external_ids: list[str | None]
    hashes: list[str]
    splits: list[tuple[str, ...]]

    def __len__(self) -> int:
        return len(self.hashes)

    @classmethod
    def empty(cls) -> ServerExamples:
        return cls([], [], [], [])


def _path(directory: Path, server: str, dataset_id: str) -> Path:
    return directory / _native.manifest_file_name(server, dataset_id)


def load(directory: Path, expected: Fingerprint) -> ServerExamples | None:
    """The manifest for ``expected``, or ``None`` if there is none that provably applies."""
    path = _path(directory, expected.server, expected.dataset_id)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as e:
        logger.warning("ignoring the sync manifest %s: %s", path, e)
        return None
    try:
        columns = _native.manifest_decode(gzip.decompress(raw), _json(expected))
    except (ValueError, OSError, EOFError, zlib.error) as e:
        logger.warning("ignoring a corrupt sync manifest %s (%s)", path, e)
        return None
    if columns is None:
        logger.debug("sync manifest %s is stale; reading the dataset from the server", path)
        return None
    node_ids, external_ids, hashes, splits = columns
    examples = ServerExamples(node_ids, external_ids, hashes, [tuple(s) for s in splits])
    return examples


def save(
    directory: Path,
    fingerprint: Fingerprint,
    examples: ServerExamples,
    *,
    proven_at: datetime | None,
) -> None:
    """Write the manifest atomically (temp file + rename), readable by its owner only — if
    it is :func:`provable`; otherwise remove any older one (the next sync reads the server).

    Format: gzip of the core's bytes (a header line with the format and the SHA-256 of the
    rest, then the JSON body).
    """
    path = _path(directory, fingerprint.server, fingerprint.dataset_id)
    if not provable(fingerprint, proven_at):
        logger.debug("not writing a sync manifest for %s yet", fingerprint.version_id)
        try:
            path.unlink(missing_ok=True)
        except OSError:
            pass
        return
    body = _native.manifest_encode(
        _json(fingerprint),
        examples.node_ids,
        examples.external_ids,
        examples.hashes,
        [list(s) for s in examples.splits],
    )
    data = gzip.compress(body, compresslevel=5)
    try:
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=".manifest-", suffix=".tmp")
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as e:  # a cache that cannot be written only costs speed
        logger.warning("could not write the sync manifest %s: %s", path, e)
    _sweep(directory)


#: A temporary manifest file older than this was left by a process that was killed while
#: writing it (a write takes well under a second): removed by the next save (both SDKs).
STALE_TEMP_SECONDS = 3600


def _sweep(directory: Path) -> None:
    now = time.time()
    try:
        for tmp in directory.glob(".manifest-*.tmp"):
            try:
                if now - tmp.stat().st_mtime > STALE_TEMP_SECONDS:
                    tmp.unlink()
            except OSError:
                pass  # another process's, just renamed or removed
    except OSError:
        pass
