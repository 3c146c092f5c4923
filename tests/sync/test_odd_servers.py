"""Odd and lying servers (the table in ``odd_servers.py``, shared with the TypeScript
tests), and credentials in the endpoint URL: the dataset ends exactly as the source, or the
sync fails with a clear error having written nothing — never "up to date" on a wrong state."""

from __future__ import annotations

import copy
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import phoenix_upsert as pu
from phoenix_upsert import Client
from phoenix_upsert.testing import LocalPhoenix

from ..conftest import server_rows, version_count
from . import faultproxy as fp
from . import odd_servers as odd


def sync(client: Client, rows: list[dict[str, Any]], **kw: Any) -> Any:
    kw.setdefault("manifest", False)
    kw.setdefault("progress", False)
    return client.datasets.upsert_dataset(examples=copy.deepcopy(rows), **kw)


@pytest.fixture(params=[c.name for c in odd.CASES])
def case(request: pytest.FixtureRequest) -> odd.Case:
    return odd.BY_NAME[request.param]


@pytest.fixture
def proxied(case: odd.Case, phoenix: LocalPhoenix) -> Iterator[Client]:
    proxy = odd.start(case, phoenix.port)
    http = httpx.Client(base_url=proxy.base_url, timeout=60)
    yield Client(http_client=http)
    http.close()
    proxy.stop()


def test_odd_server(case: odd.Case, client: Client, proxied: Client, name: str) -> None:
    first = sync(client, odd.SEED, dataset=name)
    dataset_id = first.id
    if case.expect == "exact":
        assert sync(proxied, odd.SEED, dataset_id=dataset_id).plan.action in ("none", "update")
    # Another writer, directly: the first example edited, one example added.
    sync(client, [odd.EDITED_FIRST, *odd.SEED[1:], odd.OTHER], dataset=name)
    versions = version_count(client, name)
    if case.expect == "exact":
        result = sync(proxied, odd.SEED, dataset_id=dataset_id)
        assert result.plan.action != "none", "reported up to date on another writer's content"
        stored = server_rows(client, name)
        assert sorted(stored) == sorted(r["id"] for r in odd.SEED)
        for row in odd.SEED:
            assert stored[row["id"]]["output"] == row["output"]
        # And the next sync, with the dataset as the source, writes nothing more.
        again = sync(proxied, odd.SEED, dataset_id=dataset_id)
        assert version_count(client, name) == versions + 1
        assert again.id == dataset_id
    else:
        with pytest.raises(getattr(pu, case.expect)) as info:
            sync(proxied, odd.SEED, dataset_id=dataset_id)
        assert re.search(case.message, str(info.value)), info.value
        assert version_count(client, name) == versions, "wrote despite the error"


def test_a_dry_run_on_a_cut_export_never_says_up_to_date(
    phoenix: LocalPhoenix, client: Client, name: str
) -> None:
    """A source that deleted exactly the example a proxy left out of the export: the plan
    must not be "none" (the server still holds that example)."""
    sync(client, [*odd.SEED, odd.OTHER], dataset=name)
    proxy = odd.start(odd.BY_NAME["export-cut-short"], phoenix.port)
    try:
        with httpx.Client(base_url=proxy.base_url, timeout=60) as http:
            proxied = Client(http_client=http)
            plan = sync(proxied, odd.SEED, dataset=name, dry_run=True)
            assert plan.action == "update"
            result = sync(proxied, odd.SEED, dataset=name)
            assert result.plan.action == "update"
    finally:
        proxy.stop()
    assert sorted(server_rows(client, name)) == sorted(r["id"] for r in odd.SEED)


def test_versions_in_any_order_are_read_newest_first(
    phoenix: LocalPhoenix, client: Client, name: str
) -> None:
    for tag in ("a", "b", "c"):
        sync(client, [{**r, "output": {"t": tag}} for r in odd.SEED], dataset=name)
    proxy = fp.FaultProxy(phoenix.port)
    proxy.add("GET", r"/versions$", fp.rewrite(odd._json_data(lambda d: d[::-1])), times=100)
    try:
        with httpx.Client(base_url=proxy.base_url, timeout=60) as http:
            dataset = Client(http_client=http).datasets
            newest = client.datasets.get_dataset_versions(dataset=name)[0]["version_id"]
            result = dataset.upsert_dataset(
                dataset=name,
                examples=[{**r, "output": {"t": "c"}} for r in odd.SEED],
                manifest=False,
                progress=False,
            )
            assert result.plan.action == "none" and result.version_id == newest
    finally:
        proxy.stop()


def test_credentials_in_the_endpoint_url_appear_nowhere(
    phoenix: LocalPhoenix, tmp_path: Path, name: str
) -> None:
    """``http://user:password@host``: the password is in no error, log line, CLI output or
    manifest (the URL's credentials still reach the server as basic auth)."""
    secret = "s3cr3t-pw"
    url = phoenix.base_url.replace("http://", f"http://someone:{secret}@")
    with httpx.Client(base_url=url, timeout=60) as http:
        client = Client(http_client=http)
        manifests = tmp_path / "m"
        sync(client, odd.SEED, dataset=name, manifest=manifests)
        with pytest.raises(pu.DatasetNotFoundError) as info:
            sync(client, odd.SEED, dataset_id=odd.FOREIGN_ID)
        assert secret not in str(info.value)
    for path in manifests.rglob("*"):
        if path.is_file():
            import gzip

            raw = path.read_bytes()
            text = gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw
            assert secret.encode() not in text, path
    data = tmp_path / "data.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in odd.SEED))
    closed = url.rsplit(":", 1)[0] + ":9"  # nothing listens on the discard port here
    for args in (
        ["sync", str(data), "--dataset", name, "--endpoint", url, "-v"],
        ["sync", str(data), "--dataset", name, "--endpoint", closed, "--retries", "1"],
        ["sync", str(data), "--dataset", name, "--endpoint", "http://u:" + secret + "@[bad"],
    ):
        run = subprocess.run(
            [sys.executable, "-m", "phoenix_upsert", *args],
            capture_output=True,
            text=True,
            timeout=120,
            env={"PATH": "", "PHOENIX_UPSERT_CACHE_DIR": str(tmp_path / "cache")},
        )
        assert secret not in run.stdout + run.stderr, (args, run.stdout, run.stderr)


def test_a_repeated_example_without_id_is_named_not_blamed_on_another_writer(
    client: Client, name: str
) -> None:
    """Phoenix matches examples without ids by content: an append cannot add a second copy
    of an example the dataset holds. A merge says so at once, writing nothing; a mirror writes
    the copy with its one full-snapshot update."""
    a = {"input": {"q": 1}, "output": {"a": 1}}
    b = {"input": {"q": 2}, "output": {"a": 2}}
    sync(client, [a], dataset=name, source_id_key=None, mode="merge")
    versions = version_count(client, name)
    with pytest.raises(pu.DuplicateContentError) as info:
        sync(client, [a, a, b], dataset=name, source_id_key=None, mode="merge")
    assert info.value.index == 1 and "example 1" in str(info.value)
    assert version_count(client, name) == versions
    result = sync(client, [a, a, b], dataset=name, source_id_key=None)
    assert result.plan.action == "update" and result.attempts == 1
    assert len(server_rows(client, name)) == 3
    again = sync(client, [a, a, b], dataset=name, source_id_key=None)
    assert again.plan.action == "none"
