"""Version diffs: what changed between two versions of a dataset, against a real Phoenix."""

from __future__ import annotations

import copy
from typing import Any

import pytest

import phoenix_upsert as pu
from phoenix_upsert import Client
from phoenix_upsert._engine.versions import FieldChange, field_changes


def rows(n: int) -> list[dict[str, Any]]:
    return [
        {"id": f"e{i}", "input": {"q": i, "turns": [1, 2]}, "output": {"a": str(i)}}
        for i in range(n)
    ]


def test_diff_of_the_two_latest_versions_and_of_chosen_ones(client: Client, name: str) -> None:
    v1 = rows(5)
    first = client.datasets.upsert_dataset(dataset=name, examples=v1, manifest=False)
    v2 = copy.deepcopy(v1)
    v2[1]["output"]["a"] = "changed"
    v2[1]["input"]["turns"][1] = 3
    v2[2]["metadata"] = {"new": True}
    del v2[3]
    v2.append({"id": "x", "input": {}, "output": {}})
    second = client.datasets.upsert_dataset(dataset=name, examples=v2, manifest=False)

    d = client.datasets.diff_versions(dataset=name)
    assert isinstance(d, pu.VersionDiff)
    assert (d.from_version_id, d.to_version_id) == (first.version_id, second.version_id)
    assert [e.id for e in d.added] == ["x"] and [e.id for e in d.deleted] == ["e3"]
    assert {e.id: e.changes for e in d.updated} == {
        "e1": (
            FieldChange("input.turns[1]", "changed", 2, 3),
            FieldChange("output.a", "changed", "1", "changed"),
        ),
        "e2": (FieldChange("metadata.new", "added", after=True),),
    }
    assert d.unchanged == 2
    assert d.as_dict()["summary"] == {"added": 1, "updated": 2, "deleted": 1, "unchanged": 2}

    # The first version against nothing: everything added.
    initial = client.datasets.diff_versions(dataset_id=first.id, to_version=first.version_id)
    assert initial.from_version_id == "" and len(initial.added) == 5
    # Backwards: the reverse changes.
    back = client.datasets.diff_versions(
        dataset=name, from_version=second.version_id, to_version=first.version_id
    )
    assert [e.id for e in back.added] == ["e3"] and [e.id for e in back.deleted] == ["x"]
    with pytest.raises(ValueError, match="not a version"):
        client.datasets.diff_versions(dataset=name, to_version="RGF0YXNldFZlcnNpb246OTk5OQ==")


def test_field_changes() -> None:
    changes = list(field_changes({"a": [1, 2], "b": {"c": 1}}, {"a": [1], "b": {"c": 1.0}}))
    assert changes == [
        FieldChange("a", "changed", [1, 2], [1]),
        FieldChange("b.c", "changed", 1, 1.0),
    ]
    assert list(field_changes({"odd key": 1}, {})) == [
        FieldChange('["odd key"]', "removed", before=1)
    ]


def test_diff_command(client: Client, phoenix: Any, name: str) -> None:
    import json
    import subprocess
    import sys

    v1 = rows(3)
    client.datasets.upsert_dataset(dataset=name, examples=v1, manifest=False)
    v2 = copy.deepcopy(v1)
    v2[0]["output"]["a"] = "new"
    client.datasets.upsert_dataset(dataset=name, examples=v2, manifest=False)
    base = [sys.executable, "-m", "phoenix_upsert", "diff", "--dataset", name]
    base += ["--endpoint", phoenix.base_url]
    out = subprocess.run([*base, "--json"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    d = json.loads(out.stdout)
    assert d["summary"] == {"added": 0, "updated": 1, "deleted": 0, "unchanged": 2}
    assert d["updated"][0]["changes"] == [
        {"path": "output.a", "kind": "changed", "before": "0", "after": "new"}
    ]
    text = subprocess.run(base, capture_output=True, text=True, timeout=120)
    assert text.returncode == 0 and '~ e0\n    output.a: "0" -> "new"' in text.stdout
    missing = subprocess.run(
        [*base[:4], "--dataset", f"{name}-none", *base[6:]], capture_output=True, text=True
    )
    assert missing.returncode == 2 and "no dataset named" in missing.stderr
