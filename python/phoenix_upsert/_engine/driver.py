"""The host of the core's sync engine (``rust/src/sync``, a sans-IO state machine): every
decision of a sync — what to read, whether to trust the manifest, the plan, the upload, the
proof, retries, conflicts, errors — is the core's, shared with the TypeScript package. Here
only I/O: requests over the client's httpx.Client (its base URL and headers: the API key
never passes through the core), manifest files, sleeping, logging and progress bars.
"""

from __future__ import annotations

import gzip
import json
import logging
import random
import time
import zlib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx

from phoenix_upsert import _progress
from phoenix_upsert._engine import manifest
from phoenix_upsert._engine.server import shown_url
from phoenix_upsert._native import CONFLICT_WRITES, SyncMachine
from phoenix_upsert._sources.source import Source
from phoenix_upsert.errors import (
    AuthenticationError,
    ConcurrentWriteError,
    DatasetNotFoundError,
    ServerError,
    ServerTooOldError,
)
from phoenix_upsert.results import Mode, SyncPlan, SyncResult

__all__ = ["CONFLICT_WRITES", "Driver", "body"]

logger = logging.getLogger("phoenix_upsert")

_FAILURES: dict[str, type[ServerError]] = {
    cls.__name__: cls
    for cls in (ServerError, AuthenticationError, DatasetNotFoundError, ServerTooOldError)
}

#: A connection closed under a request: the kept-alive one the server had closed.
_STALE = (httpx.ReadError, httpx.WriteError, httpx.RemoteProtocolError)

_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING}


def describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def body(
    segments: Sequence[bytes | int], indices: Sequence[int], source: Source
) -> Iterator[bytes]:
    """An upload body as the core lays it out: its bytes, and for each part number the
    source's rows of that part (written by the core from what it scanned), comma-joined."""
    for segment in segments:
        if isinstance(segment, bytes):
            yield segment
            continue
        batch: list[bytes] = []
        comma = b""
        for text in source.rows(indices, segment):
            batch.append(text)
            if len(batch) >= 512:
                yield comma + b",".join(batch)
                batch.clear()
                comma = b","
        if batch:
            yield comma + b",".join(batch)


class Driver:
    """Runs one sync of the core's engine over an httpx.Client."""

    def __init__(
        self,
        http: httpx.Client,
        source: Source,
        *,
        manifest_dir: Path | None,
        progress: bool | None,
    ) -> None:
        self.http = http
        self.source = source
        self.manifest_dir = manifest_dir
        self.progress = progress

    def run(
        self,
        *,
        name: str | None,
        dataset_id: str | None,
        mode: Mode,
        dry_run: bool,
        description: str | None,
        allow_empty: bool,
        timeout: float | None,
        retries: int,
        server_version: tuple[int, ...] | None,
    ) -> tuple[SyncResult | SyncPlan, tuple[int, ...] | None]:
        """The sync's result (a dry run: its plan) and the server's version."""
        source = self.source
        machine = SyncMachine(
            name=name,
            dataset_id=dataset_id,
            merge=mode == "merge",
            dry_run=dry_run,
            description=description,
            allow_empty=allow_empty,
            manifest=self.manifest_dir is not None,
            server=shown_url(self.http.base_url),
            retries=retries,
            timeout=timeout,
            server_version=None if server_version is None else list(server_version),
            credentials="set PHOENIX_API_KEY (or pass api_key=)",
            source_name=source.name,
            seed=random.getrandbits(64),
            scan=source.scan,
            lines=source.line_override,
        )
        while True:
            step = machine.poll()
            kind = step[0]
            if kind == "http":
                try:
                    status, headers, data = self.send(step, machine)
                except httpx.TransportError as exc:
                    machine.handle_transport(isinstance(exc, _STALE), describe(exc))
                else:
                    machine.handle_response(status, headers, data)
                    # Let go of the answer before the next poll: the engine plans from what
                    # it read then, and a large answer need not be held beside the plan.
                    del data
            elif kind == "load":
                machine.handle_manifest(None, fed=self.load(step[1], machine))
            elif kind == "save":
                self.save(step[1], step[2])
            elif kind == "sleep":
                time.sleep(step[1])
            elif kind == "log":
                logger.log(_LEVELS[step[1]], "%s", step[2])
            elif kind == "done":
                return self.outcome(step, mode)
            else:
                raise self.failure(step)

    # -- results -------------------------------------------------------------------------

    def outcome(
        self, step: tuple[Any, ...], mode: Mode
    ) -> tuple[SyncResult | SyncPlan, tuple[int, ...] | None]:
        _, p, synced, version = step
        name, dataset_id, base, action, added, updated, split_changes, deleted, unchanged = p
        # The source's ids as a list only when the plan names some (a million: 70 MB).
        ids = self.source.ids if added or updated or split_changes else []
        plan = SyncPlan(
            dataset_name=name,
            dataset_id=dataset_id,
            base_version_id=base,
            mode=mode,
            action=action,
            added=tuple(ids[i] for i in added),
            updated=tuple(ids[i] for i in updated),
            split_changes=tuple(ids[i] for i in split_changes),
            deleted=tuple(deleted),
            unchanged=unchanged,
            added_indices=tuple(added),
            updated_indices=tuple(updated),
            split_change_indices=tuple(split_changes),
        )
        known = None if version is None else tuple(version)
        if synced is None:
            return plan, known
        info, version_id, attempts, concurrent, versions = synced
        result = SyncResult(
            dataset_info=json.loads(info),
            version_id=version_id,
            plan=plan,
            attempts=attempts,
            concurrent_writer=concurrent,
            versions=tuple(versions),
        )
        return result, known

    @staticmethod
    def failure(step: tuple[Any, ...]) -> Exception:
        _, kind, message, status, detail, retry_after, exhausted = step
        if kind == "ConcurrentWriteError":
            return ConcurrentWriteError(message)
        err = _FAILURES[kind](message, status_code=status, detail=detail)
        err.retry_after = retry_after
        err.exhausted = exhausted
        return err

    # -- I/O -----------------------------------------------------------------------------

    def send(
        self, step: tuple[Any, ...], machine: SyncMachine
    ) -> tuple[int, list[tuple[str, str]], bytes | None]:
        """Send the request of an ``http`` step: its status, headers and body — or ``None``
        for a body fed to ``machine`` chunk by chunk as it came (a large answer, the examples
        of a big dataset, is then held once, in the engine, not as chunks and their join)."""
        _, method, path, query, headers, timeout, connect, purpose, examples, _, label, segments = (
            step
        )
        timeouts = httpx.Timeout(timeout, connect=connect)
        if purpose == "upload":
            return self.upload(path, query, dict(headers), timeouts, label, segments)
        request = self.http.build_request(
            method, path, params=query, headers=dict(headers), timeout=timeouts
        )
        if purpose != "export":
            response = self.http.send(request, stream=True)
            try:
                for chunk in response.iter_bytes():
                    machine.feed(chunk)
            finally:
                response.close()
            return response.status_code, list(response.headers.items()), None
        with _progress.bar(
            self.progress,
            long=examples > 5000,
            total=examples,
            desc=label,
            unit=" examples",
            unit_scale=True,
        ) as bar:
            response = self.http.send(request, stream=True)
            try:
                for chunk in response.iter_bytes():
                    machine.feed(chunk)
                    bar.update(chunk.count(b"\n"))  # one line an example
            finally:
                response.close()
        return response.status_code, list(response.headers.items()), None

    def upload(
        self,
        path: str,
        query: list[tuple[str, str | int | float | bool | None]],
        headers: dict[str, str],
        timeouts: httpx.Timeout,
        label: str,
        segments: tuple[list[bytes | int], list[int]],
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        """POST one upload, its body streamed with a progress bar (never retried here: the
        engine reads the state again instead)."""
        parts, indices = segments
        long = len(indices) > 1000
        waiting: list[_progress.Elapsed] = []
        with _progress.byte_bar(
            self.progress,
            long=long,
            total=self.source.upload_size(indices),
            desc=f"{label}: sending",
        ) as bar:

            def stream() -> Iterator[bytes]:
                for chunk in body(parts, indices, self.source):
                    bar.update(len(chunk))
                    yield chunk
                # All sent: the server now hashes and inserts (about 2 ms per example).
                bar.total = bar.n  # the total was an estimate; the bar ends full
                bar.close()
                waiting.append(
                    _progress.Elapsed(
                        self.progress,
                        long=long,
                        desc=f"{label}: server inserting",
                    )
                )

            try:
                response = self.http.post(
                    path, params=query, content=stream(), headers=headers, timeout=timeouts
                )
            finally:
                for w in waiting:
                    w.stop()
        return response.status_code, list(response.headers.items()), response.content

    def load(self, file: str, machine: SyncMachine) -> bool:
        """Feed the manifest file to ``machine``, gunzipped, a megabyte at a time (never the
        whole file and its gunzipped bytes at once). False: no file, or not readable."""
        assert self.manifest_dir is not None
        path = self.manifest_dir / file
        try:
            with gzip.open(path, "rb") as f:
                while chunk := f.read(1 << 20):
                    machine.feed(chunk)
        except FileNotFoundError:
            return False
        except (gzip.BadGzipFile, EOFError, zlib.error) as e:
            logger.warning("ignoring a corrupt sync manifest %s (%s)", path, e)
            return False
        except OSError as e:
            logger.warning("ignoring the sync manifest %s: %s", path, e)
            return False
        return True

    def save(self, file: str, data: bytes | None) -> None:
        assert self.manifest_dir is not None
        manifest.write(self.manifest_dir, file, data)
