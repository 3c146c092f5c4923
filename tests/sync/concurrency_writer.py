"""The writers of ``tests/sync/test_concurrency.py``: each a process of its own that syncs one
source into a dataset that other such processes sync at the same moment.

:func:`run` is the body of one writer. The test forks each writer from a
``multiprocessing`` fork server that has imported this module (and so phoenix-client and
phoenix_upsert) once: every writer is a new process, ready in milliseconds. A spec file
tells it ``base_url``, ``dataset``, ``examples`` (a list) or ``jsonl`` (a file's path),
``manifest`` (``false`` or a directory), ``retries``, ``offset`` (seconds to wait after the
start), and where to put its ``log`` and ``result``. The writer prepares its client, waits
at a barrier shared with the other writers and the test, sleeps ``offset`` and syncs. Its
result is one JSON object: ``"success"`` with what the sync reported; ``"concurrent"`` for
``ConcurrentWriteError``; ``"error"`` for anything else, with the traceback. Its log
(phoenix_upsert at DEBUG, httpx requests) stamps each line with the wall clock, so that the
writers' logs can be merged.

``python -m tests.sync.concurrency_writer SPEC.json`` runs one writer by hand (no barrier).

The test environment has the Phoenix server installed next to phoenix-client, and the
server's ``phoenix/__init__.py`` imports all of it (some 15 s of a 2-core machine) whenever
``phoenix.client`` is imported. Users of this library have phoenix-client alone, where
``phoenix`` is a namespace package; so do these processes (:func:`client_only`).
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import sys
import time
import traceback
import types
from pathlib import Path
from typing import Any


def client_only() -> None:
    """Import ``phoenix`` as the namespace package that a phoenix-client install makes it,
    without the server's ``__init__`` (unless it is imported already: then nothing)."""
    if "phoenix" in sys.modules:
        return
    found = importlib.util.find_spec("phoenix")
    if found is None or found.origin is None or found.submodule_search_locations is None:
        return  # phoenix-client alone: a namespace package already
    namespace = types.ModuleType("phoenix")
    namespace.__path__ = list(found.submodule_search_locations)
    sys.modules["phoenix"] = namespace


client_only()

import tqdm.auto  # noqa: E402, F401  (the sync imports it on first use: not mid-race)

import phoenix_upsert as pu  # noqa: E402
from phoenix_upsert.client import Client  # noqa: E402


class _Stamp(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        text = f"{record.created:.6f} {record.name}: {record.getMessage()}"
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        return text


def run(spec_path: str, barrier: Any = None) -> None:
    spec: dict[str, Any] = json.loads(Path(spec_path).read_text("utf-8"))
    out: dict[str, Any] = {}
    try:
        handler = logging.FileHandler(spec["log"], encoding="utf-8")
        handler.setFormatter(_Stamp())
        for name, level in (("phoenix_upsert", logging.DEBUG), ("httpx", logging.INFO)):
            log = logging.getLogger(name)
            log.setLevel(level)
            log.addHandler(handler)
        client = Client(base_url=spec["base_url"])
        examples = spec["jsonl"] if spec.get("jsonl") else spec["examples"]
        if barrier is not None:
            barrier.wait(timeout=120)
        out["started"] = time.time()
        time.sleep(spec["offset"])
        out["synced_at"] = time.time()
        try:
            ds = client.datasets.upsert_dataset(
                dataset=spec["dataset"],
                examples=examples,
                manifest=spec["manifest"] or False,
                retries=spec["retries"],
                progress=False,
            )
        except pu.ConcurrentWriteError as e:
            out.update(outcome="concurrent", error=type(e).__name__, message=str(e))
        else:
            out["finished"] = time.time()
            out.update(
                outcome="success",
                dataset_id=ds.id,
                version_id=ds.version_id,
                action=ds.plan.action,
                base_version_id=ds.plan.base_version_id,
                summary=ds.summary.as_dict(),
                attempts=ds.attempts,
                concurrent_writer=ds.concurrent_writer,
            )
    except BaseException as e:  # any other outcome fails the test, shown in full
        out.update(
            outcome="error", error=type(e).__name__, message=str(e), trace=traceback.format_exc()
        )
    out.setdefault("finished", time.time())
    tmp = spec["result"] + ".tmp"
    Path(tmp).write_text(json.dumps(out), "utf-8")
    os.replace(tmp, spec["result"])


if __name__ == "__main__":
    run(sys.argv[1])
    print(Path(json.loads(Path(sys.argv[1]).read_text("utf-8"))["result"]).read_text("utf-8"))
