"""The promise, attacked: after a sync the dataset holds exactly the source, or the user got
a clear error. Each test is a way a real Phoenix server (SQLite and PostgreSQL) was seen to
break it — another writer between our read and our write, the UI editing splits, a dataset
deleted and created again, a file rewritten mid-sync, a server that is not Phoenix."""

from __future__ import annotations

import copy
import json
import logging
import pickle
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import phoenix_upsert as pu
from phoenix_upsert import Client
from phoenix_upsert._engine.driver import Driver
from phoenix_upsert.testing import LocalPhoenix

from ..conftest import Recorder, past_this_second, server_rows, version_count


def rows(n: int, tag: str = "v1", splits: bool = True) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for i in range(n):
        ex: dict[str, Any] = {"id": f"e{i}", "input": {"i": i}, "output": {"tag": tag}}
        if splits:
            ex["splits"] = ["train"] if i % 2 else ["test"]
        out.append(ex)
    return out


def holds_exactly(client: Client, name: str, source: list[dict[str, Any]]) -> bool:
    """Whether the dataset's latest version (and its current split assignments) equals the
    source: ids, content and, where the source has them, splits."""
    stored = server_rows(client, name)
    if set(stored) != {e["id"] for e in source}:
        return False
    for e in source:
        row = stored[e["id"]]
        if row["input"] != e["input"] or row["output"] != e["output"]:
            return False
        if row["metadata"] != e.get("metadata", {}):
            return False
        if "splits" in e and sorted(row["splits"]) != sorted(set(e["splits"])):
            return False
    return True


@pytest.fixture
def before_write(monkeypatch: pytest.MonkeyPatch) -> Callable[[Callable[[], None]], None]:
    """Run an action once, right before this process's next upload: another writer between
    our read and our write. (The timing is ours; the write it makes is real.)"""

    def install(action: Callable[[], None]) -> None:
        original = Driver.upload
        done = False

        def write(self: Driver, *args: Any, **kwargs: Any) -> Any:
            nonlocal done
            if not done:
                done = True
                action()
            return original(self, *args, **kwargs)

        monkeypatch.setattr(Driver, "upload", write)

    return install


def other_client(phoenix: LocalPhoenix) -> Client:
    return Client(base_url=phoenix.base_url)


# -- 1. every write is proven, split-only ones included ------------------------------------


def test_split_only_write_with_another_writer_in_between(
    client: Client,
    phoenix: LocalPhoenix,
    name: str,
    manifest_dir: Path,
    before_write: Callable[[Callable[[], None]], None],
) -> None:
    source = rows(6)
    client.datasets.upsert_dataset(dataset=name, examples=source, manifest=manifest_dir)
    other = [{**e, "output": {"tag": "other"}} for e in rows(4, splits=False)]
    before_write(
        lambda: other_client(phoenix).datasets.upsert_dataset(
            dataset=name, examples=other, manifest=False
        )
    )
    moved = copy.deepcopy(source)
    moved[0]["splits"] = ["hard"]  # a split-only change
    ds = client.datasets.upsert_dataset(dataset=name, examples=moved, manifest=manifest_dir)
    assert holds_exactly(client, name, moved), "a mix of both sources"
    assert ds.concurrent_writer and ds.attempts >= 2
    assert ds.plan.action != "none"


# -- 2. split assignments are not versioned -------------------------------------------------


def _split_id(client: Client, dataset_id: str, split: str) -> str:
    r = client._client.get(f"v1/datasets/{dataset_id}/splits", params={"limit": 100})
    r.raise_for_status()
    (found,) = [s["id"] for s in r.json()["data"] if s["name"] == split]
    return str(found)


def test_split_edited_in_the_ui_is_seen_by_resync_and_dry_run(
    client: Client, name: str, manifest_dir: Path, recorder: Recorder
) -> None:
    source = rows(6)
    ds = client.datasets.upsert_dataset(dataset=name, examples=source, manifest=manifest_dir)
    past_this_second(str(client._client.base_url))  # a manifest would be written now
    client.datasets.upsert_dataset(dataset=name, examples=source, manifest=manifest_dir)
    node_id = next(e["id"] for e in ds.examples if e["id"] == "e1")  # external id
    # What the UI does: move an example between splits, no new version.
    r = client._client.patch(
        f"v1/datasets/{ds.id}/splits/{_split_id(client, ds.id, 'train')}",
        json={"remove_example_ids": [node_id]},
    )
    r.raise_for_status()
    assert not holds_exactly(client, name, source)
    plan = client.datasets.upsert_dataset(
        dataset=name, examples=source, manifest=manifest_dir, dry_run=True
    )
    assert plan.split_changes == ("e1",)
    recorder.clear()
    fixed = client.datasets.upsert_dataset(dataset=name, examples=source, manifest=manifest_dir)
    assert fixed.plan.split_changes == ("e1",) and fixed.summary.updated == 1
    assert holds_exactly(client, name, source)
    assert fixed.version_id == ds.version_id  # Phoenix does not version splits


def test_split_only_sync_from_another_machine_is_seen(
    client: Client, phoenix: LocalPhoenix, name: str, tmp_path: Path
) -> None:
    source = rows(6)
    here, there = tmp_path / "here", tmp_path / "there"
    client.datasets.upsert_dataset(dataset=name, examples=source, manifest=here)
    past_this_second(str(client._client.base_url))
    client.datasets.upsert_dataset(dataset=name, examples=source, manifest=here)
    theirs = copy.deepcopy(source)
    for e in theirs:
        e["splits"] = ["all"]
    other_client(phoenix).datasets.upsert_dataset(dataset=name, examples=theirs, manifest=there)
    again = client.datasets.upsert_dataset(dataset=name, examples=source, manifest=here)
    assert again.summary.updated == 6
    assert holds_exactly(client, name, source)


# -- 3. content-only syncs keep the manifest right -----------------------------------------


def test_content_only_sync_keeps_external_ids_in_the_manifest(
    client: Client, name: str, manifest_dir: Path, recorder: Recorder
) -> None:
    source = rows(5, splits=False)
    client.datasets.upsert_dataset(dataset=name, examples=source, manifest=manifest_dir)
    time.sleep(1.1)  # the next write's manifest is provable by the version below it
    more = [*source, {"id": "e9", "input": {"i": 9}, "output": {}}]
    by_content = client.datasets.upsert_dataset(
        dataset=name, examples=more, source_id_key=None, manifest=manifest_dir
    )
    assert by_content.summary == pu.SyncSummary(added=1, updated=0, deleted=0, unchanged=5)
    assert not by_content.concurrent_writer
    # The same source by id: the server holds e0..e4 with their external ids; e9 was
    # created without one. Nothing to do but give e9 its id — an update by Phoenix's rules.
    recorder.clear()
    plan = client.datasets.upsert_dataset(
        dataset=name, examples=source, manifest=manifest_dir, dry_run=True, mode="merge"
    )
    assert plan.action == "none", plan
    assert recorder.count("GET", "/jsonl$") == 0  # the manifest applied, and was right
    fresh = client.datasets.upsert_dataset(
        dataset=name, examples=source, manifest=False, dry_run=True, mode="merge"
    )
    assert fresh.action == "none"


def test_node_ids_as_source_ids_round_trip(
    client: Client, name: str, manifest_dir: Path, recorder: Recorder
) -> None:
    """Dataset.to_dataframe() indexes examples by their id (the node id where there is no
    external id): syncing it back is a no-op, and an edit is an update in place."""
    content = [{"input": {"q": i}, "output": {"a": i}} for i in range(4)]
    client.datasets.upsert_dataset(
        dataset=name, examples=content, source_id_key=None, manifest=manifest_dir
    )
    df = client.datasets.get_dataset(dataset=name).to_dataframe()
    assert df.index.name == "example_id"
    same = client.datasets.upsert_dataset(dataset=name, examples=df, manifest=manifest_dir)
    assert same.plan.action == "none"
    time.sleep(1.1)
    df.iloc[0]["output"]["a"] = "edited"
    edited = client.datasets.upsert_dataset(dataset=name, examples=df, manifest=manifest_dir)
    assert edited.summary == pu.SyncSummary(added=0, updated=1, deleted=0, unchanged=3)
    assert not edited.concurrent_writer
    recorder.clear()
    again = client.datasets.upsert_dataset(dataset=name, examples=df, manifest=manifest_dir)
    assert again.plan.action == "none" and recorder.count("POST") == 0
    assert recorder.count("GET", "/jsonl$") == 0


def test_a_write_that_landed_is_reported_even_when_its_proof_failed(
    client: Client,
    phoenix: LocalPhoenix,
    name: str,
    before_write: Callable[[Callable[[], None]], None],
) -> None:
    source = rows(4, splits=False)
    client.datasets.upsert_dataset(dataset=name, examples=source, manifest=False)
    evolved = [*source, {"id": "new", "input": {}, "output": {}}]
    # Another writer syncs the very same source first: our append then finds nothing new
    # on the server, the proof fails, and the re-read shows the source in place.
    before_write(
        lambda: other_client(phoenix).datasets.upsert_dataset(
            dataset=name, examples=evolved, manifest=False
        )
    )
    ds = client.datasets.upsert_dataset(dataset=name, examples=evolved, manifest=False)
    assert ds.plan.action == "append" and ds.summary.added == 1  # what this sync wrote
    assert ds.concurrent_writer
    assert holds_exactly(client, name, evolved)


# -- 4. a dataset deleted and created again -------------------------------------------------


def _delete(client: Client, dataset_id: str) -> None:
    client._client.delete(f"v1/datasets/{dataset_id}").raise_for_status()


@pytest.mark.parametrize("history", ["one version", "two versions"])
def test_dataset_deleted_and_recreated_within_a_second(
    client: Client, phoenix: LocalPhoenix, name: str, manifest_dir: Path, history: str
) -> None:
    source = rows(5, splits=False)
    ds = client.datasets.upsert_dataset(dataset=name, examples=source, manifest=manifest_dir)
    if history == "two versions":
        time.sleep(1.1)
        source = [*source, {"id": "x", "input": {}, "output": {}}]
        ds = client.datasets.upsert_dataset(dataset=name, examples=source, manifest=manifest_dir)
        assert list(manifest_dir.glob("*.json.gz")), "this manifest is provable"
    other = other_client(phoenix)
    # Deleted and created again at once, same name and size, other content: SQLite reuses
    # the row ids, and creation times have one-second resolution there.
    _delete(client, ds.id)
    impostor = [{**e, "output": {"tag": "impostor"}} for e in source]
    if history == "two versions":
        other.datasets.upsert_dataset(dataset=name, examples=impostor[:-1], manifest=False)
    other.datasets.upsert_dataset(dataset=name, examples=impostor, manifest=False)
    again = client.datasets.upsert_dataset(dataset=name, examples=source, manifest=manifest_dir)
    assert again.plan.action != "none"
    assert holds_exactly(client, name, source)


# -- 5. the file changes between scan and upload ---------------------------------------------


def _write_jsonl(path: Path, data: list[dict[str, Any]]) -> None:
    path.write_text("".join(json.dumps(e) + "\n" for e in data), "utf-8")


@pytest.mark.parametrize("change", ["same length", "truncated", "appended"])
def test_file_rewritten_between_scan_and_upload(
    client: Client,
    name: str,
    tmp_path: Path,
    before_write: Callable[[Callable[[], None]], None],
    change: str,
) -> None:
    path = tmp_path / "data.jsonl"
    first = rows(3000, splits=False)
    _write_jsonl(path, first)
    client.datasets.upsert_dataset(dataset=name, examples=path, manifest=False)
    versions = version_count(client, name)
    second = copy.deepcopy(first)
    second[2000]["output"]["tag"] = "v2"  # the plan: update e2000
    _write_jsonl(path, second)

    def rewrite() -> None:
        text = path.read_text("utf-8")
        if change == "same length":
            path.write_text(text.replace('"tag": "v2"', '"tag": "v3"'), "utf-8")
        elif change == "truncated":
            path.write_text(text[: len(text) // 3], "utf-8")
        else:
            path.write_text(text.replace('"v2"', '"v2", "more": "never hashed"'), "utf-8")

    before_write(rewrite)
    with pytest.raises(pu.SourceChangedError, match="changed while syncing") as info:
        client.datasets.upsert_dataset(dataset=name, examples=path, manifest=False)
    assert info.value.line == 2001
    assert holds_exactly(client, name, first), "nothing of the upload was applied"
    assert version_count(client, name) == versions


# -- 6. PostgreSQL's differences, on both backends -------------------------------------------


def test_two_creators_of_one_new_dataset(
    phoenix: LocalPhoenix, name: str, caplog: pytest.LogCaptureFixture
) -> None:
    source = rows(300, splits=False)
    barrier = threading.Barrier(2)
    results: list[Any] = []

    def create() -> None:
        c = other_client(phoenix)
        barrier.wait()
        try:
            results.append(c.datasets.upsert_dataset(dataset=name, examples=source, manifest=False))
        except Exception as e:  # reported below
            results.append(e)

    with caplog.at_level(logging.WARNING, logger="phoenix_upsert"):
        threads = [threading.Thread(target=create) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert all(isinstance(r, pu.UpsertedDataset) for r in results), results
    assert len({r.id for r in results}) == 1
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING], caplog.text
    assert holds_exactly(other_client(phoenix), name, source)


# -- 7. datasets without examples -----------------------------------------------------------


def test_empty_dataset_created_then_filled(client: Client, name: str) -> None:
    empty = client.datasets.upsert_dataset(
        dataset=name, examples=[], allow_empty=True, manifest=False
    )
    assert empty.plan.action == "create" and empty.name == name
    filled = client.datasets.upsert_dataset(
        dataset_id=empty.id, examples=rows(3, splits=False), manifest=False
    )
    assert filled.summary.added == 3
    assert holds_exactly(client, name, rows(3, splits=False))


def test_sync_into_a_dataset_created_empty_in_the_ui(client: Client, name: str) -> None:
    r = client._client.post(
        "graphql",
        json={
            "query": "mutation($name: String!) { createDataset(input: {name: $name}) "
            "{ dataset { id } } }",
            "variables": {"name": name},
        },
    )
    r.raise_for_status()
    dataset_id = r.json()["data"]["createDataset"]["dataset"]["id"]
    plan = client.datasets.upsert_dataset(
        dataset_id=dataset_id, examples=rows(2), manifest=False, dry_run=True
    )
    assert plan.action == "append" and plan.summary.added == 2
    ds = client.datasets.upsert_dataset(dataset_id=dataset_id, examples=rows(2), manifest=False)
    assert ds.id == dataset_id and ds.summary.added == 2
    assert holds_exactly(client, name, rows(2))


# -- 9. a server that is not Phoenix's REST API ---------------------------------------------


def test_endpoint_that_answers_a_web_page(phoenix: LocalPhoenix) -> None:
    wrong = Client(base_url=f"{phoenix.base_url}/v1")
    with pytest.raises(pu.ServerError, match="not a Phoenix REST API") as info:
        wrong.datasets.upsert_dataset(dataset="x", examples=rows(1), manifest=False)
    assert "without /v1" in str(info.value)


# -- 10. run_experiment's own objects --------------------------------------------------------


def test_dataframe_round_trip_and_pickle(client: Client, name: str) -> None:
    source = rows(4, splits=False)
    first = client.datasets.upsert_dataset(dataset=name, examples=source, manifest=False)
    df = client.datasets.get_dataset(dataset=name).to_dataframe()
    again = client.datasets.upsert_dataset(dataset=name, examples=df, manifest=False)
    assert again.plan.action == "none" and again.version_id == first.version_id
    df.loc["e1", "output"]["tag"] = "edited"  # the dict in the cell, in place
    edited = client.datasets.upsert_dataset(dataset=name, examples=df, manifest=False)
    assert edited.plan.updated == ("e1",)
    copied = pickle.loads(pickle.dumps(edited))
    assert isinstance(copied, pu.UpsertedDataset)
    assert copied.version_id == edited.version_id and copied.summary == edited.summary
    assert [e["id"] for e in copied.examples] == [e["id"] for e in edited.examples]


@pytest.fixture
def silent_server() -> Iterator[str]:
    """A socket that accepts connections and never answers."""
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(8)
    yield f"http://127.0.0.1:{s.getsockname()[1]}"
    s.close()


def test_http_client_errors_are_typed(silent_server: str) -> None:
    c = Client(http_client=httpx.Client(base_url=silent_server, timeout=0.5))
    with pytest.raises(pu.ServerError):
        c.datasets.upsert_dataset(dataset="x", examples=rows(1), manifest=False, retries=1)
