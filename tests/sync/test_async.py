"""phoenix_upsert.AsyncClient against a real Phoenix (SQLite and PostgreSQL): the sync
client's semantics and results from ``await``, many syncs at once in one event loop, a loop
that stays responsive while a large source is hashed, and cancellation that never leaves
part of a write."""

from __future__ import annotations

import asyncio
import copy
import json
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from phoenix.client import AsyncClient as PhoenixAsyncClient
from phoenix.client import Client as PhoenixClient

import phoenix_upsert as pu
from phoenix_upsert import AsyncClient, Client
from phoenix_upsert.testing import LocalPhoenix

from ..conftest import server_rows, version_count

T = TypeVar("T")


def make_examples(n: int, *, tag: str = "v1", prefix: str = "q") -> list[dict[str, Any]]:
    return [
        {
            "id": f"{prefix}{i}",
            "input": {"question": f"What is {i} + {i}?", "lang": "en"},
            "output": {"answer": str(2 * i), "tag": tag},
            "metadata": {"difficulty": i % 3},
        }
        for i in range(n)
    ]


def write_jsonl(path: Path, examples: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(e) + "\n" for e in examples), "utf-8")
    return path


class AsyncRecorder:
    """Counts the requests the async client sends (an async event hook)."""

    def __init__(self) -> None:
        self.requests: list[tuple[float, str, str]] = []
        self.on_request: Callable[[httpx.Request], None] | None = None
        #: Seconds to hold a request before it is sent.
        self.delay: Callable[[httpx.Request], float] = lambda request: 0.0

    async def __call__(self, request: httpx.Request) -> None:
        self.requests.append((time.monotonic(), request.method, request.url.path))
        if self.on_request is not None:
            self.on_request(request)
        delay = self.delay(request)
        if delay:
            await asyncio.sleep(delay)

    def count(self, method: str, fragment: str = "") -> int:
        return sum(1 for _, m, p in self.requests if m == method and fragment in p)


def run(
    phoenix: LocalPhoenix, body: Callable[[AsyncClient, AsyncRecorder], Awaitable[T]]
) -> tuple[T, AsyncRecorder]:
    """Run ``body`` in a new event loop with an AsyncClient (made in that loop)."""
    recorder = AsyncRecorder()

    async def main() -> T:
        http = httpx.AsyncClient(
            base_url=phoenix.base_url, event_hooks={"request": [recorder]}, timeout=60
        )
        try:
            return await body(AsyncClient(http_client=http), recorder)
        finally:
            await http.aclose()

    return asyncio.run(main()), recorder


def holds_exactly(client: Client, name: str, examples: list[dict[str, Any]]) -> bool:
    rows = server_rows(client, name)
    if set(rows) != {e["id"] for e in examples}:
        return False
    return all(
        rows[e["id"]]["input"] == e["input"]
        and rows[e["id"]]["output"] == e["output"]
        and rows[e["id"]]["metadata"] == e.get("metadata", {})
        for e in examples
    )


def test_a_phoenix_async_client_with_upsert_dataset(phoenix: LocalPhoenix) -> None:
    c = AsyncClient(base_url=phoenix.base_url)
    assert isinstance(c, PhoenixAsyncClient)
    assert isinstance(c.datasets, pu.AsyncUpsertDatasets)
    assert asyncio.iscoroutinefunction(c.datasets.upsert_dataset)
    assert asyncio.iscoroutinefunction(c.datasets.get_dataset)  # phoenix-client's own
    c._client = httpx.AsyncClient(base_url=phoenix.base_url)  # replaced: still ours
    assert isinstance(c.datasets, pu.AsyncUpsertDatasets)


def test_every_request_carries_the_clients_key_and_headers(
    phoenix: LocalPhoenix, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The async client's own configuration (here made by phoenix-client's constructor from
    ``api_key=`` and ``headers=``) is what each request of a sync goes out with."""
    monkeypatch.delenv("PHOENIX_API_KEY", raising=False)
    monkeypatch.delenv("PHOENIX_CLIENT_HEADERS", raising=False)
    seen: list[httpx.Headers] = []

    async def hook(request: httpx.Request) -> None:
        seen.append(request.headers)

    async def main() -> Any:
        ac = AsyncClient(base_url=phoenix.base_url, api_key="k-123", headers={"x-team": "evals"})
        ac._client.event_hooks = {"request": [hook], "response": []}
        return await ac.datasets.upsert_dataset(dataset=name, examples=make_examples(3))

    ds = asyncio.run(main())
    assert ds.summary.added == 3
    assert len(seen) >= 4
    assert all(h.get("authorization") == "Bearer k-123" for h in seen)
    assert all(h.get("x-team") == "evals" for h in seen)


def test_import_phoenix_upsert_stays_light() -> None:
    import subprocess
    import sys

    code = (
        "import sys, phoenix_upsert; "
        "assert 'AsyncClient' in phoenix_upsert.__all__; "
        "assert not [m for m in sys.modules if m == 'phoenix' or m.startswith("
        "('phoenix.', 'phoenix_upsert.async_client', 'fsspec', 'pyarrow', 'polars'))]"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_create_evolve_resync_and_dry_run(
    phoenix: LocalPhoenix, client: Client, name: str, manifest_dir: Path
) -> None:
    v1 = make_examples(30)
    v2 = copy.deepcopy(v1)
    v2[3]["output"]["answer"] = "six"
    del v2[7]
    v2.append({"id": "new", "input": {"question": "new?"}, "output": {"answer": "yes"}})

    async def body(ac: AsyncClient, rec: AsyncRecorder) -> list[Any]:
        up = ac.datasets.upsert_dataset
        ds1 = await up(dataset=name, examples=v1, manifest=manifest_dir)
        plan = await up(dataset=name, examples=v2, dry_run=True, manifest=manifest_dir)
        ds2 = await up(dataset=name, examples=v2, manifest=manifest_dir)
        assert rec.count("POST", "upload") == 2
        rec.requests.clear()
        ds3 = await up(dataset=name, examples=v2, manifest=manifest_dir)
        return [ds1, plan, ds2, ds3, list(rec.requests)]

    (ds1, plan, ds2, ds3, noop_requests), _ = run(phoenix, body)
    assert isinstance(ds1, pu.UpsertedDataset) and ds1.plan.action == "create"
    assert ds1.summary == pu.SyncSummary(added=30, updated=0, deleted=0, unchanged=0)
    assert isinstance(plan, pu.SyncPlan) and not isinstance(plan, pu.UpsertedDataset)
    assert plan.summary == pu.SyncSummary(added=1, updated=1, deleted=1, unchanged=28)
    assert ds2.summary == plan.summary and ds2.plan.updated == ("q3",)
    assert ds2.plan.deleted == ("q7",) and ds2.version_id != ds1.version_id
    assert ds3.summary == pu.SyncSummary(added=0, updated=0, deleted=0, unchanged=30)
    assert ds3.version_id == ds2.version_id
    assert holds_exactly(client, name, v2)
    assert version_count(client, name) == 2
    # The same result the sync client gives for the same source and state.
    again = client.datasets.upsert_dataset(dataset=name, examples=v2, dry_run=True, manifest=False)
    assert again.summary == ds3.summary
    # Every request went through the async client; a no-op sync wrote nothing.
    assert noop_requests and not [r for r in noop_requests if r[1] == "POST"]
    # The datasets came with their examples (read off the loop), as run_experiment wants.
    assert {e["id"] for e in ds2.examples} == {e["id"] for e in ds2._examples_data["examples"]}
    assert len(ds2.examples) == len(v2) and ds2.id == ds1.id


def test_async_run_experiment_on_the_result(phoenix: LocalPhoenix, name: str) -> None:
    async def body(ac: AsyncClient, rec: AsyncRecorder) -> Any:
        ds = await ac.datasets.upsert_dataset(dataset=name, examples=make_examples(4))
        return await ac.experiments.run_experiment(
            dataset=ds, task=lambda example: {"echo": example}, print_summary=False
        )

    experiment, _ = run(phoenix, body)
    assert len(experiment["task_runs"]) == 4


def test_bad_input_is_raised_before_any_request(phoenix: LocalPhoenix, name: str) -> None:
    async def body(ac: AsyncClient, rec: AsyncRecorder) -> BaseException:
        with pytest.raises(pu.NonFiniteNumberError) as info:
            await ac.datasets.upsert_dataset(
                dataset=name, examples=[{"id": "a", "input": {"x": float("nan")}, "output": {}}]
            )
        return info.value

    error, rec = run(phoenix, body)
    assert error.index == 0 and error.source_id == "a" and error.path == "input.x"
    assert rec.requests == []


def test_server_errors_are_the_sync_clients(phoenix: LocalPhoenix) -> None:
    async def body(ac: AsyncClient, rec: AsyncRecorder) -> None:
        with pytest.raises(pu.DatasetNotFoundError):
            await ac.datasets.upsert_dataset(
                dataset_id="RGF0YXNldDo5OTk5OTk=", examples=make_examples(1)
            )

    run(phoenix, body)


def test_four_syncs_at_once_in_one_loop(
    phoenix: LocalPhoenix, client: Client, name: str, tmp_path: Path, manifest_dir: Path
) -> None:
    sources: dict[str, Any] = {}
    expected: dict[str, list[dict[str, Any]]] = {}
    for k in range(4):
        examples = make_examples(400 + 100 * k, tag=f"t{k}", prefix=f"d{k}-")
        expected[f"{name}-{k}"] = examples
        # two from JSONL files, two from lists
        sources[f"{name}-{k}"] = (
            write_jsonl(tmp_path / f"d{k}.jsonl", examples) if k % 2 == 0 else examples
        )
    # Seed two of them so that the gathered syncs mix creates, updates and deletes.
    for k in (1, 2):
        seeded = make_examples(50, tag="old", prefix=f"d{k}-")
        if k == 2:
            seeded.append({"id": "d2-gone", "input": {"q": "gone"}, "output": {}})
        client.datasets.upsert_dataset(dataset=f"{name}-{k}", examples=seeded, manifest=False)

    async def body(ac: AsyncClient, rec: AsyncRecorder) -> list[Any]:
        # Each lookup of a dataset by name waits a while on the loop: were the syncs run one
        # after the other, their lookups would be that far apart.
        rec.delay = lambda r: 0.5 if r.url.path.endswith("/v1/datasets") else 0.0

        async def one(dataset: str) -> Any:
            return await ac.datasets.upsert_dataset(
                dataset=dataset, examples=sources[dataset], manifest=manifest_dir
            )

        return list(await asyncio.gather(*(one(d) for d in sources)))

    results, rec = run(phoenix, body)
    for (dataset, examples), ds in zip(expected.items(), results):
        assert ds.name == dataset
        assert holds_exactly(client, dataset, examples), dataset
        assert len(ds.examples) == len(examples)
    assert [ds.plan.action for ds in results] == ["create", "append", "update", "create"]
    assert results[1].summary == pu.SyncSummary(added=450, updated=50, deleted=0, unchanged=0)
    assert results[2].summary == pu.SyncSummary(added=550, updated=50, deleted=1, unchanged=0)
    assert rec.count("POST", "upload") == 4
    lookups = [t for t, m, p in rec.requests if m == "GET" and p.endswith("/v1/datasets")]
    assert len(lookups) == 4
    assert max(lookups) - min(lookups) < 0.4, "the four syncs did not run at once"


def test_the_loop_keeps_running_while_a_large_source_is_hashed(
    phoenix: LocalPhoenix, name: str, tmp_path: Path
) -> None:
    path = tmp_path / "large.jsonl"
    with path.open("w", encoding="utf-8") as f:
        for i in range(400_000):
            f.write(
                json.dumps(
                    {
                        "id": f"q{i}",
                        "input": {"question": f"What is {i} plus {i}? " * 20},
                        "output": {"answer": str(2 * i)},
                    }
                )
                + "\n"
            )

    async def body(ac: AsyncClient, rec: AsyncRecorder) -> tuple[list[float], float, Any]:
        ticks: list[float] = []
        stop = asyncio.Event()

        async def ticker() -> None:
            while not stop.is_set():
                ticks.append(time.monotonic())
                await asyncio.sleep(0.005)

        task = asyncio.create_task(ticker())
        start = time.monotonic()
        plan = await ac.datasets.upsert_dataset(dataset=name, examples=path, dry_run=True)
        took = time.monotonic() - start
        stop.set()
        await task
        return ticks, took, plan

    (ticks, took, plan), _ = run(phoenix, body)
    assert plan.summary.added == 400_000
    # Longer than the largest gap allowed below: a hash on the loop would show as a stall.
    assert took > 0.3, f"the hash should take long enough to notice a blocked loop ({took:.3f} s)"
    gaps = [b - a for a, b in zip(ticks, ticks[1:])]
    assert len(ticks) > took / 0.005 / 4, (len(ticks), took)
    assert max(gaps) < 0.25, f"the event loop stalled for {max(gaps):.3f} s"


def test_cancelled_during_the_upload_leaves_no_part_of_the_write(
    phoenix: LocalPhoenix, client: Client, name: str, tmp_path: Path
) -> None:
    old = make_examples(100, tag="old")
    client.datasets.upsert_dataset(dataset=name, examples=old, manifest=False)
    versions = version_count(client, name)
    new = make_examples(5_000, tag="new")
    path = write_jsonl(tmp_path / "new.jsonl", new)
    threads_before = {t.ident for t in threading.enumerate()}

    async def body(ac: AsyncClient, rec: AsyncRecorder) -> tuple[int, float]:
        uploading = asyncio.Event()
        rec.on_request = lambda r: uploading.set() if r.method == "POST" else None
        task = asyncio.create_task(
            ac.datasets.upsert_dataset(dataset=name, examples=path, manifest=False)
        )
        await uploading.wait()
        # Part of the body is on its way. Soon: the core writes these 5,000 examples in
        # about 0.05 s, and once the whole body is sent the server, busy inserting it,
        # cannot answer the checks below in time.
        await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        sent = len(rec.requests)
        await asyncio.sleep(1.5)  # the worker, if still running, sends nothing more
        return sent, len(rec.requests)

    (sent, later), _ = run(phoenix, body)
    assert sent == later
    time.sleep(0.5)
    # Whole or nothing: the old content and its versions, or exactly the new source.
    if version_count(client, name) == versions:
        print("cancelled before the write was applied")
        assert holds_exactly(client, name, old)
    else:
        assert version_count(client, name) == versions + 1
        assert holds_exactly(client, name, new)
    # The worker thread has ended.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if not [
            t
            for t in threading.enumerate()
            if t.ident not in threads_before and t.name == "phoenix-upsert sync"
        ]:
            break
        time.sleep(0.1)
    else:
        pytest.fail("the sync's worker thread is still running")
    # And a sync run again converges.
    assert client.datasets.upsert_dataset(dataset=name, examples=path, manifest=False)
    assert holds_exactly(client, name, new)


def test_cancelled_while_a_compressed_source_is_copied(
    phoenix: LocalPhoenix, name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The copy of a source checks for cancellation between chunks: it stops, its
    temporary file goes, nothing is sent."""
    import gzip
    import tempfile

    spool = tmp_path / "spool"
    spool.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(spool))
    path = tmp_path / "big.jsonl.gz"
    line = json.dumps({"id": "x", "input": {"text": "lorem ipsum " * 150}, "output": {}})
    with gzip.open(path, "wb", compresslevel=1) as f:
        for i in range(100_000):
            f.write(line.replace('"x"', f'"q{i}"', 1).encode() + b"\n")

    async def body(ac: AsyncClient, rec: AsyncRecorder) -> float:
        task = asyncio.create_task(ac.datasets.upsert_dataset(dataset=name, examples=path))
        while not any(spool.iterdir()):  # the copy has begun
            await asyncio.sleep(0.005)
        cancelled = time.monotonic()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        took = time.monotonic() - cancelled
        deadline = time.monotonic() + 10
        while any(spool.iterdir()) and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        assert rec.requests == []
        return took

    took, _ = run(phoenix, body)
    assert took < 0.5
    assert list(spool.iterdir()) == [], "the temporary copy is removed"


def test_cancelled_while_hashing_stops_before_any_write(
    phoenix: LocalPhoenix, client: Client, name: str, tmp_path: Path
) -> None:
    path = write_jsonl(tmp_path / "big.jsonl", make_examples(100_000))

    async def body(ac: AsyncClient, rec: AsyncRecorder) -> None:
        task = asyncio.create_task(ac.datasets.upsert_dataset(dataset=name, examples=path))
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await asyncio.sleep(2.0)
        assert rec.count("POST") == 0

    run(phoenix, body)
    assert name not in {d["name"] for d in PhoenixClient(base_url=phoenix.base_url).datasets.list()}
