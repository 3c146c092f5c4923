"""End to end on one local Phoenix: upsert_dataset vs phoenix-client's create_dataset.

phoenix-client's ``create_dataset`` (3.5) is itself a server-side upsert (``action=update``):
it sends the whole dataset every time, the server hashes and diffs all of it, and the client
then downloads every example back. ``upsert_dataset`` plans on the client and sends only
what changed. Both datasets go through the same evolution, scenario by scenario:
initial upload, no-op re-sync, 1% of the examples edited, 1% deleted.
"""

from __future__ import annotations

import copy
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from phoenix_upsert import Client
from phoenix_upsert.testing import Backend, LocalPhoenix

from ._data import make_examples
from .conftest import BACKENDS, scaled

SIZES = [scaled(5_000), scaled(20_000)]
REFERENCE_TIMEOUT = 3600  # phoenix-client's default (5 s) cannot upload thousands of examples


@pytest.fixture(scope="module", params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> Backend:
    """The backend of the Phoenix under test (``PU_BENCH_BACKEND``); all the benchmarks run
    on one backend, then all on the other."""
    name: Backend = request.param
    return name


@pytest.fixture(scope="module")
def phoenix(backend: Backend) -> Iterator[LocalPhoenix]:
    with LocalPhoenix(backend=backend) as server:
        yield server


@pytest.fixture(scope="module")
def client(phoenix: LocalPhoenix) -> Iterator[Client]:
    http = httpx.Client(base_url=phoenix.base_url, timeout=REFERENCE_TIMEOUT)
    yield Client(http_client=http)
    http.close()


@pytest.fixture(scope="module")
def manifest_dir(backend: str) -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as d:
        yield Path(d)


STATE: dict[int, dict[str, Any]] = {}


def data(n: int) -> list[dict[str, Any]]:
    if n not in STATE:
        STATE[n] = {"examples": make_examples(n, seed=n)}
    examples: list[dict[str, Any]] = STATE[n]["examples"]
    return examples


def edited(n: int, round_: int) -> list[dict[str, Any]]:
    """The data after edit rounds 1..round_: each round edits a different 1%."""
    out = copy.deepcopy(data(n))
    for r in range(1, round_ + 1):
        for e in out[r::100]:
            e["output"]["answer"] += f" (edit {r})"
    return out


def reference(client: Client, name: str, examples: list[dict[str, Any]]) -> Any:
    return client.datasets.create_dataset(name=name, examples=examples, timeout=REFERENCE_TIMEOUT)


def ours(client: Client, name: str, examples: list[dict[str, Any]], manifest: Path) -> Any:
    return client.datasets.upsert_dataset(
        dataset=name, examples=examples, manifest=manifest, progress=False
    )


def run(benchmark: Any, role: str, fn: Any, rounds: int, setup: Any = None) -> Any:
    benchmark.extra_info["role"] = role
    if setup is None:
        return benchmark.pedantic(fn, rounds=rounds, iterations=1)
    return benchmark.pedantic(fn, setup=setup, rounds=rounds, iterations=1)


@pytest.mark.parametrize("n", SIZES)
def test_initial_upload_phoenix_client(
    benchmark: Any, client: Client, backend: str, n: int
) -> None:
    benchmark.group = f"{backend} sync {n:,}: initial upload"
    examples = data(n)
    run(benchmark, "reference", lambda: reference(client, f"ref-{n}", examples), rounds=1)


@pytest.mark.parametrize("n", SIZES)
def test_initial_upload_phoenix_upsert(
    benchmark: Any, client: Client, backend: str, n: int, manifest_dir: Path
) -> None:
    benchmark.group = f"{backend} sync {n:,}: initial upload"
    examples = data(n)
    ds = run(benchmark, "ours", lambda: ours(client, f"ours-{n}", examples, manifest_dir), rounds=1)
    assert ds.summary.added == n


@pytest.mark.parametrize("n", SIZES)
def test_noop_phoenix_client(benchmark: Any, client: Client, backend: str, n: int) -> None:
    benchmark.group = f"{backend} sync {n:,}: no-op re-sync"
    examples = data(n)
    run(benchmark, "reference", lambda: reference(client, f"ref-{n}", examples), rounds=2)


@pytest.mark.parametrize("n", SIZES)
def test_noop_phoenix_upsert(
    benchmark: Any, client: Client, backend: str, n: int, manifest_dir: Path
) -> None:
    benchmark.group = f"{backend} sync {n:,}: no-op re-sync"
    examples = data(n)
    ds = run(benchmark, "ours", lambda: ours(client, f"ours-{n}", examples, manifest_dir), rounds=5)
    assert ds.plan.action == "none"


def with_splits(n: int) -> list[dict[str, Any]]:
    """The data with split assignments (a fifth of the examples in "test")."""
    return [{**e, "splits": ["test" if i % 5 == 0 else "train"]} for i, e in enumerate(data(n))]


@pytest.mark.parametrize("n", SIZES)
def test_noop_splits_phoenix_client(benchmark: Any, client: Client, backend: str, n: int) -> None:
    benchmark.group = f"{backend} sync {n:,}: no-op re-sync, source with splits"
    examples = with_splits(n)
    reference(client, f"ref-{n}", examples)  # assign the splits, not timed
    run(benchmark, "reference", lambda: reference(client, f"ref-{n}", examples), rounds=2)


@pytest.mark.parametrize("n", SIZES)
def test_noop_splits_phoenix_upsert(
    benchmark: Any, client: Client, backend: str, n: int, manifest_dir: Path
) -> None:
    """Phoenix does not version split assignments, so no manifest can prove them: a source
    with splits reads the dataset's export on every sync (the price of soundness)."""
    benchmark.group = f"{backend} sync {n:,}: no-op re-sync, source with splits"
    examples = with_splits(n)
    ours(client, f"ours-{n}", examples, manifest_dir)  # assign the splits, not timed
    ds = run(benchmark, "ours", lambda: ours(client, f"ours-{n}", examples, manifest_dir), rounds=5)
    assert ds.plan.action == "none"


@pytest.mark.parametrize("n", SIZES)
def test_edit_1pct_phoenix_client(benchmark: Any, client: Client, backend: str, n: int) -> None:
    benchmark.group = f"{backend} sync {n:,}: 1% edited"
    counter = iter(range(1, 100))

    def setup() -> tuple[tuple[Any, ...], dict[str, Any]]:
        return (client, f"ref-{n}", edited(n, next(counter))), {}

    run(benchmark, "reference", reference, rounds=2, setup=setup)


@pytest.mark.parametrize("n", SIZES)
def test_edit_1pct_phoenix_upsert(
    benchmark: Any, client: Client, backend: str, n: int, manifest_dir: Path
) -> None:
    benchmark.group = f"{backend} sync {n:,}: 1% edited"
    counter = iter(range(1, 100))

    def setup() -> tuple[tuple[Any, ...], dict[str, Any]]:
        return (client, f"ours-{n}", edited(n, next(counter)), manifest_dir), {}

    ds = run(benchmark, "ours", ours, rounds=3, setup=setup)
    assert ds.plan.action == "append" and ds.summary.updated == len(data(n)[3::100])


@pytest.mark.parametrize("n", SIZES)
def test_delete_1pct_phoenix_client(benchmark: Any, client: Client, backend: str, n: int) -> None:
    benchmark.group = f"{backend} sync {n:,}: 1% deleted"
    full = data(n)

    def setup() -> tuple[tuple[Any, ...], dict[str, Any]]:
        reference(client, f"ref-{n}", full)  # back to full, not timed
        return (client, f"ref-{n}", [e for i, e in enumerate(full) if i % 100 != 7]), {}

    run(benchmark, "reference", reference, rounds=2, setup=setup)


@pytest.mark.parametrize("n", SIZES)
def test_delete_1pct_phoenix_upsert(
    benchmark: Any, client: Client, backend: str, n: int, manifest_dir: Path
) -> None:
    benchmark.group = f"{backend} sync {n:,}: 1% deleted"
    full = data(n)

    def setup() -> tuple[tuple[Any, ...], dict[str, Any]]:
        ours(client, f"ours-{n}", full, manifest_dir)  # back to full, not timed
        return (
            client,
            f"ours-{n}",
            [e for i, e in enumerate(full) if i % 100 != 7],
            manifest_dir,
        ), {}

    ds = run(benchmark, "ours", ours, rounds=3, setup=setup)
    assert ds.summary.deleted == len(full[7::100])


@pytest.mark.parametrize("n", SIZES)
def test_default_timeout_of_phoenix_client(client: Client, n: int) -> None:
    """Not a timing: does phoenix-client's default 5 s timeout survive this upload? (Last,
    because the server keeps inserting after the client gave up.)"""
    try:
        client.datasets.create_dataset(name=f"timeout-{n}", examples=data(n))
        outcome = "fits the default timeout"
    except httpx.TimeoutException:
        outcome = "times out with the default timeout (5 s)"
    print(f"\nphoenix-client create_dataset, {n:,} examples: {outcome}")
