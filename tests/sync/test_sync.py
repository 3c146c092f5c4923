"""upsert_dataset against a real Phoenix server."""

from __future__ import annotations

import copy
import json
import time
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest
from phoenix.client.experiments import run_experiment

import phoenix_upsert as pu
from phoenix_upsert import Client
from phoenix_upsert.testing import LocalPhoenix

from ..conftest import Recorder, past_this_second, server_rows, stored_hashes, version_count


def make_examples(n: int, *, tag: str = "v1") -> list[dict[str, Any]]:
    return [
        {
            "id": f"q{i}",
            "input": {"question": f"What is {i} + {i}?", "lang": "en"},
            "output": {"answer": str(2 * i), "tag": tag},
            "metadata": {"difficulty": i % 3},
        }
        for i in range(n)
    ]


def assert_server_equals(client: Client, name: str, examples: list[dict[str, Any]]) -> None:
    rows = server_rows(client, name)
    assert set(rows) == {e["id"] for e in examples}
    for e in examples:
        row = rows[e["id"]]
        assert row["input"] == e["input"] and row["output"] == e["output"]
        assert row["metadata"] == e.get("metadata", {})


def test_create_evolve_resync(client: Client, name: str, manifest_dir: Path) -> None:
    v1 = make_examples(30)
    ds1 = client.datasets.upsert_dataset(dataset=name, examples=v1, manifest=manifest_dir)
    assert ds1.summary == pu.SyncSummary(added=30, updated=0, deleted=0, unchanged=0)
    assert ds1.plan.action == "create"
    assert_server_equals(client, name, v1)

    v2 = copy.deepcopy(v1)
    v2[3]["output"]["answer"] = "six"  # edit
    del v2[7]  # delete
    v2.append({"id": "new", "input": {"question": "new?"}, "output": {"answer": "yes"}})
    ds2 = client.datasets.upsert_dataset(dataset=name, examples=v2, manifest=manifest_dir)
    assert ds2.summary == pu.SyncSummary(added=1, updated=1, deleted=1, unchanged=28)
    assert ds2.plan.added == ("new",) and ds2.plan.updated == ("q3",)
    assert ds2.plan.deleted == ("q7",)
    assert ds2.version_id != ds1.version_id
    assert_server_equals(client, name, v2)
    assert version_count(client, name) == 2

    # Only additions and edits: an append with just those.
    v3 = copy.deepcopy(v2)
    v3[0]["input"]["question"] = "changed"
    v3.append({"id": "newer", "input": {}, "output": {}})
    ds3 = client.datasets.upsert_dataset(dataset=name, examples=v3, manifest=manifest_dir)
    assert ds3.plan.action == "append"
    assert ds3.summary == pu.SyncSummary(added=1, updated=1, deleted=0, unchanged=29)
    assert_server_equals(client, name, v3)
    assert version_count(client, name) == 3

    # The versions are what they claim: v1 still holds the first content.
    old = client.datasets.get_dataset(dataset=name, version_id=ds1.version_id)
    assert {e["id"] for e in old.examples} == {e["id"] for e in v1}


def test_noop_makes_no_version_even_in_the_same_second(
    client: Client, name: str, manifest_dir: Path, recorder: Recorder
) -> None:
    examples = make_examples(10)
    client.datasets.upsert_dataset(dataset=name, examples=examples, manifest=manifest_dir)
    # The manifest of the next write is provable (see _manifest.provable) when the version
    # below it is from an earlier second; right after a write in the same second as the one
    # before, the next sync reads the dataset instead (test_exact_sync covers that).
    time.sleep(1.1)
    examples[0]["output"]["answer"] = "x"
    written = client.datasets.upsert_dataset(dataset=name, examples=examples, manifest=manifest_dir)
    # Right after a write, within the same second: Phoenix's no-op update would answer
    # with the wrong version here (versions tie on created_at).
    recorder.clear()
    again = client.datasets.upsert_dataset(dataset=name, examples=examples, manifest=manifest_dir)
    assert again.version_id == written.version_id
    assert again.summary.unchanged == 10 and again.plan.action == "none"
    assert recorder.count("POST") == 0
    assert recorder.count("GET", "/jsonl$") == 0  # the manifest applied
    assert version_count(client, name) == 2
    # Without a manifest: same answer, from the server's export.
    fresh = client.datasets.upsert_dataset(dataset=name, examples=examples, manifest=False)
    assert fresh.version_id == written.version_id and fresh.plan.action == "none"


def test_merge_never_deletes(client: Client, name: str, manifest_dir: Path) -> None:
    client.datasets.upsert_dataset(dataset=name, examples=make_examples(5), manifest=manifest_dir)
    subset = make_examples(5, tag="v2")[:2]
    ds = client.datasets.upsert_dataset(
        dataset=name, examples=subset, mode="merge", manifest=manifest_dir
    )
    assert ds.summary == pu.SyncSummary(added=0, updated=2, deleted=0, unchanged=0)
    rows = server_rows(client, name)
    assert len(rows) == 5 and rows["q0"]["output"]["tag"] == "v2"
    assert rows["q4"]["output"]["tag"] == "v1"
    # The manifest after a merge knows the untouched examples too.
    again = client.datasets.upsert_dataset(
        dataset=name, examples=make_examples(5), manifest=manifest_dir
    )
    assert again.summary.updated == 2 and again.summary.unchanged == 3


def test_dry_run_writes_nothing(client: Client, name: str, recorder: Recorder) -> None:
    plan = client.datasets.upsert_dataset(dataset=name, examples=make_examples(3), dry_run=True)
    assert isinstance(plan, pu.SyncPlan)
    assert plan.action == "create" and plan.summary.added == 3
    assert recorder.count("POST") == 0
    with pytest.raises(ValueError):
        client.datasets.get_dataset(dataset=name)
    client.datasets.upsert_dataset(dataset=name, examples=make_examples(3), manifest=False)
    plan = client.datasets.upsert_dataset(
        dataset=name, examples=make_examples(2), dry_run=True, manifest=False
    )
    assert plan.action == "update" and plan.deleted == ("q2",)
    assert len(server_rows(client, name)) == 3


def test_bad_sources_fail_before_any_request() -> None:
    offline = Client(base_url="http://127.0.0.1:9")  # nothing listens there
    dup = [*make_examples(3), make_examples(1)[0]]
    with pytest.raises(pu.DuplicateSourceIdError) as info:
        offline.datasets.upsert_dataset(dataset="x", examples=dup)
    assert info.value.ids == ["q0"] and "example 0, example 3" in str(info.value)
    missing = make_examples(3)
    del missing[1]["id"]
    with pytest.raises(pu.MissingSourceIdError, match="example 1"):
        offline.datasets.upsert_dataset(dataset="x", examples=missing)
    bad = make_examples(3)
    bad[2]["input"]["score"] = float("nan")
    with pytest.raises(pu.NonFiniteNumberError) as err:
        offline.datasets.upsert_dataset(dataset="x", examples=bad)
    assert str(err.value).startswith("example 2 (id 'q2'), input.score:")
    assert err.value.source_id == "q2"
    # Phoenix hashes ints beyond 64 bits but cannot store them (orjson): caught here.
    huge = make_examples(2)
    huge[1]["output"]["n"] = [1, 10**30]
    with pytest.raises(pu.NumberOutOfRangeError) as big:
        offline.datasets.upsert_dataset(dataset="x", examples=huge)
    assert big.value.path == "output.n[1]" and big.value.index == 1
    empty_id = make_examples(1)
    empty_id[0]["id"] = ""
    with pytest.raises(pu.InvalidSourceIdError):
        offline.datasets.upsert_dataset(dataset="x", examples=empty_id)
    with pytest.raises(ValueError, match="exactly one"):
        offline.datasets.upsert_dataset(examples=[])  # type: ignore[call-overload]


def test_unstorable_ints_in_jsonl_are_caught_before_sending(tmp_path: Path) -> None:
    offline = Client(base_url="http://127.0.0.1:9")
    path = tmp_path / "big.jsonl"
    path.write_text(
        '{"id": "a", "input": {"x": 1.5e18, "y": 18446744073709551615}, "output": {}}\n'
        '{"id": "b", "input": {"x": [1, {"deep": -9223372036854775809}]}, "output": {}}\n'
    )
    with pytest.raises(pu.NumberOutOfRangeError) as info:
        offline.datasets.upsert_dataset(dataset="x", examples=path)
    assert info.value.line == 2 and info.value.path == "input.x[1].deep"
    assert info.value.source_id == "b"


def test_dataframe_source(client: Client, name: str) -> None:
    df = pd.DataFrame(
        {
            "qid": ["a", "b", "c"],
            "question": ["q1", "q2", None],
            "answer": ["x", "y", "z"],
            "score": [0.5, float("nan"), 2.0],
            "split": ["train", "test", None],
        }
    )
    ds = client.datasets.upsert_dataset(
        dataset=name,
        examples=df,
        source_id_key="qid",
        input_keys=["question"],
        output_keys=["answer"],
        metadata_keys=["score"],
        splits_key="split",
        manifest=False,
    )
    assert ds.summary.added == 3
    rows = server_rows(client, name)
    assert rows["c"]["input"] == {} and rows["b"]["metadata"] == {}
    assert rows["a"]["metadata"] == {"score": 0.5}
    assert rows["a"]["splits"] == ["train"] and rows["c"]["splits"] == []
    # The shape of Dataset.to_dataframe(): dict columns, ids in a column.
    nested = pd.DataFrame(
        {
            "qid": ["a", "b", "c"],
            "input": [{"question": "q1"}, {}, {}],
            "output": [{"answer": "x"}, {"answer": "y"}, {"answer": "z"}],
            "metadata": [{"score": 0.5}, {}, {"score": 2.0}],
        }
    )
    ds2 = client.datasets.upsert_dataset(
        dataset=name, examples=nested, source_id_key="qid", splits_key=None, manifest=False
    )
    assert ds2.summary == pu.SyncSummary(added=0, updated=1, deleted=0, unchanged=2)


def test_jsonl_source_keeps_values_exactly(
    client: Client, phoenix: LocalPhoenix, name: str, tmp_path: Path
) -> None:
    path = tmp_path / "data.jsonl"
    rows = [
        {
            "id": "big",
            "input": {"n": 2**64 - 1, "m": -(2**63), "f": 1e18, "g": 1.5e19},
            "output": {},
        },
        {"id": "sep", "input": {"s": "line\u2028sep\u2029par\u0085nel"}, "output": {"o": "ok"}},
        {"id": "order", "input": {"z": 1, "a": 2, "m": 3}, "output": {"x": 5.0}},
        {"id": 42, "input": {"emoji": "😂"}, "output": {}, "metadata": {"k": [None, True]}},
    ]
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")
    ds = client.datasets.upsert_dataset(dataset=name, examples=path, manifest=False)
    assert ds.summary.added == 4
    stored = server_rows(client, name)
    assert stored["big"]["input"]["n"] == 2**64 - 1 and stored["big"]["input"]["m"] == -(2**63)
    assert stored["sep"]["input"]["s"] == "line\u2028sep\u2029par\u0085nel"
    assert stored["order"]["input"] == {"z": 1, "a": 2, "m": 3}
    if phoenix.backend == "sqlite":  # PostgreSQL's JSONB keeps no key order
        assert list(stored["order"]["input"]) == ["z", "a", "m"]  # key order kept
    assert isinstance(stored["order"]["output"]["x"], float)
    assert stored["42"]["metadata"] == {"k": [None, True]}
    again = client.datasets.upsert_dataset(dataset=name, examples=str(path), manifest=False)
    assert again.plan.action == "none"


def test_split_only_change_is_carried(client: Client, name: str, manifest_dir: Path) -> None:
    examples = make_examples(4)
    for e in examples:
        e["splits"] = ["train"]
    first = client.datasets.upsert_dataset(dataset=name, examples=examples, manifest=manifest_dir)
    examples[1]["splits"] = ["test", "hard"]
    ds = client.datasets.upsert_dataset(dataset=name, examples=examples, manifest=manifest_dir)
    assert ds.summary == pu.SyncSummary(added=0, updated=1, deleted=0, unchanged=3)
    assert ds.plan.split_changes == ("q1",)
    assert ds.version_id == first.version_id  # Phoenix does not version split assignments
    assert ds.versions == ()  # and the sync reports none made
    assert server_rows(client, name)["q1"]["splits"] == ["hard", "test"]
    again = client.datasets.upsert_dataset(dataset=name, examples=examples, manifest=manifest_dir)
    assert again.plan.action == "none"
    # A source without splits leaves the server's split assignments alone.
    for e in examples:
        del e["splits"]
    examples[0]["output"]["answer"] = "changed"
    client.datasets.upsert_dataset(dataset=name, examples=examples, manifest=manifest_dir)
    assert server_rows(client, name)["q1"]["splits"] == ["hard", "test"]


def test_a_split_edited_in_the_ui_is_seen_with_a_warm_manifest(
    client: Client, phoenix: LocalPhoenix, name: str, manifest_dir: Path, recorder: Recorder
) -> None:
    """The manifest proves content only: a source with splits reads the splits from the server
    (the export here; past 30,000 examples the members of each split, see test_limits), so a
    membership changed through the splits endpoints (as the UI does, no new version) is seen
    and undone."""
    examples = make_examples(6)
    for i, e in enumerate(examples):
        e["splits"] = ["train" if i % 2 else "test"]
    client.datasets.upsert_dataset(dataset=name, examples=examples, manifest=manifest_dir)
    past_this_second(phoenix.base_url)  # the next sync's manifest is provable
    http = httpx.Client(base_url=phoenix.base_url)
    ds = http.get("/v1/datasets", params={"name": name}).json()["data"][0]
    listed = http.get(f"/v1/datasets/{ds['id']}/splits").json()["data"]
    splits = {s["name"]: s["id"] for s in listed}
    q0 = next(
        x["node_id"]
        for x in http.get(f"/v1/datasets/{ds['id']}/examples").json()["data"]["examples"]
        if x["id"] == "q0"
    )
    moved = http.patch(
        f"/v1/datasets/{ds['id']}/splits/{splits['train']}", json={"add_example_ids": [q0]}
    )
    assert moved.status_code == 200, moved.text
    recorder.clear()
    ds2 = client.datasets.upsert_dataset(dataset=name, examples=examples, manifest=manifest_dir)
    assert ds2.plan.split_changes == ("q0",)
    assert server_rows(client, name)["q0"]["splits"] == ["test"]
    again = client.datasets.upsert_dataset(dataset=name, examples=examples, manifest=manifest_dir)
    assert again.plan.action == "none"
    http.close()


def test_run_experiment_on_each_version(client: Client, name: str, manifest_dir: Path) -> None:
    def task(input: dict[str, Any]) -> str:
        return str(input["question"]).upper()

    v1 = make_examples(4)
    ds1 = client.datasets.upsert_dataset(dataset=name, examples=v1, manifest=manifest_dir)
    exp1 = run_experiment(
        dataset=ds1, task=task, experiment_name=f"{name}-v1", client=client, print_summary=False
    )
    v2 = make_examples(5, tag="v2")
    ds2 = client.datasets.upsert_dataset(dataset=name, examples=v2, manifest=manifest_dir)
    exp2 = run_experiment(
        dataset=ds2, task=task, experiment_name=f"{name}-v2", client=client, print_summary=False
    )
    assert len(exp1["task_runs"]) == 4 and len(exp2["task_runs"]) == 5
    assert exp1["dataset_version_id"] == ds1.version_id
    assert exp2["dataset_version_id"] == ds2.version_id
    # The no-op result works too, examples read on demand.
    ds3 = client.datasets.upsert_dataset(dataset=name, examples=v2, manifest=manifest_dir)
    assert ds3.version_id == ds2.version_id and len(ds3.examples) == 5


def varied_examples() -> list[dict[str, Any]]:
    return [
        {"id": "unicode", "input": {"\uff61": 1, "\U0001f600": "😀", "é": "café"}, "output": {}},
        {
            "id": "numbers",
            "input": {"a": [0.1, 1e19, 1e-7, -0.0, 2**53 + 1, 2**64 - 1]},
            "output": {},
        },
        {"id": "controls", "input": {"s": '\x01\x1f"\\\u2028'}, "output": {"t": "\t\n"}},
        {"id": "nested", "input": {"a": {"b": {"c": [[], {}, [None]]}}}, "output": {"ok": True}},
        {"id": "floats", "input": {}, "output": {"x": 5.0, "y": 333333333.33333329}},
        {"id": "meta", "input": {}, "output": {}, "metadata": {"tags": ["x"], "w": 1.5}},
    ]


def test_stored_hashes_equal_ours(
    client: Client, name: str, phoenix: LocalPhoenix, tmp_path: Path
) -> None:
    examples = varied_examples()
    client.datasets.upsert_dataset(dataset=name, examples=examples, manifest=False)
    ours = dict(zip((e["id"] for e in examples), pu.hash_examples(examples)))
    assert stored_hashes(phoenix, name) == ours
    # And after patches through a JSONL file.
    examples[1]["input"]["a"].append(1.5)
    path = tmp_path / "v2.jsonl"
    path.write_text("".join(json.dumps(e, ensure_ascii=False) + "\n" for e in examples), "utf-8")
    client.datasets.upsert_dataset(dataset=name, examples=path, manifest=False)
    assert stored_hashes(phoenix, name) == dict(zip(ours, pu.hash_jsonl(path)))


def test_content_matching_without_ids(client: Client, name: str) -> None:
    examples = [{"input": {"q": i}, "output": {"a": i}} for i in range(4)]
    ds = client.datasets.upsert_dataset(
        dataset=name, examples=examples, source_id_key=None, manifest=False
    )
    assert ds.summary.added == 4
    examples[0]["output"]["a"] = 99  # without ids an edit is a delete plus an add
    ds = client.datasets.upsert_dataset(
        dataset=name, examples=examples, source_id_key=None, manifest=False
    )
    assert ds.summary == pu.SyncSummary(added=1, updated=0, deleted=1, unchanged=3)
    assert len(server_rows(client, name)) == 4


def test_dataset_by_id(client: Client, name: str) -> None:
    ds = client.datasets.upsert_dataset(dataset=name, examples=make_examples(2), manifest=False)
    again = client.datasets.upsert_dataset(
        dataset_id=ds.id, examples=make_examples(3), manifest=False
    )
    assert again.name == name and again.summary.added == 1
    with pytest.raises(pu.DatasetNotFoundError):
        client.datasets.upsert_dataset(
            dataset_id="RGF0YXNldDo5OTk5OQ==", examples=make_examples(1), manifest=False
        )


def test_names_are_url_safe(client: Client, manifest_dir: Path) -> None:
    for name in ["a/b", "what?", "hash#tag", "with space", "ünïcödé 日本", "100%"]:
        ds = client.datasets.upsert_dataset(
            dataset=name, examples=make_examples(2), manifest=manifest_dir
        )
        assert ds.name == name
        again = client.datasets.upsert_dataset(
            dataset=name, examples=make_examples(2), manifest=manifest_dir
        )
        assert again.id == ds.id and again.plan.action == "none"
