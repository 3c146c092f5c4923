"""The local sync manifest: what the server held after the last sync, so that the next one
need not download the dataset.

A manifest is only trusted when the server proves it still applies: same dataset (id and
creation time), same two latest versions (ids and creation times: versions are immutable),
same example count. A database that was reset or a dataset deleted and created again can
reuse every row id (SQLite does), and creation times have a resolution of one second there,
so a manifest is only written when it can tell the two apart (see :func:`provable`). A
manifest that is unreadable, corrupt or stale is ignored (with a warning when corrupt), never
trusted. It holds ids, content hashes and split names — no example content and no
credentials — and is written atomically, readable by its owner only.

Split assignments are not versioned by Phoenix, so a manifest proves content only: the sync
engine does not use it for a source that carries splits.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import os
import tempfile
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

logger = logging.getLogger("phoenix_upsert")

FORMAT = "phoenix-upsert-manifest/3"


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
    example_count: int


def _second(text: str | None) -> datetime | None:
    """A server timestamp, to the second (in UTC)."""
    if not text:
        return None
    try:
        t = datetime.fromisoformat(text)
    except ValueError:
        return None
    if t.tzinfo is None:
        t = t.replace(tzinfo=timezone.utc)
    return t.astimezone(timezone.utc).replace(microsecond=0)


def provable(fingerprint: Fingerprint, proven_at: datetime | None) -> bool:
    """Whether a manifest for ``fingerprint``, whose content the server showed at its clock
    ``proven_at``, can later tell its dataset from one deleted and created again with the
    same row ids and creation times.

    Anything created after the deletion is created no earlier than the second in which the
    manifest's content was shown. So the fingerprint is unique if the server's clock had
    already passed the latest version's second then, or if the version before it is from
    an earlier second than the latest one (a re-created dataset would need a version of that
    earlier second)."""
    latest = _second(fingerprint.version_created_at)
    if latest is None:
        return False
    previous = _second(fingerprint.previous_version_created_at)
    if previous is not None and previous < latest:
        return True
    return proven_at is not None and proven_at.replace(microsecond=0) > latest


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
    key = hashlib.sha256(f"{server}\0{dataset_id}".encode()).hexdigest()[:32]
    return directory / f"{key}.json.gz"


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
        header_text, _, body_bytes = gzip.decompress(raw).partition(b"\n")
        header = json.loads(header_text)
        if header.get("format") != FORMAT:
            raise ValueError(f"unknown format {header.get('format')!r}")
        if header.get("sha256") != hashlib.sha256(body_bytes).hexdigest():
            raise ValueError("checksum mismatch")
        body = json.loads(body_bytes)
        found = Fingerprint(**body["fingerprint"])
        ex = body["examples"]
        examples = ServerExamples(
            node_ids=ex["node_ids"],
            external_ids=ex["external_ids"],
            hashes=ex["hashes"],
            splits=[tuple(s) for s in ex["splits"]],
        )
        sizes = {len(examples.node_ids), len(examples.external_ids), len(examples.splits)}
        if sizes != {len(examples)}:
            raise ValueError("columns of different lengths")
    except (ValueError, KeyError, TypeError, OSError, EOFError) as e:
        logger.warning("ignoring a corrupt sync manifest %s (%s)", path, e)
        return None
    if found != expected or len(examples) != expected.example_count:
        logger.debug("sync manifest %s is stale; reading the dataset from the server", path)
        return None
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

    Format: gzip of a header line (format, SHA-256 of the rest) and the JSON body.
    """
    path = _path(directory, fingerprint.server, fingerprint.dataset_id)
    if not provable(fingerprint, proven_at):
        logger.debug("not writing a sync manifest for %s yet", fingerprint.version_id)
        try:
            path.unlink(missing_ok=True)
        except OSError:
            pass
        return
    body = json.dumps(
        {
            "fingerprint": asdict(fingerprint),
            "examples": {
                "node_ids": examples.node_ids,
                "external_ids": examples.external_ids,
                "hashes": examples.hashes,
                "splits": [list(s) for s in examples.splits],
            },
        },
        ensure_ascii=False,
    ).encode()
    header = json.dumps({"format": FORMAT, "sha256": hashlib.sha256(body).hexdigest()}).encode()
    data = gzip.compress(header + b"\n" + body, compresslevel=5)
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
