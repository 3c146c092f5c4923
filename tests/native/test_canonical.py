"""Canonical JSON and content hashes, against the server's own code and the golden vectors."""

from __future__ import annotations

import json
from collections import OrderedDict
from enum import IntEnum
from pathlib import Path
from typing import Any

import pytest
from phoenix.utilities.content_hashing import compute_example_content_hash
from phoenix.vendor.json_canonicalization_scheme import canonicalize as phoenix_canonicalize

import phoenix_upsert as pu

ROOT = Path(__file__).resolve().parents[2]
VECTORS = json.loads((ROOT / "golden_vectors" / "vectors.json").read_text(encoding="utf-8"))
JCS = ROOT / "golden_vectors" / "jcs"


def phoenix_hash(example: dict[str, Any]) -> str:
    return compute_example_content_hash(
        input=example["input"], output=example["output"], metadata=example.get("metadata", {})
    ).hex()


@pytest.mark.parametrize("name", sorted(p.name for p in (JCS / "input").iterdir()))
def test_rfc8785_reference_files(name: str) -> None:
    text = (JCS / "input" / name).read_text(encoding="utf-8")
    expected = (JCS / "output" / name).read_bytes()
    assert pu.canonicalize(json.loads(text)) == expected
    assert pu.canonicalize_json(text) == expected
    assert phoenix_canonicalize(json.loads(text)) == expected


@pytest.mark.parametrize("vector", VECTORS["values"], ids=lambda v: v["name"])
def test_javascript_value_vectors(vector: dict[str, str]) -> None:
    expected = vector["canonical"].encode()
    value = json.loads(vector["json"])
    assert pu.canonicalize(value) == expected
    assert pu.canonicalize_json(vector["json"]) == expected
    assert pu.canonicalize_json(vector["json"].encode()) == expected
    # The vectors are only worth something if the server agrees with them too.
    assert phoenix_canonicalize(value) == expected


def test_javascript_example_vectors() -> None:
    examples = [json.loads(v["json"]) for v in VECTORS["examples"]]
    expected = [v["content_hash"] for v in VECTORS["examples"]]
    assert pu.hash_examples(examples) == expected
    assert [phoenix_hash(e) for e in examples] == expected
    for example, want in zip(examples, expected):
        assert pu.content_hash(example["input"], example["output"], example["metadata"]) == want


INVALID_CLASSES = {
    "lone_surrogate": pu.LoneSurrogateError,
    "number_out_of_range": pu.NumberOutOfRangeError,
    "invalid_json": pu.JSONSyntaxError,  # not JSONL: one JSON text
}


@pytest.mark.parametrize("vector", VECTORS["invalid"], ids=lambda v: v["name"])
def test_invalid_vectors_are_rejected(vector: dict[str, str]) -> None:
    with pytest.raises(INVALID_CLASSES[vector["error"]]) as info:
        pu.canonicalize_json(vector["json"])
    assert not isinstance(info.value, pu.JSONLSyntaxError)
    try:
        value = json.loads(vector["json"])  # Python accepts NaN and lone surrogates
    except ValueError:
        return
    with pytest.raises(pu.InvalidInputError):
        pu.canonicalize(value)


def test_number_formatting_matches_ecmascript() -> None:
    cases: list[tuple[Any, bytes]] = [
        (0.0, b"0"),
        (-0.0, b"0"),
        (1.0, b"1"),
        (1e21, b"1e+21"),
        (1e20, b"100000000000000000000"),
        (1e-7, b"1e-7"),
        (0.000001, b"0.000001"),
        (2**53 + 1, b"9007199254740992"),
        (-(2**53) - 1, b"-9007199254740992"),
        (2**64, b"18446744073709552000"),
        (10**30, b"1e+30"),
        (5e-324, b"5e-324"),
        (True, b"true"),
    ]
    for value, expected in cases:
        assert pu.canonicalize(value) == expected, value
        assert phoenix_canonicalize(value) == expected, value


def test_keys_sort_by_utf16_code_units() -> None:
    value = {"\uff61": 1, "\U0001f600": 2, "a": 3, "é": 4}
    out = pu.canonicalize(value)
    assert out == phoenix_canonicalize(value)
    assert out.decode() == '{"a":3,"é":4,"\U0001f600":2,"\uff61":1}'


def test_subclasses_are_read_by_value() -> None:
    class Color(IntEnum):
        RED = 1

    class MyStr(str):
        def __str__(self) -> str:
            return "not me"

    class MyFloat(float):
        pass

    value = {"e": Color.RED, "s": MyStr("x"), "f": MyFloat(1.5), "o": OrderedDict(b=1, a=2)}
    assert pu.canonicalize(value) == phoenix_canonicalize(value)
    assert pu.canonicalize((1, [2, (3,)])) == b"[1,[2,[3]]]"


def test_content_hash_matches_phoenix() -> None:
    ex = {"input": {"q": "Größe? 😀"}, "output": {"a": [1.5, 2**60]}, "metadata": {"t": None}}
    assert pu.content_hash(ex["input"], ex["output"], ex["metadata"]) == phoenix_hash(ex)
    assert len(pu.content_hash({}, {}, {})) == 32


def test_hash_examples_defaults_metadata_and_keeps_order() -> None:
    examples = [{"input": {"i": i}, "output": {"o": -i}} for i in range(3000)]
    hashes = pu.hash_examples(examples)
    assert hashes == [phoenix_hash(e) for e in examples]
    assert hashes == pu.hash_examples(iter(examples))  # any iterable
    assert pu.hash_examples([]) == []


def test_hash_examples_accepts_mappings_that_are_not_dicts() -> None:
    from types import MappingProxyType

    ex = MappingProxyType({"input": {"a": 1}, "output": {}})
    assert pu.hash_examples([ex]) == [phoenix_hash(dict(ex))]


def test_hash_examples_rejects_a_single_mapping() -> None:
    with pytest.raises(TypeError, match="single mapping"):
        pu.hash_examples({"input": {}, "output": {}})  # type: ignore[arg-type]
