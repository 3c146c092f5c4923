"""Fixtures: a real Phoenix server (started here, on free ports, in a temporary working
directory), clients that talk to it, and helpers to read what it stored.

Every test that uses the ``phoenix`` fixture (or ``client``) runs twice: against Phoenix on
SQLite and against Phoenix on PostgreSQL (a real PostgreSQL server, started here too; see
``phoenix_upsert.testing``). Tests that start servers of their own parametrize over
``BACKENDS``. ``PU_TEST_BACKENDS=sqlite`` (or ``postgresql``) narrows a local run to one."""

from __future__ import annotations

import itertools
import os
import re
import time
from collections.abc import Iterator
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any, cast

import httpx
import pytest

from phoenix_upsert import Client
from phoenix_upsert.testing import Backend, LocalPhoenix

from .database import stored_hashes as stored_hashes

BACKENDS = cast(
    "tuple[Backend, ...]",
    tuple(b.strip() for b in os.environ.get("PU_TEST_BACKENDS", "sqlite,postgresql").split(",")),
)
assert BACKENDS and set(BACKENDS) <= {"sqlite", "postgresql"}, (
    f"PU_TEST_BACKENDS names sqlite and/or postgresql, not {BACKENDS}"
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests that use a Phoenix server are marked ``server``: ``-m "not server"`` (what
    ``scripts/test native`` and ``scripts/test fast`` run) leaves them out."""
    for item in items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        if {"phoenix", "client"} & set(getattr(item, "fixturenames", ())) or any(
            isinstance(v, str) and v in ("sqlite", "postgresql") for v in params.values()
        ):
            item.add_marker(pytest.mark.server)


def examples(n: int) -> int:
    """How many examples a property test tries: ``n`` in CI, fewer in the fast inner loop
    (``PU_TEST_EXAMPLES_SCALE=0.1``, set by ``scripts/test fast`` and ``scripts/test native``)."""
    return max(10, int(n * float(os.environ.get("PU_TEST_EXAMPLES_SCALE", "1"))))


@pytest.fixture(autouse=True, scope="session")
def _private_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Tests never touch the user's manifest cache (~/.cache/phoenix-upsert)."""
    mp = pytest.MonkeyPatch()
    mp.setenv("PHOENIX_UPSERT_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
    yield
    mp.undo()


@pytest.fixture(scope="session", params=BACKENDS)
def phoenix(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LocalPhoenix]:
    """One Phoenix per backend for the whole session (pytest runs the tests of one backend,
    then those of the other)."""
    backend: Backend = request.param
    work = tmp_path_factory.mktemp(f"phoenix-{backend}")
    with LocalPhoenix(working_dir=work, backend=backend) as server:
        yield server


class Recorder:
    """Counts the requests a client makes, by method and path."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str]] = []

    def __call__(self, request: httpx.Request) -> None:
        self.requests.append((request.method, request.url.path))

    def count(self, method: str, pattern: str = "") -> int:
        return sum(1 for m, p in self.requests if m == method and re.search(pattern, p))

    def clear(self) -> None:
        self.requests.clear()


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def client(phoenix: LocalPhoenix, recorder: Recorder) -> Iterator[Client]:
    http = httpx.Client(base_url=phoenix.base_url, event_hooks={"request": [recorder]})
    yield Client(http_client=http)
    http.close()


@pytest.fixture
def manifest_dir(tmp_path: Path) -> Path:
    return tmp_path / "manifests"


_counter = itertools.count()


@pytest.fixture
def name(request: pytest.FixtureRequest) -> str:
    """A dataset name of its own for each test."""
    return f"{request.node.name[:60]}-{next(_counter)}"


def server_rows(client: Client, dataset: str) -> dict[str, dict[str, Any]]:
    """The dataset's latest examples by id (external id, else node id), with splits."""
    info = client.datasets.get_dataset(dataset=dataset)
    response = client._client.get(f"v1/datasets/{info.id}/jsonl")
    response.raise_for_status()
    import json

    # split on "\n" only: str.splitlines() also breaks at U+2028 inside strings
    rows = [json.loads(line) for line in response.text.split("\n") if line.strip()]
    return {r["id"]: r for r in rows}


def past_this_second(base_url: str, *, timeout: float = 30.0) -> None:
    """Wait until the server's clock (its ``Date`` header, which uvicorn refreshes about once a
    second, later under load) has passed the current second, so a version written before this
    call is of an earlier second than the server's next answer: a manifest of it is provable
    (see ``manifest::provable`` in the core). Polling, not a fixed sleep: on a loaded CI
    machine the header lags by more than a second."""
    now = int(time.time())
    deadline = time.monotonic() + timeout
    with httpx.Client(base_url=base_url) as http:
        while True:
            date = http.get("/healthz").headers.get("date")
            if date and parsedate_to_datetime(date).timestamp() > now:
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"the server's Date stayed at {date} for {timeout} s")
            time.sleep(0.2)


def version_count(client: Client, dataset: str) -> int:
    return len(client.datasets.get_dataset_versions(dataset=dataset, limit=1000))
