"""The local sync manifest's files: what the server held after the last sync, so that the
next one need not download the dataset.

The rules — the format, when a manifest applies (the server's fingerprint of the dataset),
when one may be written, the file's name — are the native core's (``rust/src/manifest.rs``,
applied by the sync engine in ``rust/src/sync``), shared with the TypeScript package, so that
each SDK reads the other's manifests. This module does the file work: the directory, gzip,
atomic writes readable by the owner only. A manifest that is unreadable, corrupt or stale is
ignored (with a warning when corrupt), never trusted. It holds ids, content hashes and split
names — no example content and no credentials.
"""

from __future__ import annotations

import gzip
import logging
import os
import tempfile
import time
from pathlib import Path

logger = logging.getLogger("phoenix_upsert")


def default_directory() -> Path:
    """``$PHOENIX_UPSERT_CACHE_DIR``, else ``$XDG_CACHE_HOME/phoenix-upsert``, else
    ``~/.cache/phoenix-upsert``."""
    explicit = os.environ.get("PHOENIX_UPSERT_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "phoenix-upsert"


def write(directory: Path, file: str, data: bytes | None) -> None:
    """Write the core's manifest bytes gzipped, atomically (temp file + rename), readable by
    its owner only; ``None``: remove the file (the next sync reads the server). A cache that
    cannot be written only costs speed: a warning."""
    path = directory / file
    if data is None:
        try:
            path.unlink(missing_ok=True)
        except OSError:
            pass
        return
    compressed = gzip.compress(data, compresslevel=5)
    try:
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=".manifest-", suffix=".tmp")
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(compressed)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as e:
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
