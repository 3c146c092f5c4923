"""Faults between the client and a real Phoenix: a fault-injecting proxy on loopback, and a
server killed in the middle of a sync. For each: the call fails clearly or succeeds after
retries, and running the same sync again converges to exactly the source — no example lost,
none duplicated, exactly one new version for the change."""

from __future__ import annotations

import copy
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import phoenix_upsert as pu
from phoenix_upsert import Client
from phoenix_upsert.testing import LocalPhoenix

from ..conftest import BACKENDS, past_this_second, server_rows, version_count
from . import faultproxy as fp
from . import odd_servers as odd


@pytest.fixture
def proxy(phoenix: LocalPhoenix) -> Iterator[fp.FaultProxy]:
    p = fp.FaultProxy(phoenix.port)
    yield p
    p.stop()


@pytest.fixture
def proxied(proxy: fp.FaultProxy) -> Iterator[Client]:
    http = httpx.Client(base_url=proxy.base_url, timeout=30)
    yield Client(http_client=http)
    http.close()


def examples(n: int, tag: str = "v1") -> list[dict[str, Any]]:
    return [{"id": f"e{i}", "input": {"i": i}, "output": {"tag": tag}} for i in range(n)]


def evolve(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A change with every kind of write: one edit, one deletion, one addition."""
    out = copy.deepcopy(rows)
    out[0]["output"]["tag"] = "edited"
    del out[1]
    out.append({"id": "added", "input": {"new": True}, "output": {}})
    return out


def assert_exactly(client: Client, name: str, rows: list[dict[str, Any]]) -> None:
    stored = server_rows(client, name)
    assert len(stored) == len(rows), "examples lost or duplicated"
    for r in rows:
        assert stored[r["id"]]["input"] == r["input"]
        assert stored[r["id"]]["output"] == r["output"]


def sync(client: Client, name: str, rows: list[dict[str, Any]], **kw: Any) -> Any:
    kw.setdefault("manifest", False)
    kw.setdefault("progress", False)
    return client.datasets.upsert_dataset(dataset=name, examples=rows, **kw)


def warm(client: Client, name: str, rows: list[dict[str, Any]], manifest_dir: Path) -> None:
    """Create the dataset and leave a manifest for it: one is written only once the server's
    clock has passed the second of the version's creation (see _manifest.provable; uvicorn's
    Date header can lag by up to a second)."""
    sync(client, name, rows, manifest=manifest_dir)
    past_this_second(str(client._client.base_url))
    assert sync(client, name, rows, manifest=manifest_dir).plan.action == "none"


FAULTS = odd.TRANSIENT_FAULTS


@pytest.mark.parametrize("fault", list(FAULTS), ids=list(FAULTS))
def test_transient_faults_are_survived(
    client: Client, proxied: Client, proxy: fp.FaultProxy, name: str, fault: str
) -> None:
    v1 = copy.deepcopy(odd.FAULT_V1)
    sync(client, name, v1)
    before = version_count(client, name)
    method, path, injected = FAULTS[fault]
    proxy.add(method, path, copy.copy(injected))
    v2 = copy.deepcopy(odd.FAULT_V2)
    ds = sync(proxied, name, v2)
    assert proxy.count(method, path, injected.kind) == 1, "the fault was injected"
    assert ds.summary == pu.SyncSummary(added=1, updated=1, deleted=1, unchanged=18)
    assert_exactly(client, name, v2)
    assert version_count(client, name) == before + 1, "exactly one new version"
    assert ds.attempts >= 1
    # Running it again changes nothing.
    again = sync(proxied, name, v2)
    assert again.plan.action == "none" and version_count(client, name) == before + 1


def test_persistent_5xx_fails_clearly_then_converges(
    client: Client, proxied: Client, proxy: fp.FaultProxy, name: str
) -> None:
    v1 = examples(10)
    sync(client, name, v1)
    before = version_count(client, name)
    proxy.add("POST", "/upload", fp.status(503), times=100)
    with pytest.raises(pu.ServerError) as info:
        sync(proxied, name, evolve(v1), retries=2)
    assert info.value.status_code == 503 and "HTTP 503" in str(info.value)
    assert version_count(client, name) == before
    proxy.clear()
    sync(proxied, name, evolve(v1))
    assert_exactly(client, name, evolve(v1))
    assert version_count(client, name) == before + 1


def test_connection_refused_fails_clearly(proxy: fp.FaultProxy, proxied: Client) -> None:
    proxy.stop()
    with pytest.raises(pu.ServerError, match=r"Connection refused|ConnectError"):
        sync(proxied, "refused", examples(2), retries=2)


def test_slow_server_times_out_then_converges(
    client: Client, proxied: Client, proxy: fp.FaultProxy, name: str
) -> None:
    v1 = examples(10)
    sync(client, name, v1)
    before = version_count(client, name)
    # The upload reaches the server after the client's timeout: the write lands later.
    proxy.add("POST", "/upload", fp.delay(3.0))
    ds = sync(proxied, name, evolve(v1), timeout=1.0, retries=6)
    assert_exactly(client, name, evolve(v1))
    assert version_count(client, name) == before + 1
    assert ds.version_id == client.datasets.get_dataset(dataset=name).version_id


@pytest.mark.parametrize("backend", BACKENDS)
def test_server_killed_and_restarted_mid_sync(tmp_path: Path, name: str, backend: Any) -> None:
    with LocalPhoenix(working_dir=tmp_path / "phoenix", backend=backend) as server:
        client = Client(base_url=server.base_url)
        v1 = examples(50)
        sync(client, name, v1)
        v2 = evolve(v1) + examples(3000, tag="bulk")[50:]  # a write that takes seconds
        killer = threading.Timer(1.0, lambda: server.restart(kill=True))
        killer.start()
        try:
            sync(client, name, v2, retries=8)
            outcome = "succeeded after retries"
        except pu.ServerError as e:
            outcome = f"failed clearly: {e}"
        killer.join()
        assert outcome
        # Whatever happened, running it again converges to exactly the source.
        ds = sync(client, name, v2, retries=8)
        assert_exactly(client, name, v2)
        assert version_count(client, name) == 2, "v1, and exactly one version for the change"
        assert sync(client, name, v2).plan.action == "none"
        assert ds.version_id


def test_concurrent_syncs_end_in_one_source(
    client: Client, phoenix: LocalPhoenix, name: str
) -> None:
    base = examples(200)
    sync(client, name, base)
    a = [{**e, "output": {"by": "a"}} for e in base[:150]] + examples(260, tag="a")[200:]
    b = [{**e, "output": {"by": "b"}} for e in base[50:]]
    results: dict[str, Any] = {}

    def run(label: str, rows: list[dict[str, Any]]) -> None:
        c = Client(base_url=phoenix.base_url)
        try:
            results[label] = sync(c, name, rows)
        except pu.ConcurrentWriteError as e:
            results[label] = e

    threads = [threading.Thread(target=run, args=x) for x in (("a", a), ("b", b))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stored = server_rows(client, name)
    matches = [label for label, rows in (("a", a), ("b", b)) if _equal(stored, rows)]
    assert len(matches) == 1, f"the final state is neither source exactly: {results}"
    for result in results.values():
        assert isinstance(result, (pu.UpsertedDataset, pu.ConcurrentWriteError)), result


def _equal(stored: dict[str, Any], rows: list[dict[str, Any]]) -> bool:
    return len(stored) == len(rows) and all(
        r["id"] in stored
        and stored[r["id"]]["input"] == r["input"]
        and stored[r["id"]]["output"] == r["output"]
        for r in rows
    )


@pytest.mark.parametrize("backend", BACKENDS)
def test_database_wiped_under_a_warm_manifest(tmp_path: Path, name: str, backend: Any) -> None:
    manifest_dir = tmp_path / "manifests"
    rows = examples(20)
    with LocalPhoenix(working_dir=tmp_path / "phoenix", backend=backend) as server:
        client = Client(base_url=server.base_url)
        sync(client, name, rows, manifest=manifest_dir)
        assert sync(client, name, rows, manifest=manifest_dir).plan.action == "none"
        server.wipe()  # the database is wiped (file deleted / database dropped)...
        # ...and recreated with the same name (and so the same ids), other content.
        other = [{**r, "output": {"tag": "other"}} for r in rows[:15]]
        sync(client, name, other, manifest=False)
        ds = sync(client, name, rows, manifest=manifest_dir)
        assert ds.summary == pu.SyncSummary(added=5, updated=15, deleted=0, unchanged=0)
        assert_exactly(client, name, rows)


def test_corrupt_manifest_is_ignored_with_a_warning(
    client: Client, name: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    manifest_dir = tmp_path / "m"
    rows = examples(10)
    warm(client, name, rows, manifest_dir)
    (path,) = manifest_dir.glob("*.json.gz")
    path.write_bytes(path.read_bytes()[:40])  # truncated
    with caplog.at_level("WARNING", logger="phoenix_upsert"):
        ds = sync(client, name, evolve(rows), manifest=manifest_dir)
    assert "corrupt sync manifest" in caplog.text
    assert ds.summary.added == 1
    assert_exactly(client, name, evolve(rows))


def test_manifest_is_private_and_atomic(client: Client, name: str, tmp_path: Path) -> None:
    manifest_dir = tmp_path / "m"
    warm(client, name, examples(5), manifest_dir)
    files = list(manifest_dir.iterdir())
    assert len(files) == 1 and files[0].suffixes == [".json", ".gz"]  # no temp file left
    assert files[0].stat().st_mode & 0o777 == 0o600
    assert manifest_dir.stat().st_mode & 0o077 == 0


def test_a_temp_manifest_left_by_a_killed_process_is_removed(
    client: Client, name: str, tmp_path: Path
) -> None:
    manifest_dir = tmp_path / "m"
    manifest_dir.mkdir(mode=0o700)
    old, fresh = manifest_dir / ".manifest-killed.tmp", manifest_dir / ".manifest-writing.tmp"
    for path in (old, fresh):
        path.write_bytes(b"partial")
    two_hours_ago = time.time() - 7200
    os.utime(old, (two_hours_ago, two_hours_ago))
    warm(client, name, examples(5), manifest_dir)
    assert not old.exists(), "a stale temp file is left"
    assert fresh.exists(), "another process's temp file was removed while it may be writing it"


def test_backoff_honours_retry_after(
    client: Client, proxied: Client, proxy: fp.FaultProxy, name: str
) -> None:
    sync(client, name, examples(3))
    proxy.add("GET", "/versions", fp.status(429, {"Retry-After": "2"}))
    start = time.monotonic()
    sync(proxied, name, examples(3))
    assert time.monotonic() - start >= 2.0


def test_a_server_older_than_15_is_refused_before_anything_is_written(
    client: Client, proxied: Client, proxy: fp.FaultProxy, name: str
) -> None:
    """An old server, as seen through its answers (a real Phoenix 14 would need a second,
    older arize-phoenix installation): its version, or its 422 for action=update."""
    proxy.add("GET", "/arize_phoenix_version", fp.status(200, body=b"14.9.0"))
    with pytest.raises(pu.ServerTooOldError, match=r"Phoenix >= 15\.0\.0") as info:
        sync(proxied, name, examples(3))
    assert "14.9.0" in str(info.value)
    assert proxy.count("POST", "/upload") == 0

    # A server that does not say its version but rejects declarative updates.
    sync(client, name, examples(3))
    fresh = Client(http_client=httpx.Client(base_url=proxy.base_url, timeout=30))
    proxy.add("GET", "/arize_phoenix_version", fp.status(404))
    proxy.add(
        "POST",
        "/upload",
        fp.status(422, body=b'{"detail":"Invalid dateset action: update"}'),
    )
    with pytest.raises(pu.ServerTooOldError, match=r"Phoenix >= 15\.0\.0"):
        sync(fresh, name, examples(2))  # a deletion: action=update
    assert len(server_rows(client, name)) == 3
