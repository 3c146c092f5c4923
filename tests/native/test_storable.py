"""What a sync refuses because Phoenix cannot store it, and what a source id means — one
rule in the native core, the same for Python objects and JSONL text.

- Whole numbers outside [-2^63, 2^64-1] (ints, and floats PostgreSQL hands back as ints);
- U+0000 in strings, keys, split names, span ids and ids;
- source ids: a str as it is, an integer (any size) as its decimal text, else an error.

The rules are checked against the real thing too: the edge values, uploaded to Phoenix on
SQLite and on PostgreSQL without our checks, fail there exactly where we refuse them.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from phoenix.utilities.content_hashing import compute_example_content_hash

import phoenix_upsert as pu
from phoenix_upsert import Client
from phoenix_upsert.testing import LocalPhoenix

from ..conftest import Recorder

# -- numbers -------------------------------------------------------------------------------

UNSTORABLE = [
    1e21,
    -1e19,
    1.5e300,
    2.0**64,  # written 1.8446744073709552e+19
    -(2.0**63),  # written -9.223372036854776e+18: below -2^63 once PostgreSQL reads it
    -1.7976931348623157e308,
    2**64,
    -(2**63) - 1,
    10**30,
    -(10**300),
]
STORABLE = [
    2**64 - 1,
    -(2**63),
    1e19,
    -9.223372036854775e18,  # the double right above -2^63
    1.844674407370955e19,  # the double right below 2^64
    1e16,
    123.0,
    -0.0,
    0.5,
    5e-324,
]


def pg_reads_back(value: float) -> bool:
    """The rule, derived from what the server does rather than from our code: Phoenix writes a
    float with orjson; PostgreSQL's JSONB keeps a number without fractional digits (after its
    exponent) as an integer, which orjson must take again on every read."""
    text = orjson.dumps(value).decode()
    mantissa, _, exponent = text.partition("e")
    fraction = len(mantissa.partition(".")[2])
    if not exponent or fraction > int(exponent):
        return True  # stays a non-integer
    return -(2**63) <= int(Decimal(text)) <= 2**64 - 1


def example(value: Any, key: str = "n") -> dict[str, Any]:
    return {"id": "bad", "input": {"q": "x"}, "output": {"a": [1, {key: value}]}}


def jsonl_of(rows: list[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode()


GOOD = [{"id": f"g{i}", "input": {"i": i}, "output": {}} for i in range(5)]


@pytest.mark.parametrize("value", UNSTORABLE, ids=repr)
def test_unstorable_numbers_are_refused_alike(value: Any) -> None:
    rows = [*GOOD, example(value)]
    with pytest.raises(pu.NumberOutOfRangeError) as objects:
        pu.hash_examples(rows, storable=True)
    with pytest.raises(pu.NumberOutOfRangeError) as text:
        pu.scan_jsonl(jsonl_of(rows), id_key="id", storable=True)
    assert objects.value.index == 5 and objects.value.path == "output.a[1].n"
    assert text.value.line == 6 and text.value.path == "output.a[1].n"
    assert text.value.source_id == "bad"
    assert str(objects.value).startswith("example 5, output.a[1].n: number outside")
    assert str(text.value).startswith("line 6, column ")
    assert text.value.column is not None and " (id 'bad'), output.a[1].n: " in str(text.value)
    assert str(objects.value).split(": ", 1)[1] == str(text.value).split(": ", 1)[1]
    if isinstance(value, float):
        assert not pg_reads_back(value)
    # Hashing alone takes them (Phoenix hashes them), unless beyond a double.
    expected = compute_example_content_hash(
        input=rows[5]["input"], output=rows[5]["output"], metadata={}
    ).hex()
    assert pu.hash_examples(rows)[5] == expected
    if not (isinstance(value, int) and abs(value) > 1e308):
        assert pu.scan_jsonl(jsonl_of(rows)).hashes[5] == expected


@pytest.mark.parametrize("value", STORABLE, ids=repr)
def test_storable_numbers_pass_alike(value: Any) -> None:
    rows = [*GOOD, example(value)]
    hashes = pu.hash_examples(rows, storable=True)
    assert pu.scan_jsonl(jsonl_of(rows), id_key="id", storable=True).hashes == hashes
    if isinstance(value, float):
        assert pg_reads_back(value)


@settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.one_of(
        st.floats(allow_nan=False, allow_infinity=False),
        st.floats(min_value=-3e19, max_value=3e19),
        st.integers(min_value=-(2**53), max_value=2**53).map(lambda i: float(i) * 2048.0),
    )
)
def test_the_float_rule_is_what_postgresql_reads_back(value: float) -> None:
    row = {"input": {"v": value}, "output": {}}
    try:
        pu.hash_examples([row], storable=True)
        ours = True
    except pu.NumberOutOfRangeError:
        ours = False
    assert ours == pg_reads_back(value)
    try:
        pu.scan_jsonl(jsonl_of([row]), storable=True)
        ours_text = True
    except pu.NumberOutOfRangeError:
        ours_text = False
    assert ours_text == ours


@settings(max_examples=1000, deadline=None)
@given(st.integers(min_value=-(2**70), max_value=2**70))
def test_the_int_rule_is_orjsons_range(value: int) -> None:
    row = {"input": {"v": [value]}, "output": {}}
    storable = -(2**63) <= value <= 2**64 - 1
    for check in (
        lambda: pu.hash_examples([row], storable=True),
        lambda: pu.scan_jsonl(jsonl_of([row]), storable=True),
    ):
        try:
            check()
            assert storable, value
        except pu.NumberOutOfRangeError:
            assert not storable, value


# -- U+0000 ----------------------------------------------------------------------------------

NUL_CASES: list[tuple[str, dict[str, Any], str]] = [
    ("in a value", {"input": {"q": "a\x00b"}, "output": {}}, "input.q"),
    ("deep in a list", {"input": {}, "output": {"t": [1, ["x", "\x00"]]}}, "output.t[1][1]"),
    ("in a key", {"input": {"m": {"k\x00": 1}}, "output": {}}, "input.m"),
    ("in metadata", {"input": {}, "output": {}, "metadata": {"a b": "\x00"}}, 'metadata["a b"]'),
    ("alone", {"input": {}, "output": {}, "metadata": {"": "\x00"}}, 'metadata[""]'),
]


@pytest.mark.parametrize(("row", "path"), [c[1:] for c in NUL_CASES], ids=[c[0] for c in NUL_CASES])
def test_nul_is_refused_alike(row: dict[str, Any], path: str) -> None:
    rows = [*GOOD, {"id": "nul", **row}]
    with pytest.raises(pu.NullCharacterError) as objects:
        pu.hash_examples(rows, storable=True)
    data = jsonl_of(rows)
    assert b"\\u0000" in data  # JSON text can only hold it escaped
    with pytest.raises(pu.NullCharacterError) as text:
        pu.scan_jsonl(data, id_key="id", storable=True)
    assert (objects.value.index, objects.value.path) == (5, path)
    assert (text.value.line, text.value.path, text.value.source_id) == (6, path, "nul")
    assert "U+0000" in str(objects.value) and path in str(text.value)
    # Phoenix hashes it: hashing alone agrees with the server.
    expected = compute_example_content_hash(
        input=row["input"], output=row["output"], metadata=row.get("metadata", {})
    ).hex()
    assert pu.hash_examples(rows)[5] == pu.scan_jsonl(data).hashes[5] == expected


def test_a_raw_nul_byte_is_not_json() -> None:
    with pytest.raises(pu.JSONLSyntaxError) as info:
        pu.scan_jsonl(b'{"input": {"q": "a\x00b"}, "output": {}}\n', storable=True)
    assert info.value.path == "input.q"


def test_nul_in_an_overridden_duplicate_key_is_never_sent() -> None:
    data = b'{"input": {"q": "\\u0000", "q": "fine"}, "output": {}}\n'
    assert pu.scan_jsonl(data, storable=True).hashes == [pu.content_hash({"q": "fine"}, {}, {})]


@pytest.mark.parametrize("nul_at", [3, 255, 256, 300, 1000, 1499])
@pytest.mark.parametrize("other_at", [0, 100, 256, 700, 1499])
def test_the_first_bad_example_is_reported(nul_at: int, other_at: int) -> None:
    """For Python objects U+0000 is found while hashing (on worker threads, in batches of
    256), other problems while walking the objects (in order, ahead of the hashing); in JSONL
    both are found line by line, in parallel chunks. Either way the first bad example of the
    source is the one reported."""
    if other_at == nul_at:
        return
    rows: list[Any] = [{"input": {"i": i}, "output": {"s": "x" * 50}} for i in range(1500)]
    rows[nul_at] = {"input": {"i": "\x00"}, "output": {}}
    rows[other_at] = {"input": {"i": 1e30}, "output": {}}
    first = min(nul_at, other_at)
    error = pu.NullCharacterError if first == nul_at else pu.NumberOutOfRangeError
    with pytest.raises(error) as objects:
        pu.hash_examples(rows, storable=True)
    with pytest.raises(error) as text:
        pu.scan_jsonl(jsonl_of(rows), storable=True)
    assert (objects.value.index, objects.value.path) == (first, "input.i")
    assert (text.value.line, text.value.path) == (first + 1, "input.i")
    rows[other_at] = {"input": {"i": float("nan")}, "output": {}}  # found by the walk too
    error = pu.NullCharacterError if first == nul_at else pu.NonFiniteNumberError
    with pytest.raises(error) as objects:
        pu.hash_examples(rows, storable=True)
    assert objects.value.index == first


def test_nul_in_names_and_ids_from_both_front_ends(tmp_path: Path, offline: Client) -> None:
    cases: list[tuple[str, Any, type[Exception], str]] = [
        ("splits", ["train", "te\x00st"], pu.NullCharacterError, "splits[1]"),
        ("splits", "tr\x00ain", pu.NullCharacterError, "splits"),
        ("span_id", "ab\x00", pu.NullCharacterError, "span_id"),
        ("id", "q\x00", pu.InvalidSourceIdError, ""),
    ]
    for key, value, error, path in cases:
        rows = [{"id": f"g{i}", "input": {}, "output": {}} for i in range(3)]
        rows.append({"id": "x", "input": {}, "output": {}, key: value})
        file = tmp_path / "nul.jsonl"
        file.write_bytes(jsonl_of(rows))
        for source in (rows, file):
            with pytest.raises(error) as info:
                offline.datasets.upsert_dataset(
                    dataset="never-sent",
                    examples=source,
                    splits_key="splits",
                    span_id_key="span_id",
                    manifest=False,
                )
            assert info.value.path == path, (key, source, str(info.value))  # type: ignore[attr-defined]
            assert ("line 4" if source is file else "example 3") in str(info.value)


# -- source ids ------------------------------------------------------------------------------

ID_CASES: list[tuple[str, Any, str, str]] = [
    ("string", "q1", '"q1"', "q1"),
    ("non-ASCII string", "é日", '"\\u00e9日"', "é日"),
    ("int", 12, "12", "12"),
    ("negative int", -12, "-12", "-12"),
    ("zero", 0, "0", "0"),
    ("minus zero", -0, "-0", "0"),  # JSON has -0; json.loads("-0") is the int 0
    ("beyond 64 bits", 2**64, "18446744073709551616", "18446744073709551616"),
    ("far beyond", -(10**40), "-1" + "0" * 40, "-1" + "0" * 40),
]


@pytest.mark.parametrize(
    ("value", "raw", "text"), [c[1:] for c in ID_CASES], ids=[c[0] for c in ID_CASES]
)
def test_ids_mean_the_same_in_every_source(value: Any, raw: str, text: str) -> None:
    from phoenix_upsert._native import source_id

    assert str(json.loads(raw)) == text  # what Python makes of the JSON text
    assert source_id(value) == text
    line = f'{{"id": {raw}, "input": {{}}, "output": {{}}}}\n'.encode()
    assert pu.scan_jsonl(line, id_key="id").ids == [text]
    assert pu.scan_jsonl(line, id_key="id", storable=True).ids == [text]


BAD_IDS: list[tuple[str, Any, str]] = [
    ("float", 1.5, "1.5"),
    ("integral float", 1.0, "1.0"),
    ("exponent", 1e3, "1e3"),
    ("minus zero float", -0.0, "-0.0"),
    ("bool", True, "true"),
    ("empty", "", '""'),
    ("NUL", "a\x00", '"a\\u0000"'),
    ("lone surrogate", "a\ud800", '"a\\ud800"'),
    ("list", [1], "[1]"),
]


@pytest.mark.parametrize(("value", "raw"), [c[1:] for c in BAD_IDS], ids=[c[0] for c in BAD_IDS])
def test_bad_ids_are_refused_alike(value: Any, raw: str, tmp_path: Path, offline: Client) -> None:
    rows: list[dict[str, Any]] = [{"id": f"g{i}", "input": {}, "output": {}} for i in range(3)]
    file = tmp_path / "ids.jsonl"
    file.write_bytes(jsonl_of(rows) + f'{{"input": {{}}, "output": {{}}, "id": {raw}}}\n'.encode())
    rows.append({"id": value, "input": {}, "output": {}})
    errors = []
    for source in (rows, file):
        with pytest.raises(pu.InvalidSourceIdError) as info:
            offline.datasets.upsert_dataset(dataset="never-sent", examples=source, manifest=False)
        errors.append(info.value)
    objects, text = errors
    assert objects.index == 3 and str(objects).startswith("example 3: the source id")
    assert text.line == 4 and text.column == 35  # where the id's value starts
    assert str(text).startswith("line 4, column 35: the source id")
    assert objects.path == text.path == ""


def test_a_plain_scan_keeps_empty_ids() -> None:
    """Reading (e.g. a server's export) is not syncing: only the sync insists."""
    line = b'{"id": "", "input": {}, "output": {}}\n'
    assert pu.scan_jsonl(line, id_key="id").ids == [""]


# -- against the real servers ----------------------------------------------------------------


@pytest.fixture
def offline(recorder: Recorder) -> Any:
    http = httpx.Client(base_url="http://127.0.0.1:9", event_hooks={"request": [recorder]})
    yield Client(http_client=http)
    http.close()
    assert recorder.requests == [], "nothing may be sent"


def _upload_and_read(phoenix: LocalPhoenix, name: str, body: dict[str, Any]) -> bool:
    """Upload without our checks, then read the dataset back two ways: did it all work?"""
    with httpx.Client(base_url=phoenix.base_url, timeout=60) as http:
        r = http.post(
            "v1/datasets/upload",
            params={"sync": "true"},
            content=json.dumps({"action": "create", "name": name, **body}),
            headers={"content-type": "application/json"},
        )
        if r.status_code != 200:
            assert r.status_code >= 500, r.text
            return False
        dataset_id = r.json()["data"]["dataset_id"]
    for path in (f"v1/datasets/{dataset_id}/examples", f"v1/datasets/{dataset_id}/jsonl"):
        try:
            with httpx.Client(base_url=phoenix.base_url, timeout=60) as http:
                if http.get(path).status_code != 200:
                    return False
        except httpx.TransportError:  # some read paths drop the connection instead of a 500
            return False
    return True


def test_the_rules_match_what_the_server_stores(phoenix: LocalPhoenix, name: str) -> None:
    """Every value we accept round-trips through the server; every value we refuse breaks
    the upload or the reads on PostgreSQL (SQLite takes some of them: refused anyway, so that
    a source syncs the same to every backend)."""
    bodies: list[tuple[bool, dict[str, Any]]] = []
    for value in [*UNSTORABLE[:7], *STORABLE]:
        row = {"input": {"v": value}, "output": {}}
        try:
            pu.hash_examples([row], storable=True)
            accepted = True
        except pu.NumberOutOfRangeError:
            accepted = False
        bodies.append((accepted, {"inputs": [{"v": value}], "outputs": [{}], "metadata": [{}]}))
    one = {"inputs": [{}], "outputs": [{}], "metadata": [{}]}
    bodies += [
        (False, {**one, "inputs": [{"q": "a\x00b"}]}),
        (False, {**one, "inputs": [{"k\x00": 1}]}),
        (False, {**one, "example_ids": ["q\x00"]}),
        (False, {**one, "splits": [["tr\x00ain"]]}),
        (False, {**one, "span_ids": ["ab\x00"]}),
        (True, {**one, "inputs": [{"q": "a\x01b\u2028"}], "example_ids": ["q\x01"]}),
    ]
    for k, (accepted, body) in enumerate(bodies):
        works = _upload_and_read(phoenix, f"{name}-{k}", body)
        if accepted:
            assert works, body
        elif phoenix.backend == "postgresql":
            assert not works, body
