"""One example schema for both front ends: ``scan_examples`` (Python objects) and
``scan_jsonl`` (JSON text) apply the same rules, with one error format; progress hooks; the
upload texts written from a scan."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import phoenix_upsert as pu
from phoenix_upsert._native import Scan, scan_examples

ROWS: list[dict[str, Any]] = [
    {"id": "a", "input": {"q": 1}, "output": {}, "splits": " train ", "span_id": " s1 "},
    {"id": 7, "input": {"q": 2}, "output": {}, "splits": ["b", None, "a", "b", "  "]},
    {"id": "c", "input": {"q": 3}, "output": {}, "splits": None, "span_id": "   "},
    {"id": "d", "input": {"q": 4}, "output": {}, "metadata": {"m": 1}},
]
KEYS = {"id_key": "id", "splits_key": "splits", "span_id_key": "span_id", "storable": True}


def jsonl(rows: list[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in rows).encode()


def test_both_front_ends_read_the_same_fields() -> None:
    objects = scan_examples(ROWS, **KEYS)
    text = pu.scan_jsonl(jsonl(ROWS), **KEYS)
    assert isinstance(objects, Scan) and isinstance(text, pu.JsonlScan)
    for field in ("hashes", "ids", "splits", "span_ids"):
        assert getattr(objects, field) == getattr(text, field), field
    assert objects.ids == ["a", "7", "c", "d"]
    assert objects.splits == [["train"], ["a", "b"], [], None]
    assert objects.span_ids == ["s1", None, None, None]
    assert objects.line_numbers == [] and text.line_numbers == [1, 2, 3, 4]


def test_ids_computed_by_the_caller_follow_the_source_id_rule() -> None:
    scan = scan_examples(ROWS, ids=[1, "x", -0, "y"], storable=True)
    assert scan.ids == ["1", "x", "0", "y"]
    with pytest.raises(pu.InvalidSourceIdError, match=r"^example 1: the source id must be") as e:
        scan_examples(ROWS, ids=["a", True, "c", "d"], storable=True)
    assert e.value.index == 1
    with pytest.raises(ValueError, match="fewer"):
        scan_examples(ROWS, ids=["a"])
    with pytest.raises(ValueError, match="more"):
        scan_examples(ROWS[:1], ids=["a", "b"])


def test_one_error_format_for_both() -> None:
    missing = [dict(ROWS[0]), {"input": {}, "output": {}}]
    with pytest.raises(pu.MissingSourceIdError, match=r"^example 1: no source id$") as e:
        scan_examples(missing, **KEYS)
    assert e.value.index == 1
    with pytest.raises(pu.MissingSourceIdError, match=r"^line 2: no source id$") as e:
        pu.scan_jsonl(jsonl(missing), **KEYS)
    assert e.value.line == 2
    twice = [ROWS[0], ROWS[1], ROWS[0]]
    message = "1 source id(s) occur more than once: 'a' ({0} 0, {0} 2)"
    with pytest.raises(pu.DuplicateSourceIdError) as e:
        scan_examples(twice, **KEYS)
    assert str(e.value) == message.format("example")
    assert (e.value.index, e.value.source_id, e.value.ids) == (2, "a", ["a"])
    with pytest.raises(pu.DuplicateSourceIdError) as e:
        pu.scan_jsonl(jsonl(twice), **KEYS)
    assert str(e.value) == "1 source id(s) occur more than once: 'a' (line 1, line 3)"
    # Without storable (a server's export), ids may be absent or repeated.
    assert len(pu.scan_jsonl(jsonl(twice + missing), id_key="id")) == 5


@pytest.mark.parametrize(
    ("value", "error", "path"),
    [
        ({"a": 1}, pu.InvalidExampleError, "splits"),
        (7, pu.InvalidExampleError, "splits"),
        (["a", 1], pu.InvalidExampleError, "splits[1]"),
        (("a", "b\x00"), pu.NullCharacterError, "splits[1]"),
        ("a\x00", pu.NullCharacterError, "splits"),
    ],
)
def test_split_names_of_the_wrong_kind(value: Any, error: type[Exception], path: str) -> None:
    rows = [{"id": "q", "input": {}, "output": {}, "splits": value}]
    with pytest.raises(error) as e:
        scan_examples(rows, **KEYS)
    assert (e.value.path, e.value.index, e.value.source_id) == (path, 0, "q")  # type: ignore[attr-defined]
    assert str(e.value).startswith(f"example 0 (id 'q'), {path}: ")


def test_span_ids_of_the_wrong_kind() -> None:
    with pytest.raises(pu.InvalidExampleError, match=r"span_id: the span id must be a str"):
        scan_examples([{"input": {}, "output": {}, "span_id": 7}], span_id_key="span_id")
    with pytest.raises(pu.NullCharacterError) as e:
        scan_examples([{"input": {}, "output": {}, "span_id": "\x00"}], **KEYS | {"id_key": None})
    assert e.value.path == "span_id"


def test_progress_of_a_file_counts_bytes(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    path.write_bytes(jsonl(ROWS * 20_000))
    seen: list[int] = []
    assert len(pu.hash_jsonl(path, progress=seen.append)) == 80_000
    assert seen == sorted(seen) and seen[-1] == path.stat().st_size and len(seen) >= 3
    seen.clear()
    assert len(pu.scan_jsonl(path, progress=seen.append)) == 80_000
    assert seen[-1] == path.stat().st_size


def test_progress_of_objects_counts_examples() -> None:
    seen: list[int] = []
    assert len(pu.hash_examples(ROWS * 1000, progress=seen.append)) == 4000
    assert seen == sorted(seen) and seen[-1] == 4000 and len(seen) > 2
    seen.clear()
    assert len(scan_examples(ROWS * 1000, progress=seen.append)) == 4000
    assert seen[-1] == 4000


@pytest.mark.parametrize("exception", [ZeroDivisionError, KeyboardInterrupt])
def test_an_exception_in_progress_stops_the_scan(tmp_path: Path, exception: type) -> None:
    path = tmp_path / "a.jsonl"
    path.write_bytes(jsonl(ROWS * 20_000))

    def stop(_: int) -> None:
        raise exception("stop")

    with pytest.raises(exception):
        pu.hash_jsonl(path, progress=stop)
    with pytest.raises(exception):
        scan_examples(ROWS * 1000, progress=stop)


def test_upload_texts_keep_key_order_and_refuse_changed_examples(tmp_path: Path) -> None:
    rows = [{"output": {"z": 1, "a": [1.0, -0.0]}, "input": {"b": "é\n", "a": None}}, ROWS[3]]
    path = tmp_path / "a.jsonl"
    path.write_bytes(jsonl(rows))
    from_file = pu.scan_jsonl(path, id_key="id")
    from_objects = scan_examples(rows, id_key="id")
    for part, want in enumerate(
        [
            [b'{"b":"\xc3\xa9\\n","a":null}', b'{"q":4}'],
            [b'{"z":1,"a":[1.0,-0.0]}', b"{}"],
            [b"{}", b'{"m":1}'],
        ]
    ):
        assert from_file.jsonl_rows(path, [0, 1], part) == want
        assert from_objects.example_rows(rows, [0, 1], part) == want
    rows[1]["metadata"]["m"] = 2
    with pytest.raises(pu.SourceChangedError, match=r"^example 1 \(id 'd'\): the example changed"):
        from_objects.example_rows(rows, [0, 1], 0)
    path.write_bytes(jsonl(rows))
    with pytest.raises(pu.SourceChangedError, match=r"^line 2 \(id 'd'\): the file changed") as e:
        from_file.jsonl_rows(path, [1], 2)
    assert (e.value.index, e.value.line) == (1, 2)


@pytest.mark.parametrize(
    "change",
    ["shorter", "not JSON any more", "not an example any more", "other content"],
)
def test_a_list_changed_after_the_scan_is_source_changed(change: str) -> None:
    """Whatever happened to the list between scan and upload, the upload says so as
    SourceChangedError naming the example — not as the error the new value would give."""
    from phoenix_upsert._sources.source import read_source

    examples: list[Any] = [{"id": f"r{i}", "input": {"q": i}, "output": {}} for i in range(5)]
    source = read_source(examples, source_id_key="id", splits_key=None, span_id_key=None)
    if change == "shorter":
        examples.pop()
    elif change == "not JSON any more":
        examples[4]["input"]["q"] = {1, 2}
    elif change == "not an example any more":
        examples[4] = "r4"
    else:
        examples[4]["input"]["q"] = 5
    with pytest.raises(pu.SourceChangedError, match=r"^example 4 \(id 'r4'\): the example changed"):
        b"".join(source.rows([0, 4], 0))
