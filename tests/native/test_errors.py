"""Bad input: every case is a typed error that says where the problem is."""

from __future__ import annotations

import datetime
import decimal
from typing import Any

import pytest

import phoenix_upsert as pu


def _cycle_list() -> Any:
    a: list[Any] = [1]
    a.append({"back": a})
    return {"x": a}


def _cycle_dict() -> Any:
    d: dict[str, Any] = {}
    d["self"] = d
    return d


def _deep(n: int) -> Any:
    v: Any = {}
    for _ in range(n - 1):
        v = {"k": v}
    return v


VALUE_CASES: list[tuple[str, Any, type[Exception], str]] = [
    ("nan", {"a": [float("nan")]}, pu.NonFiniteNumberError, "a[0]"),
    ("inf", {"a": {"b": float("inf")}}, pu.NonFiniteNumberError, "a.b"),
    ("-inf", [float("-inf")], pu.NonFiniteNumberError, "[0]"),
    ("lone surrogate value", {"s": "ok\ud800"}, pu.LoneSurrogateError, "s"),
    ("lone surrogate key", {"\udfff": 1}, pu.LoneSurrogateError, ""),
    ("huge int", {"n": 10**400}, pu.NumberOutOfRangeError, "n"),
    ("negative huge int", [-(10**309)], pu.NumberOutOfRangeError, "[0]"),
    ("set", {"t": {1, 2}}, pu.NonJSONTypeError, "t"),
    ("frozenset", [frozenset()], pu.NonJSONTypeError, "[0]"),
    ("bytes", {"b": b"x"}, pu.NonJSONTypeError, "b"),
    ("bytearray", {"b": bytearray(b"x")}, pu.NonJSONTypeError, "b"),
    ("complex", {"c": 1j}, pu.NonJSONTypeError, "c"),
    ("object", {"o": object()}, pu.NonJSONTypeError, "o"),
    ("datetime", {"when": datetime.datetime(2026, 1, 1)}, pu.NonJSONTypeError, "when"),
    ("decimal", {"d": decimal.Decimal("1.5")}, pu.NonJSONTypeError, "d"),
    ("int key", {"a": {1: "x"}}, pu.NonStringKeyError, "a"),
    ("none key", {None: 1}, pu.NonStringKeyError, ""),
    ("tuple key", {(1, 2): 1}, pu.NonStringKeyError, ""),
    ("cyclic list", _cycle_list(), pu.CircularReferenceError, "x[1].back"),
    ("cyclic dict", _cycle_dict(), pu.CircularReferenceError, "self"),
    ("too deep", _deep(pu.MAX_DEPTH + 1), pu.NestingTooDeepError, "k" + ".k" * (pu.MAX_DEPTH - 1)),
    (
        "odd key in path",
        {"a key": {"é": [None, float("nan")]}},
        pu.NonFiniteNumberError,
        '["a key"]["é"][1]',
    ),
]


@pytest.mark.parametrize(
    ("value", "error", "path"), [c[1:] for c in VALUE_CASES], ids=[c[0] for c in VALUE_CASES]
)
def test_bad_values(value: Any, error: type[Exception], path: str) -> None:
    with pytest.raises(error) as info:
        pu.canonicalize(value)
    assert isinstance(info.value, pu.InvalidInputError)
    assert isinstance(info.value, ValueError)
    assert info.value.path == path
    if path:
        assert str(info.value).startswith(path + ": ")


def test_depth_limit_is_inclusive() -> None:
    assert pu.canonicalize(_deep(pu.MAX_DEPTH)).startswith(b'{"k":')


def test_type_errors_are_also_type_errors() -> None:
    with pytest.raises(TypeError):
        pu.canonicalize({"s": {1}})
    with pytest.raises(TypeError):
        pu.canonicalize({1: 1})


EXAMPLE_CASES: list[tuple[str, Any, type[Exception], str]] = [
    ("not a mapping", ["input", "output"], pu.InvalidExampleError, ""),
    ("string example", "example", pu.InvalidExampleError, ""),
    ("missing input", {"output": {}}, pu.InvalidExampleError, ""),
    ("missing output", {"input": {}}, pu.InvalidExampleError, ""),
    ("input is a list", {"input": [1], "output": {}}, pu.InvalidExampleError, "input"),
    ("output is a string", {"input": {}, "output": "x"}, pu.InvalidExampleError, "output"),
    (
        "metadata is None",
        {"input": {}, "output": {}, "metadata": None},
        pu.InvalidExampleError,
        "metadata",
    ),
    (
        "nan in output",
        {"input": {}, "output": {"s": [0, float("nan")]}},
        pu.NonFiniteNumberError,
        "output.s[1]",
    ),
]


@pytest.mark.parametrize(
    ("example", "error", "path"), [c[1:] for c in EXAMPLE_CASES], ids=[c[0] for c in EXAMPLE_CASES]
)
def test_bad_examples_name_the_index(example: Any, error: type[Exception], path: str) -> None:
    good = {"input": {"q": 1}, "output": {"a": 2}}
    examples = [good] * 600 + [example] + [good] * 10
    with pytest.raises(error) as info:
        pu.hash_examples(examples)
    assert info.value.index == 600  # type: ignore[attr-defined]
    assert info.value.path == path  # type: ignore[attr-defined]
    assert str(info.value).startswith("example 600")


def test_content_hash_requires_objects() -> None:
    with pytest.raises(pu.InvalidExampleError) as info:
        pu.content_hash({}, [], {})  # type: ignore[arg-type]
    assert info.value.path == "output"


def test_iteration_errors_propagate() -> None:
    def gen() -> Any:
        yield {"input": {}, "output": {}}
        raise RuntimeError("source broke")

    with pytest.raises(RuntimeError, match="source broke"):
        pu.hash_examples(gen())


def test_mapping_whose_getitem_raises() -> None:
    from collections.abc import Mapping

    class Broken(Mapping[str, Any]):
        def __getitem__(self, key: str) -> Any:
            raise RuntimeError("boom")

        def __iter__(self) -> Any:
            return iter(["input"])

        def __len__(self) -> int:
            return 1

    with pytest.raises(pu.InvalidExampleError, match="boom"):
        pu.hash_examples([Broken()])


def test_error_attributes() -> None:
    err = pu.DuplicateSourceIdError("dup", ids=["a"], index=3)
    assert err.ids == ["a"] and err.index == 3 and err.path == "" and err.line is None
    assert issubclass(pu.InvalidInputError, pu.PhoenixUpsertError)


def test_new_error_classes() -> None:
    assert issubclass(pu.NullCharacterError, pu.InvalidInputError)
    assert issubclass(pu.InternalError, pu.PhoenixUpsertError)
    assert issubclass(pu.InternalError, RuntimeError)
    assert not issubclass(pu.InternalError, pu.InvalidInputError)  # a bug, not bad input
    err = pu.NullCharacterError("m", path="input.q", index=2, source_id="x")
    assert (err.path, err.index, err.source_id) == ("input.q", 2, "x")


def test_storable_hashing_is_opt_in() -> None:
    """Plain hashing keeps hashing what Phoenix hashes; only a sync refuses what it cannot
    store."""
    row = {"input": {"n": 1e21, "s": "\x00"}, "output": {"i": 2**64}}
    assert pu.hash_examples([row]) == [pu.content_hash(row["input"], row["output"], {})]
    with pytest.raises(pu.NumberOutOfRangeError):
        pu.hash_examples([row], storable=True)
    with pytest.raises(pu.NullCharacterError):
        pu.hash_examples([{"input": {"s": "\x00"}, "output": {}}], storable=True)


def test_error_paths_survive_user_code_emptying_the_dicts() -> None:
    """A key's `__repr__` (run only to describe an error) may empty the dicts being walked;
    the error still names the path, from keys the walk holds on to (run under
    PYTHONMALLOC=debug, a borrowed key read freed memory here)."""

    class Key:
        def __repr__(self) -> str:
            outer.clear()
            inner.clear()
            return "Key()"

    name = "k" * 40 + "é"
    inner: dict[Any, Any] = {Key(): 1}
    outer: dict[str, Any] = {name: inner}
    with pytest.raises(pu.NonStringKeyError) as e:
        pu.canonicalize(outer)
    assert e.value.path == f'["{name}"]'
    assert "dict key Key() (" in str(e.value)
