"""JSONL hashing: same hashes as Python objects, positions, ids, and line-numbered errors."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest
from phoenix.utilities.content_hashing import compute_example_content_hash

import phoenix_upsert as pu


def write_jsonl(path: Path, rows: list[Any], *, newline: str = "\n") -> Path:
    path.write_text(
        "".join(json.dumps(r, ensure_ascii=False) + newline for r in rows), encoding="utf-8"
    )
    return path


def random_examples(n: int, seed: int = 7) -> list[dict[str, Any]]:
    rnd = random.Random(seed)
    words = ["a", "ü", "日本", "😀", "\u2028", "\n", '"', "\\", "\x01", "x y"]
    out = []
    for i in range(n):
        out.append(
            {
                "id": f"ex-{i}",
                "input": {"q": "".join(rnd.choice(words) for _ in range(rnd.randint(0, 9)))},
                "output": {
                    "a": rnd.random() * 10 ** rnd.randint(-30, 30),
                    "n": rnd.randint(-(2**70), 2**70),
                },
                "metadata": {"tags": [rnd.choice(words)], "nested": {"z": [1, {"y": None}]}},
                "splits": rnd.choice([[], ["train"], ["test", " train "], "dev", None]),
            }
        )
    return out


def test_hash_jsonl_equals_phoenix_and_hash_examples(tmp_path: Path) -> None:
    rows = random_examples(3000)
    path = write_jsonl(tmp_path / "a.jsonl", rows)
    expected = [
        compute_example_content_hash(
            input=r["input"], output=r["output"], metadata=r["metadata"]
        ).hex()
        for r in rows
    ]
    assert pu.hash_jsonl(path) == expected
    assert pu.hash_jsonl(str(path)) == expected
    assert pu.hash_examples(rows) == expected


def test_scan_collects_ids_splits_positions(tmp_path: Path) -> None:
    rows = random_examples(500)
    rows[3]["id"] = 12345  # integer ids read as their decimal text
    del rows[4]["id"]
    del rows[5]["splits"]
    path = write_jsonl(tmp_path / "a.jsonl", rows, newline="\r\n")
    scan = pu.scan_jsonl(path, id_key="id", splits_key="splits")
    assert len(scan) == 500
    assert scan.ids is not None and scan.splits is not None
    assert scan.ids[:6] == ["ex-0", "ex-1", "ex-2", "12345", None, "ex-5"]
    assert scan.splits[5] is None
    for i in range(500):
        if i != 5:
            raw = rows[i]["splits"]
            names = [raw] if isinstance(raw, str) else (raw or [])
            assert scan.splits[i] == sorted({n.strip() for n in names if n.strip()})
    data = path.read_bytes()
    for i in (0, 17, 499):
        line = data[scan.offsets[i] : scan.offsets[i] + scan.lengths[i]]
        assert json.loads(line) == rows[i]
        assert scan.line_numbers[i] == i + 1
    assert scan.node_ids is None and scan.span_ids is None


def test_blank_lines_bom_and_missing_final_newline(tmp_path: Path) -> None:
    row = {"input": {"a": 1}, "output": {}}
    text = (
        "\ufeff" + json.dumps(row) + "\n\n   \n" + json.dumps(row) + "\r\n\t\r\n" + json.dumps(row)
    )
    path = tmp_path / "b.jsonl"
    path.write_text(text, encoding="utf-8")
    scan = pu.scan_jsonl(path)
    assert scan.line_numbers == [1, 4, 6]
    assert len(set(scan.hashes)) == 1
    assert scan.offsets[0] == 3  # after the byte order mark


def test_empty_file_has_no_examples(tmp_path: Path) -> None:
    (tmp_path / "e.jsonl").write_bytes(b"")
    assert pu.hash_jsonl(tmp_path / "e.jsonl") == []


def test_duplicate_keys_last_wins_like_python(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    path.write_text('{"input": {"a": 1, "a": 2}, "output": {}, "input": {"b": 1, "b": [3]}}\n')
    row = json.loads(path.read_text())
    expected = compute_example_content_hash(input=row["input"], output=row["output"], metadata={})
    assert pu.hash_jsonl(path) == [expected.hex()]


BAD_LINES: list[tuple[str, bytes, type[Exception], int | None, str]] = [
    ("invalid json", b'{"input": {}, "output": nope}', pu.JSONLSyntaxError, 26, "output"),
    ("truncated", b'{"input": {"a": [1, 2', pu.JSONLSyntaxError, None, "input.a[2]"),
    ("not an object", b"[1, 2]", pu.InvalidExampleError, None, ""),
    ("missing output", b'{"input": {}}', pu.InvalidExampleError, None, ""),
    ("input not object", b'{"input": "q", "output": {}}', pu.InvalidExampleError, None, "input"),
    (
        "metadata null",
        b'{"input": {}, "output": {}, "metadata": null}',
        pu.InvalidExampleError,
        None,
        "metadata",
    ),
    ("nan literal", b'{"input": {"x": NaN}, "output": {}}', pu.JSONLSyntaxError, None, "input.x"),
    (
        "number too big",
        b'{"input": {"x": 1e999}, "output": {}}',
        pu.NumberOutOfRangeError,
        None,
        "input.x",
    ),
    (
        "lone surrogate",
        b'{"input": {"x": "\\udc00"}, "output": {}}',
        pu.LoneSurrogateError,
        None,
        "input.x",
    ),
    ("invalid utf-8", b'{"input": {"x": "\xc3\x28"}, "output": {}}', pu.JSONLEncodingError, 18, ""),
    (
        "too deep",
        b'{"input": ' + b'{"k": ' * 100 + b"{}" + b"}" * 100 + b', "output": {}}',
        pu.NestingTooDeepError,
        None,
        "input" + ".k" * 100,
    ),
    ("bad id type", b'{"id": [1], "input": {}, "output": {}}', pu.InvalidSourceIdError, 8, ""),
    ("float id", b'{"input": {}, "output": {}, "id": 1.0}', pu.InvalidSourceIdError, 35, ""),
    (
        "bad splits",
        b'{"splits": {"a": 1}, "input": {}, "output": {}}',
        pu.InvalidExampleError,
        None,
        "splits",
    ),
]


@pytest.mark.parametrize(
    ("line", "error", "column", "path"), [c[1:] for c in BAD_LINES], ids=[c[0] for c in BAD_LINES]
)
def test_bad_lines_name_line_and_path(
    tmp_path: Path, line: bytes, error: type[Exception], column: int | None, path: str
) -> None:
    good = b'{"input": {"q": 1}, "output": {"a": 2}}\n'
    data = good * 3000 + b"\n" + line + b"\n" + good * 10
    file = tmp_path / "bad.jsonl"
    file.write_bytes(data)
    with pytest.raises(error) as info:
        pu.scan_jsonl(file, id_key="id", splits_key="splits")
    err = info.value
    assert isinstance(err, pu.InvalidInputError)
    assert err.line == 3002
    assert str(err).startswith("line 3002")
    assert err.path == path
    if column is not None:
        assert err.column == column


def test_first_bad_line_wins(tmp_path: Path) -> None:
    good = b'{"input": {}, "output": {}}\n'
    data = good * 50_000 + b"{bad\n" + good * 50_000 + b"[also bad\n"
    file = tmp_path / "two-bad.jsonl"
    file.write_bytes(data)
    with pytest.raises(pu.JSONLSyntaxError) as info:
        pu.hash_jsonl(file)
    assert info.value.line == 50_001


def test_line_too_long(tmp_path: Path) -> None:
    file = tmp_path / "long.jsonl"
    file.write_bytes(
        b'{"input": {}, "output": {}}\n'
        + b'{"input": {"x": "'
        + b"a" * 5000
        + b'"}, "output": {}}\n'
    )
    with pytest.raises(pu.LineTooLongError) as info:
        pu.hash_jsonl(file, max_line_bytes=1000)
    assert info.value.line == 2
    assert len(pu.hash_jsonl(file, max_line_bytes=10_000)) == 2


def test_missing_file_is_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError) as info:
        pu.hash_jsonl(tmp_path / "nope.jsonl")
    assert info.value.filename == str(tmp_path / "nope.jsonl")


def test_key_options_cannot_name_content(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="holds example content"):
        pu.scan_jsonl(tmp_path / "x.jsonl", id_key="input")


def test_scan_bytes_reads_phoenix_exports() -> None:
    data = (
        '{"id": "q1", "node_id": "RGF0YXNldEV4YW1wbGU6MQ==", "input": {"s": "a\u2028b"}, '
        '"output": {}, "metadata": {}, "splits": ["train"]}\n'
    ).encode()
    scan = pu.scan_jsonl(data, id_key="id", node_id_key="node_id", splits_key="splits")
    assert scan.ids == ["q1"] and scan.node_ids == ["RGF0YXNldEV4YW1wbGU6MQ=="]
    assert scan.splits == [["train"]]
    assert scan.hashes == [pu.content_hash({"s": "a\u2028b"}, {}, {})]
