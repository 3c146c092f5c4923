"""Columnar sources: Parquet files (local, compressed, on S3-compatible storage), Arrow
tables and polars DataFrames, read column-wise into the same source as a list of examples,
and synced into a real Phoenix (SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime
import gzip
import json
import math
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest

import phoenix_upsert as pu
from phoenix_upsert import Client
from phoenix_upsert._sources.source import read_source

from ..conftest import server_rows

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")
pl = pytest.importorskip("polars")

KW: dict[str, Any] = {"source_id_key": "id", "splits_key": "splits", "span_id_key": "span_id"}


def rows(n: int, *, tag: str = "v1") -> list[dict[str, Any]]:
    return [
        {
            "id": f"q{i}",
            "input": {"question": f"What is {i} + {i}?", "turns": [i, i + 1], "lang": "é"},
            "output": {"answer": str(2 * i), "score": i / 7, "tag": tag},
            "metadata": {"difficulty": i % 3, "nested": {"ok": i % 2 == 0}},
            "splits": ["train"] if i % 4 else ["test", "train"],
        }
        for i in range(n)
    ]


def flat(examples: list[dict[str, Any]]) -> dict[str, list[Any]]:
    """The same examples as flat columns (input_keys/output_keys/metadata_keys)."""
    return {
        "id": [e["id"] for e in examples],
        "question": [e["input"]["question"] for e in examples],
        "answer": [e["output"]["answer"] for e in examples],
        "difficulty": [e["metadata"]["difficulty"] for e in examples],
    }


FLAT_KEYS: dict[str, Any] = {
    "input_keys": ["question"],
    "output_keys": ["answer"],
    "metadata_keys": ["difficulty"],
}


def flat_examples(examples: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            "id": e["id"],
            "input": {"question": e["input"]["question"]},
            "output": {"answer": e["output"]["answer"]},
            "metadata": {"difficulty": e["metadata"]["difficulty"]},
        }
        for e in examples
    ]


def same(a: Any, b: Any) -> None:
    assert (a.ids, a.hashes, a.splits, a.span_ids) == (b.ids, b.hashes, b.splits, b.span_ids)


def test_arrow_polars_and_parquet_read_as_the_list_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spool = tmp_path / "spool"
    spool.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(spool))
    examples = rows(50)
    expected = read_source(examples, **KW)
    table = pa.Table.from_pylist(examples)
    same(read_source(table, **KW), expected)
    same(read_source(table.to_batches()[0], **KW), expected)
    same(read_source(pl.DataFrame(examples), **KW), expected)
    pq.write_table(table, tmp_path / "data.parquet")
    same(read_source(tmp_path / "data.parquet", **KW), expected)
    # compressed as a whole too (the content says what it is, not the name)
    (tmp_path / "data.parquet.gz").write_bytes(
        gzip.compress((tmp_path / "data.parquet").read_bytes())
    )
    same(read_source(str(tmp_path / "data.parquet.gz"), **KW), expected)
    assert list(spool.iterdir()) == [], "read whole: its copy is removed at once"
    source = read_source(tmp_path / "data.parquet", **KW)
    assert source.name == str(tmp_path / "data.parquet")
    assert [json.loads(t) for t in source.rows([3], 0)] == [examples[3]["input"]]


def test_flat_columns_by_keys_and_nulls_left_out(tmp_path: Path) -> None:
    examples = rows(20)
    columns = flat(examples)
    columns["answer"][4] = None  # a null cell is left out, as a missing DataFrame cell is
    expected_examples = flat_examples(examples)
    del expected_examples[4]["output"]["answer"]
    expected = read_source(expected_examples, **KW)
    same(read_source(pa.table(columns), **KW, **FLAT_KEYS), expected)
    same(read_source(pl.DataFrame(columns), **KW, **FLAT_KEYS), expected)
    pq.write_table(pa.table(columns), tmp_path / "flat.parquet")
    same(read_source(tmp_path / "flat.parquet", **KW, **FLAT_KEYS), expected)


def test_only_the_columns_needed_are_read(tmp_path: Path) -> None:
    """Columns a sync does not use are never read: one that holds what JSON cannot (a
    timestamp) is no error unless it is named."""
    examples = rows(10)
    table = pa.Table.from_pylist(examples).append_column(
        "created", pa.array([datetime.datetime(2026, 1, 1)] * 10)
    )
    pq.write_table(table, tmp_path / "data.parquet")
    same(read_source(tmp_path / "data.parquet", **KW), read_source(examples, **KW))
    columns = {**flat(examples), "created": [datetime.datetime(2026, 1, 1)] * 10}
    with pytest.raises(pu.NonJSONTypeError) as info:
        read_source(pa.table(columns), **KW, input_keys=["question", "created"])
    assert info.value.path == "input.created" and info.value.source_id == "q0"


def test_maps_nan_and_duplicate_ids_follow_the_rules() -> None:
    maps = pa.table(
        {
            "id": ["a", "b"],
            "input": pa.array([[("k", 1)], [("k", 2), ("j", 3)]], pa.map_(pa.string(), pa.int64())),
            "output": [{"x": 1}, {"x": 2}],
        }
    )
    got = read_source(maps, **KW)
    assert got.hashes == pu.hash_examples(
        [{"input": {"k": 1}, "output": {"x": 1}}, {"input": {"k": 2, "j": 3}, "output": {"x": 2}}]
    )
    nan = pa.table({"id": ["a"], "input": [{"x": math.nan}], "output": [{"y": 1}]})
    with pytest.raises(pu.NonFiniteNumberError) as info:
        read_source(nan, **KW)
    assert info.value.path == "input.x"
    twice = pl.DataFrame({"id": ["a", "a"], "input": [{"x": 1}, {"x": 2}]})
    with pytest.raises(pu.DuplicateSourceIdError):
        read_source(twice, **KW)
    ints = pl.DataFrame({"id": [7, 8], "input": [{"x": 1}, {"x": 2}]})
    assert read_source(ints, **KW).ids == ["7", "8"]


def test_shape_errors_say_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(pu.InvalidExampleError, match="input_keys="):
        read_source(pa.table({"id": ["a"], "q": [1]}), **KW)
    with pytest.raises(
        pu.InvalidExampleError, match=r"input_keys not among the columns: \['nope'\]"
    ):
        read_source(pl.DataFrame({"id": ["a"], "q": [1]}), **KW, input_keys=["nope"])
    with pytest.raises(pu.MissingSourceIdError, match="'id' is not a column"):
        read_source(pl.DataFrame({"input": [{"x": 1}]}), **KW)
    with pytest.raises(TypeError, match="collect"):
        read_source(pl.DataFrame({"id": ["a"]}).lazy(), **KW)
    (tmp_path / "a.jsonl").write_text('{"id": "a", "input": {}, "output": {}}\n')
    with pytest.raises(TypeError, match="not to a JSONL file"):
        read_source(tmp_path / "a.jsonl", **KW, input_keys=["q"])
    (tmp_path / "bad.parquet").write_bytes(b"PAR1" + b"\x00" * 100)
    with pytest.raises(pu.SourceReadError, match="cannot read it as Parquet"):
        read_source(tmp_path / "bad.parquet", **KW)


def test_parquet_without_pyarrow_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pq.write_table(pa.Table.from_pylist(rows(2)), tmp_path / "data.parquet")
    for module in [m for m in sys.modules if m == "pyarrow" or m.startswith("pyarrow.")]:
        monkeypatch.setitem(sys.modules, module, None)
    with pytest.raises(pu.SourceReadError, match=r"phoenix-upsert\[parquet\]"):
        read_source(tmp_path / "data.parquet", **KW)


def test_sync_a_polars_dataframe_then_parquet_then_arrow(
    client: Client, name: str, tmp_path: Path
) -> None:
    v1 = rows(40)
    ds = client.datasets.upsert_dataset(dataset=name, examples=pl.DataFrame(v1), manifest=False)
    assert ds.summary.added == 40
    v2 = rows(45, tag="v2")
    del v2[0]
    pq.write_table(pa.Table.from_pylist(v2), tmp_path / "v2.parquet")
    ds = client.datasets.upsert_dataset(
        dataset=name, examples=tmp_path / "v2.parquet", manifest=False
    )
    assert ds.summary == pu.SyncSummary(added=5, updated=39, deleted=1, unchanged=0)
    ds = client.datasets.upsert_dataset(
        dataset=name, examples=pa.Table.from_pylist(v2), manifest=False
    )
    assert ds.plan.action == "none"
    stored = server_rows(client, name)
    assert set(stored) == {e["id"] for e in v2}
    for e in v2:
        got = stored[e["id"]]
        assert (got["input"], got["output"], got["metadata"]) == (
            e["input"],
            e["output"],
            e["metadata"],
        )
        assert sorted(got["splits"]) == e["splits"]
