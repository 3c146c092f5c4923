"""phoenix-client and phoenix-upsert agree on the same data, both ways, on SQLite and
PostgreSQL: a dataset phoenix-client's ``create_dataset`` made from a list, a CSV file or a
DataFrame is already in sync for ``upsert_dataset`` of the same data (no request that writes,
no new version), and a dataset ``upsert_dataset`` made is already what ``create_dataset`` of
the same data makes (the same stored hashes, no new version)."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import pytest

from phoenix_upsert import Client
from phoenix_upsert.testing import LocalPhoenix

from ..conftest import Recorder, stored_hashes, version_count

pd = pytest.importorskip("pandas")

ROWS: list[dict[str, Any]] = [
    {
        "id": f"q{i}",
        "input": {"question": f"What is {i} + {i}?", "lang": "en", "é": "ü ✓"},
        "output": {"answer": str(2 * i)},
        "metadata": {"difficulty": i % 3, "tags": ["a", {"b": None}], "score": 0.5 + i},
        "splits": ["train" if i % 3 else "test"],
    }
    for i in range(12)
]
ROWS[4].pop("metadata")  # phoenix-client sends {} for an example without metadata

COLUMNS = ["id", "question", "context", "answer", "topic", "split"]
TABLE = [
    [f"c{i}", f'question {i}, "quoted"', "" if i % 4 else "  ", str(i * 7), f"t{i % 2}", ""]
    for i in range(10)
]
TABLE[3][5] = "train"
TABLE[5][5] = '["train", "hard"]'
CSV_KEYS: dict[str, Any] = {
    "input_keys": ["question", "context"],
    "output_keys": ["answer"],
    "metadata_keys": ["topic"],
}


def write_csv(path: Path) -> Path:
    out = io.StringIO()
    csv.writer(out).writerows([COLUMNS, *TABLE])
    path.write_text(out.getvalue(), encoding="utf-8")
    return path


DF_KEYS: dict[str, Any] = {
    "input_keys": ["question"],
    "output_keys": ["answer"],
    "metadata_keys": ["topic"],
}


def frame() -> Any:
    """A DataFrame of non-blank strings. phoenix-client uploads any DataFrame as CSV text,
    which Phoenix reads back as strings, leaving blank cells out; phoenix-upsert keeps a
    DataFrame's values as they are (numbers stay numbers, an empty string stays one), so the
    two agree on frames like this one (see docs/guides/official-client-forms.md)."""
    return pd.DataFrame(TABLE, columns=COLUMNS).drop(columns=["context", "split"])


def assert_no_op(client: Client, recorder: Recorder, name: str, **kw: Any) -> None:
    """``upsert_dataset`` finds the dataset in sync: nothing written, the same version."""
    before = version_count(client, name)
    recorder.clear()
    ds = client.datasets.upsert_dataset(dataset=name, manifest=False, **kw)
    assert ds.plan.action == "none", ds.plan
    assert not ds.plan.has_changes
    assert recorder.count("POST") == 0
    assert version_count(client, name) == before


def assert_create_dataset_changes_nothing(
    client: Client, phoenix: LocalPhoenix, name: str, **kw: Any
) -> None:
    """``create_dataset`` (a declarative update of an existing dataset) of the same data
    stores the same hashes and makes no new version."""
    hashes, versions = stored_hashes(phoenix, name), version_count(client, name)
    client.datasets.create_dataset(name=name, **kw)
    assert stored_hashes(phoenix, name) == hashes
    assert version_count(client, name) == versions


def test_a_list_both_ways(
    client: Client, phoenix: LocalPhoenix, recorder: Recorder, name: str
) -> None:
    client.datasets.create_dataset(name=name, examples=ROWS)
    assert_no_op(client, recorder, name, examples=ROWS)

    other = f"{name}-reverse"
    client.datasets.upsert_dataset(dataset=other, examples=ROWS, manifest=False)
    assert_create_dataset_changes_nothing(client, phoenix, other, examples=ROWS)


def test_a_csv_file_both_ways(
    client: Client, phoenix: LocalPhoenix, recorder: Recorder, name: str, tmp_path: Path
) -> None:
    path = write_csv(tmp_path / "qa.csv")
    made = {"csv_file_path": path, **CSV_KEYS, "example_id_key": "id", "split_key": "split"}
    client.datasets.create_dataset(name=name, **made)
    assert_no_op(client, recorder, name, examples=str(path), splits_key="split", **CSV_KEYS)

    # by content only (no id column named), and keys inferred as phoenix-client infers them
    plain = f"{name}-plain"
    client.datasets.create_dataset(name=plain, csv_file_path=path)
    assert_no_op(client, recorder, plain, examples=path, source_id_key=None, splits_key=None)

    other = f"{name}-reverse"
    client.datasets.upsert_dataset(
        dataset=other, examples=path, splits_key="split", manifest=False, **CSV_KEYS
    )
    assert_create_dataset_changes_nothing(client, phoenix, other, **made)


def test_a_dataframe_both_ways(
    client: Client, phoenix: LocalPhoenix, recorder: Recorder, name: str
) -> None:
    made = {"dataframe": frame(), **DF_KEYS, "example_id_key": "id"}
    client.datasets.create_dataset(name=name, **made)
    assert_no_op(client, recorder, name, examples=frame(), **DF_KEYS)

    other = f"{name}-reverse"
    client.datasets.upsert_dataset(dataset=other, examples=frame(), manifest=False, **DF_KEYS)
    assert_create_dataset_changes_nothing(client, phoenix, other, **made)
