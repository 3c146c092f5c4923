"""The catalogue of bad input: each case through upsert_dataset is a typed error that says
where the problem is — and nothing is sent (the client counts its requests: zero)."""

from __future__ import annotations

import datetime
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest

import phoenix_upsert as pu
from phoenix_upsert import Client

from ..conftest import Recorder


@dataclass
class Case:
    name: str
    source: Callable[[Path], Any]  # builds the examples (or a file) in a temp dir
    error: type[Exception]
    where: dict[str, Any]  # expected location attributes (path/index/line/source_id)
    kwargs: dict[str, Any] | None = None


def ok(i: int) -> dict[str, Any]:
    return {"id": f"ok{i}", "input": {"q": i}, "output": {"a": i}}


def with_bad(example: dict[str, Any]) -> Callable[[Path], Any]:
    """Four good examples, then the bad one at index 4."""
    return lambda _: [ok(i) for i in range(4)] + [example]


def nested(depth: int) -> Any:
    v: Any = {}
    for _ in range(depth - 1):
        v = {"d": v}
    return v


def cyclic() -> Any:
    a: list[Any] = []
    a.append(a)
    return {"loop": a}


def jsonl(lines: list[bytes]) -> Callable[[Path], Path]:
    """A file of three good lines, then the given lines (the first bad one is line 4)."""

    def build(tmp: Path) -> Path:
        good = [json.dumps(ok(i)).encode() for i in range(3)]
        path = tmp / "source.jsonl"
        path.write_bytes(b"\n".join(good + lines) + b"\n")
        return path

    return build


def one_gb_line(tmp: Path) -> Path:
    path = tmp / "huge.jsonl"
    block = b"a" * (1 << 20)
    with path.open("wb") as f:
        f.write(json.dumps(ok(0)).encode() + b"\n" + b'{"id": "huge", "input": {"x": "')
        for _ in range(1024):
            f.write(block)
        f.write(b'"}, "output": {}}\n')
    return path


class Unknown:
    pass


def raises(_: Any) -> str:
    raise KeyError("no id here")


CASES = [
    # -- values ----------------------------------------------------------------------------
    Case(
        "NaN",
        with_bad({"id": "x", "input": {"s": float("nan")}, "output": {}}),
        pu.NonFiniteNumberError,
        {"index": 4, "path": "input.s", "source_id": "x"},
    ),
    Case(
        "Infinity",
        with_bad({"id": "x", "input": {}, "output": {"s": float("inf")}}),
        pu.NonFiniteNumberError,
        {"index": 4, "path": "output.s"},
    ),
    Case(
        "-Infinity",
        with_bad({"id": "x", "input": {}, "output": {}, "metadata": {"l": [1, float("-inf")]}}),
        pu.NonFiniteNumberError,
        {"index": 4, "path": "metadata.l[1]"},
    ),
    Case(
        "lone surrogate in a value",
        with_bad({"id": "x", "input": {"t": "a\ud800"}, "output": {}}),
        pu.LoneSurrogateError,
        {"index": 4, "path": "input.t"},
    ),
    Case(
        "lone surrogate in a key",
        with_bad({"id": "x", "input": {"\udc00": 1}, "output": {}}),
        pu.LoneSurrogateError,
        {"index": 4, "path": "input"},
    ),
    Case(
        "int too large for a double",
        with_bad({"id": "x", "input": {"n": 10**400}, "output": {}}),
        pu.NumberOutOfRangeError,
        {"index": 4, "path": "input.n"},
    ),
    Case(
        "int beyond 64 bits",
        with_bad({"id": "x", "input": {"n": [2**64]}, "output": {}}),
        pu.NumberOutOfRangeError,
        {"index": 4, "path": "input.n[0]"},
    ),
    Case(
        "negative int beyond 64 bits",
        with_bad({"id": "x", "input": {"n": -(2**63) - 1}, "output": {}}),
        pu.NumberOutOfRangeError,
        {"index": 4, "path": "input.n"},
    ),
    Case(
        "float PostgreSQL hands back as an int beyond 64 bits",
        with_bad({"id": "x", "input": {"f": 1e21}, "output": {}}),
        pu.NumberOutOfRangeError,
        {"index": 4, "path": "input.f", "source_id": "x"},
    ),
    Case(
        "the float -2^63 (written -9.223372036854776e+18)",
        with_bad({"id": "x", "input": {}, "output": {"f": [-(2.0**63)]}}),
        pu.NumberOutOfRangeError,
        {"index": 4, "path": "output.f[0]"},
    ),
    Case(
        "U+0000 in a value",
        with_bad({"id": "x", "input": {"t": "a\x00b"}, "output": {}}),
        pu.NullCharacterError,
        {"index": 4, "path": "input.t", "source_id": "x"},
    ),
    Case(
        "U+0000 in a key",
        with_bad({"id": "x", "input": {}, "output": {}, "metadata": {"m": {"k\x00": 1}}}),
        pu.NullCharacterError,
        {"index": 4, "path": "metadata.m"},
    ),
    Case(
        "nesting too deep",
        with_bad({"id": "x", "input": nested(pu.MAX_DEPTH + 1), "output": {}}),
        pu.NestingTooDeepError,
        {"index": 4},
    ),
    Case(
        "cycle",
        with_bad({"id": "x", "input": cyclic(), "output": {}}),
        pu.CircularReferenceError,
        {"index": 4, "path": "input.loop[0]"},
    ),
    Case(
        "set",
        with_bad({"id": "x", "input": {"s": {1}}, "output": {}}),
        pu.NonJSONTypeError,
        {"index": 4, "path": "input.s"},
    ),
    Case(
        "bytes",
        with_bad({"id": "x", "input": {"b": b"\x00"}, "output": {}}),
        pu.NonJSONTypeError,
        {"index": 4, "path": "input.b"},
    ),
    Case(
        "datetime",
        with_bad({"id": "x", "input": {"at": datetime.date(2026, 1, 1)}, "output": {}}),
        pu.NonJSONTypeError,
        {"index": 4, "path": "input.at"},
    ),
    Case(
        "arbitrary object",
        with_bad({"id": "x", "input": {"o": Unknown()}, "output": {}}),
        pu.NonJSONTypeError,
        {"index": 4, "path": "input.o"},
    ),
    Case(
        "complex",
        with_bad({"id": "x", "input": {"c": [1j]}, "output": {}}),
        pu.NonJSONTypeError,
        {"index": 4, "path": "input.c[0]"},
    ),
    Case(
        "int key",
        with_bad({"id": "x", "input": {"k": {1: "one"}}, "output": {}}),
        pu.NonStringKeyError,
        {"index": 4, "path": "input.k"},
    ),
    Case(
        "None key",
        with_bad({"id": "x", "input": {None: 1}, "output": {}}),
        pu.NonStringKeyError,
        {"index": 4, "path": "input"},
    ),
    # -- example shapes ---------------------------------------------------------------------
    Case(
        "example is a list",
        with_bad(["input", "output"]),  # type: ignore[arg-type]
        pu.InvalidExampleError,
        {"index": 4},
    ),
    Case(
        "example is a str",
        with_bad("an example"),  # type: ignore[arg-type]
        pu.InvalidExampleError,
        {"index": 4},
    ),
    Case(
        "missing input", with_bad({"id": "x", "output": {}}), pu.InvalidExampleError, {"index": 4}
    ),
    Case(
        "missing output", with_bad({"id": "x", "input": {}}), pu.InvalidExampleError, {"index": 4}
    ),
    Case(
        "input is a list",
        with_bad({"id": "x", "input": [1], "output": {}}),
        pu.InvalidExampleError,
        {"index": 4, "path": "input"},
    ),
    Case(
        "metadata is None",
        with_bad({"id": "x", "input": {}, "output": {}, "metadata": None}),
        pu.InvalidExampleError,
        {"index": 4, "path": "metadata"},
    ),
    Case(
        "splits of the wrong type",
        with_bad({"id": "x", "input": {}, "output": {}, "splits": {"a": 1}}),
        pu.InvalidExampleError,
        {"path": "splits"},
    ),
    Case(
        "span id of the wrong type",
        with_bad({"id": "x", "input": {}, "output": {}, "span_id": 7}),
        pu.InvalidExampleError,
        {"path": "span_id"},
    ),
    Case(
        "U+0000 in a split name",
        with_bad({"id": "x", "input": {}, "output": {}, "splits": ["train", "a\x00"]}),
        pu.NullCharacterError,
        {"path": "splits[1]"},
    ),
    Case(
        "U+0000 in a span id",
        with_bad({"id": "x", "input": {}, "output": {}, "span_id": "\x00"}),
        pu.NullCharacterError,
        {"path": "span_id"},
    ),
    # -- source ids -------------------------------------------------------------------------
    Case(
        "duplicate ids",
        lambda _: [ok(0), ok(1), ok(0)],
        pu.DuplicateSourceIdError,
        {"index": 2, "source_id": "ok0"},
    ),
    Case(
        "missing id", with_bad({"input": {}, "output": {}}), pu.MissingSourceIdError, {"index": 4}
    ),
    Case(
        "empty id",
        with_bad({"id": "", "input": {}, "output": {}}),
        pu.InvalidSourceIdError,
        {"index": 4},
    ),
    Case(
        "id of the wrong type",
        with_bad({"id": 1.5, "input": {}, "output": {}}),
        pu.InvalidSourceIdError,
        {"index": 4},
    ),
    Case(
        "U+0000 in an id",
        with_bad({"id": "x\x00", "input": {}, "output": {}}),
        pu.InvalidSourceIdError,
        {"index": 4},
    ),
    Case(
        "id callable raises",
        lambda _: [ok(0)],
        pu.InvalidSourceIdError,
        {"index": 0},
        {"source_id_key": raises},
    ),
    Case("empty source", lambda _: [], pu.EmptySourceError, {}),
    # -- JSONL files ------------------------------------------------------------------------
    Case(
        "invalid JSON line",
        jsonl([b'{"id": "x", "input": {}, "output": {]}']),
        pu.JSONLSyntaxError,
        {"line": 4, "path": "output"},
    ),
    Case(
        "truncated last line",
        jsonl([b'{"id": "x", "input": {"a": [1, 2']),
        pu.JSONLSyntaxError,
        {"line": 4, "path": "input.a[2]"},
    ),
    Case(
        "invalid UTF-8",
        jsonl([b'{"id": "x", "input": {"t": "\xff"}, "output": {}}']),
        pu.JSONLEncodingError,
        {"line": 4, "column": 29},
    ),
    Case("line is not an object", jsonl([b'["id", "input"]']), pu.InvalidExampleError, {"line": 4}),
    Case(
        "NaN literal",
        jsonl([b'{"id": "x", "input": {"v": NaN}, "output": {}}']),
        pu.JSONLSyntaxError,
        {"line": 4, "path": "input.v"},
    ),
    Case(
        "number beyond a double",
        jsonl([b'{"id": "x", "input": {"v": 1e999}, "output": {}}']),
        pu.NumberOutOfRangeError,
        {"line": 4, "path": "input.v"},
    ),
    Case(
        "int beyond 64 bits in a file",
        jsonl([b'{"id": "x", "input": {"v": [99999999999999999999]}, "output": {}}']),
        pu.NumberOutOfRangeError,
        {"line": 4, "path": "input.v[0]", "source_id": "x"},
    ),
    Case(
        "float beyond 64 bits in a file, exponent form",
        jsonl([b'{"id": "x", "input": {"v": [0, -1e19]}, "output": {}}']),
        pu.NumberOutOfRangeError,
        {"line": 4, "path": "input.v[1]", "source_id": "x"},
    ),
    Case(
        "U+0000 escape in a file",
        jsonl([b'{"input": {}, "output": {"t": ["\\u0000"]}, "id": "x"}']),
        pu.NullCharacterError,
        {"line": 4, "path": "output.t[0]", "source_id": "x"},
    ),
    Case(
        "U+0000 in a split name in a file",
        jsonl([b'{"id": "x", "input": {}, "output": {}, "splits": "tr\\u0000ain"}']),
        pu.NullCharacterError,
        {"line": 4, "path": "splits", "source_id": "x"},
    ),
    Case(
        "float id in a file",
        jsonl([b'{"id": 7.0, "input": {}, "output": {}}']),
        pu.InvalidSourceIdError,
        {"line": 4, "column": 8, "path": ""},
    ),
    Case(
        "empty id in a file",
        jsonl([b'{"id": "", "input": {}, "output": {}}']),
        pu.InvalidSourceIdError,
        {"line": 4, "column": 8},
    ),
    Case(
        "lone surrogate escape",
        jsonl([b'{"id": "x", "input": {"v": "\\udead"}, "output": {}}']),
        pu.LoneSurrogateError,
        {"line": 4, "path": "input.v"},
    ),
    Case(
        "nesting too deep in a file",
        jsonl(
            [b'{"id": "x", "input": ' + b'{"d": ' * 101 + b"1" + b"}" * 101 + b', "output": {}}']
        ),
        pu.NestingTooDeepError,
        {"line": 4},
    ),
    Case(
        "duplicate ids in a file",
        jsonl([json.dumps(ok(1)).encode()]),
        pu.DuplicateSourceIdError,
        {"line": None, "index": 3, "source_id": "ok1"},
    ),
    Case(
        "missing id in a file",
        jsonl([b'{"input": {}, "output": {}}']),
        pu.MissingSourceIdError,
        {"line": 4},
    ),
    Case(
        "missing output in a file",
        jsonl([b'{"id": "x", "input": {}}']),
        pu.InvalidExampleError,
        {"line": 4},
    ),
    Case(
        "empty file",
        lambda tmp: (tmp / "empty.jsonl", (tmp / "empty.jsonl").write_bytes(b""))[0],
        pu.EmptySourceError,
        {},
    ),
    Case("a 1 GB single line", one_gb_line, pu.LineTooLongError, {"line": 2}),
    # -- DataFrames -------------------------------------------------------------------------
    Case(
        "DataFrame without the id column",
        lambda _: pd.DataFrame({"q": [1]}),
        pu.MissingSourceIdError,
        {},
        {"input_keys": ["q"]},
    ),
    Case(
        "DataFrame with a timestamp cell",
        lambda _: pd.DataFrame({"id": ["a"], "q": [pd.Timestamp("2026-01-01")]}),
        pu.NonJSONTypeError,
        {"index": 0, "path": "input.q", "source_id": "a"},
        {"input_keys": ["q"]},
    ),
]


@pytest.fixture
def offline(recorder: Recorder) -> Iterator[Client]:
    http = httpx.Client(base_url="http://127.0.0.1:9", event_hooks={"request": [recorder]})
    yield Client(http_client=http)
    http.close()


def test_catalogue_has_at_least_30_cases() -> None:
    assert len(CASES) >= 30


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input_is_a_typed_located_error_and_nothing_is_sent(
    case: Case, offline: Client, recorder: Recorder, tmp_path: Path
) -> None:
    source = case.source(tmp_path)
    with pytest.raises(case.error) as info:
        offline.datasets.upsert_dataset(
            dataset="never-sent", examples=source, manifest=False, **(case.kwargs or {})
        )
    err = info.value
    assert isinstance(err, pu.InvalidInputError)
    for attribute, expected in case.where.items():
        assert getattr(err, attribute) == expected, (attribute, str(err))
    if err.line is not None:
        assert f"line {err.line}" in str(err)
    elif err.index is not None and not isinstance(err, pu.DuplicateSourceIdError):
        assert f"example {err.index}" in str(err)
    if err.path:
        assert err.path in str(err)
    assert recorder.requests == [], "nothing may be sent"
