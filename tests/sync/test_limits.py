"""Datasets past the server's per-request limits, on both backends (issue 17).

On PostgreSQL one query takes at most 32,767 arguments, and Phoenix 20.26.1 puts one per
example in an ``IN`` list when an upload creates examples with ids (``_get_existing_example_ids``)
and when it exports a version as JSONL (``_get_split_names_by_example_id``): an upload creating
32,768 examples, and the export of a dataset of that size, answer HTTP 500. The engine writes
at most 30,000 new examples per request (a larger sync is written in parts, each proven, one
version each) and reads a dataset of more than 30,000 examples as JSON
(``GET .../examples``), its split memberships split by split. Each step here is checked
against Phoenix's database itself.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import phoenix_upsert as pu
from phoenix_upsert import Client
from phoenix_upsert.testing import LocalPhoenix

from ..conftest import Recorder
from ..database import split_members, stored_hashes

#: Just past PostgreSQL's 32,767 query arguments.
N = 32_800

pytestmark = pytest.mark.timeout(1800)


def rows(n: int) -> list[dict[str, Any]]:
    return [
        {
            "id": f"r{i}",
            "input": {"question": f"q{i}", "n": i},
            "output": {"answer": i % 7},
            "splits": ["train" if i % 3 else "test"],
        }
        for i in range(n)
    ]


def holds(phoenix: LocalPhoenix, name: str, source: list[dict[str, Any]]) -> None:
    """The dataset holds exactly ``source``: content hashes and split names."""
    expected = dict(zip((r["id"] for r in source), pu.hash_examples(source)))
    assert stored_hashes(phoenix, name) == expected
    got = split_members(phoenix, name)
    want = {r["id"]: sorted(r["splits"]) for r in source if r["splits"]}
    assert {k: v for k, v in got.items() if k in expected} == want


def check(phoenix: LocalPhoenix, name: str, path: Path) -> tuple[int, str, list[str]]:
    """``phoenix-upsert sync FILE --check --json --no-manifest`` in a process of its own: its
    exit code, status and the ids it would update."""
    args = ["sync", str(path), "--dataset", name, "--endpoint", phoenix.base_url]
    done = subprocess.run(
        [sys.executable, "-m", "phoenix_upsert", *args, "--check", "--json", "--no-manifest"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode in (0, 1), done.stderr
    out = json.loads(done.stdout)
    return done.returncode, out["status"], out["plan"]["updated"]


def test_a_dataset_past_the_servers_query_limit(
    client: Client, phoenix: LocalPhoenix, name: str, tmp_path: Path, recorder: Recorder
) -> None:
    source = rows(N)
    ds = client.datasets.upsert_dataset(dataset=name, examples=source, manifest=False)
    assert ds.summary.added == N
    assert len(ds.versions) == 2, ds.versions  # 30,000, then 2,800
    assert ds.version_id == ds.versions[-1]
    holds(phoenix, name, source)

    # A cold no-op (no manifest): read as JSON, the splits split by split.
    plan = client.datasets.upsert_dataset(
        dataset=name, examples=source, manifest=False, dry_run=True
    )
    assert plan.action == "none", plan.summary

    # With a current manifest, the content is the manifest's: only the members of each split
    # are read (Phoenix does not version them), not the examples.
    manifest = tmp_path / "manifests"
    client.datasets.upsert_dataset(dataset=name, examples=source, manifest=manifest)
    recorder.clear()
    warm = client.datasets.upsert_dataset(dataset=name, examples=source, manifest=manifest)
    assert warm.plan.action == "none"
    assert recorder.count("GET", "/examples$") == 2, recorder.requests  # train, test
    assert recorder.count("GET", "/jsonl$") == 0

    # 1% edited, 1% deleted, 1% added, 1% moved to another split; cold again.
    edited = [dict(r) for r in source[: N - 328]]
    for r in edited[:328]:
        r["output"] = {"answer": -1}
    for r in edited[1000:1328]:
        r["splits"] = ["hard"]
    edited += [
        {"id": f"n{i}", "input": {"question": f"new {i}"}, "output": {}, "splits": ["train"]}
        for i in range(328)
    ]
    ds = client.datasets.upsert_dataset(dataset=name, examples=edited, manifest=False)
    s = ds.summary
    assert (s.added, s.updated, s.deleted) == (328, 656, 328), s
    assert len(ds.versions) == 1
    holds(phoenix, name, edited)

    # And it stays put: a check finds nothing to do.
    plan = client.datasets.upsert_dataset(
        dataset=name, examples=edited, manifest=False, dry_run=True
    )
    assert plan.action == "none", plan.summary

    # The command a CI job runs, in a process of its own, past the limit and cold: `--check`
    # exits 0 on the dataset as it is, 1 (naming the example) on a source one edit away.
    path = tmp_path / "edited.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in edited), encoding="utf-8")
    assert check(phoenix, name, path) == (0, "in_sync", [])
    changed = [dict(r) for r in edited]
    changed[5] = {**changed[5], "output": {"answer": "changed"}}
    path.write_text("".join(json.dumps(r) + "\n" for r in changed), encoding="utf-8")
    assert check(phoenix, name, path) == (1, "out_of_sync", [changed[5]["id"]])
    assert stored_hashes(phoenix, name) == dict(
        zip((r["id"] for r in edited), pu.hash_examples(edited))
    )  # --check wrote nothing

    # Most of it deleted, by a source without splits (the server's stay as they are): on
    # PostgreSQL one update deleting more than 32,767 examples answers 500 (Phoenix drops
    # their split memberships with one list of their ids), so the deletions go in parts,
    # each carrying the examples deleted later as the server holds them.
    kept = [{k: v for k, v in r.items() if k != "splits"} for r in edited[:400]]
    before = split_members(phoenix, name)
    ds = client.datasets.upsert_dataset(dataset=name, examples=kept, manifest=False)
    assert ds.summary.deleted == len(edited) - 400, ds.summary
    assert len(ds.versions) == 2, ds.versions  # 30,000 deleted, then the rest
    expected = dict(zip((r["id"] for r in kept), pu.hash_examples(kept)))
    assert stored_hashes(phoenix, name) == expected
    assert split_members(phoenix, name) == {k: v for k, v in before.items() if k in expected}
    plan = client.datasets.upsert_dataset(dataset=name, examples=kept, dry_run=True)
    assert plan.action == "none", plan.summary
