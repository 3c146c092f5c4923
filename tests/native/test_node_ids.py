"""Example node ids are decoded exactly as the Phoenix server decodes incoming example ids.

The oracle is the server's own function, called in-process: ``_get_dataset_example_node_id``
in ``phoenix/db/insertion/dataset.py`` (strawberry's GlobalID decoding, ``base64.b64decode``
without validation, then ``int()``). Ours is observed through ``phoenix_upsert.diff``: an
incoming id the core takes for a node id matches the previous example with that row id, or
lands in ``unknown_node_ids``; any other id is an external id.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from phoenix.db.insertion.dataset import _get_dataset_example_node_id

import phoenix_upsert as pu

from ..conftest import examples


def in_i64(row: int | None) -> bool:
    return row is not None and -(2**63) <= row < 2**63


H_NODE, H_EXT, H_NEW = "1" * 32, "2" * 32, "3" * 32
OTHER_ROW = 987_654_321  # the external-id example's own row: no spelling below decodes to it


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def node(row: int | str) -> str:
    return b64(f"DatasetExample:{row}".encode())


def server(spelling: str) -> str:
    """What the server makes of an incoming id: ``row <n>``, ``unknown`` or ``external``."""
    row = _get_dataset_example_node_id(spelling)
    if row is None:
        return "external"
    return f"row {row}" if in_i64(row) else "unknown"


def ours(spelling: str, diff: Callable[..., Any] = pu.diff) -> str:
    """What our diff makes of it, against a previous example with the row the server would
    decode (if any) and another whose external id is the spelling itself."""
    expected = _get_dataset_example_node_id(spelling)
    row = expected if expected is not None and in_i64(expected) else 12345
    assert row != OTHER_ROW
    previous = [(node(row), None, H_NODE), (node(OTHER_ROW), spelling, H_EXT)]
    d = diff(previous, [(spelling, H_NEW)])
    if d.unknown_node_ids == [0]:
        return "unknown"
    if d.updated == [(0, 0)]:
        return f"row {row}"
    if d.updated == [(0, 1)]:
        return "external"
    return f"other: {d!r}"


def _insert(s: str, at: int, what: str) -> str:
    return s[:at] + what + s[at:]


def crafted() -> list[str]:
    """Spellings of (almost) node ids, one kind of leniency each."""
    out: list[str] = []
    rows: list[Any] = [0, 1, 42, 2**31, 2**63 - 1, 2**63, -(2**63), -(2**63) - 1, 10**30]
    out += [node(r) for r in rows]
    # Padding: missing, extra, in the middle, data after it.
    n42, n7 = node(42), node(7)  # 'RGF0YXNldEV4YW1wbGU6NDI=', 'RGF0YXNldEV4YW1wbGU6Nw=='
    out += [n42.rstrip("="), n7.rstrip("="), n7[:-1], n42 + "=", n7 + "=", n42 + "=="]
    out += [n42 + "AAAA", n7 + "Zm9v", n7 + "=junk", n42 + "junk", n7 + "==QUJD"]
    out += [_insert(n42, 4, "="), _insert(n42, 22, "="), _insert(n42, 21, "=="), "=" + n42]
    out += [_insert(n7, 21, "="), _insert(n7, 22, "=") + "x"]
    # Characters outside the alphabet, anywhere: dropped by the server.
    for junk in (" ", "\n", "\t", "-", "_", ".", "!", "é", "\u3000", "\x00", "~", ":"):
        for at in (0, 5, 20, len(n42) - 1, len(n42)):
            out.append(_insert(n42, at, junk))
    out += [n42.replace("R", "R\r\n"), " " + n42 + " ", n42.lower(), n42.upper()]
    # The URL-safe alphabet: '-' and '_' are not base64 to the server.
    out += [node(62).replace("+", "-"), b64(b"DatasetExample:>>?").replace("+", "-")]
    out += [b64(b"DatasetExample:?>?").replace("/", "_")]
    # Unused trailing bits set (the server does not insist they are zero).
    out += [n42[:-2] + "J=", n7[:-3] + "x==", n7[:-3] + "/=="]
    # What int() takes: whitespace, signs, underscores, zeros, other scripts' digits.
    numbers = [
        " 42",
        "42 ",
        "\t42\n",
        "\x0b42\x0c",
        "\r42",
        "\u300042",
        "\xa042\u2003",
        "\x8542",
        "\u202f42\u205f",
        "\x1c42",
        "\x1f42",
        "\u180e42",
        "\u200b42",
        "+42",
        "-42",
        "--42",
        "+-42",
        "-0",
        "+0",
        "- 42",
        "4 2",
        "4_2",
        "4__2",
        "_42",
        "42_",
        "+_42",
        "1_000_000",
        "0_0",
        "0042",
        "000",
        "0" * 4299 + "7",
        "0" * 4301 + "7",
        "٤٢",
        "४२",
        "\uff14\uff12",
        "4٢",
        "\U0001d7d2\U0001d7d0",
        "᠔᠒",
        "²",
        "Ⅻ",
        "④",
        "٤_٢",
        "\u0664\u200b",
        "9223372036854775807",
        "9223372036854775808",
        "-9223372036854775808",
        "-9223372036854775809",
        "1" * 100,
        "9" * 4300,
        "9" * 4301,
        "",
        " ",
        "0x2A",
        "1e3",
        "42.0",
        "4\x002",
        "42\x00",
        "\x0042",
        "inf",
        "nan",
        ":42",
        "42:1",
        "٤٢:",
        "\U0001fbf4\U0001fbf2",
        "\U00011f54",
    ]
    out += [node(n) for n in numbers]
    # Not a DatasetExample, or not UTF-8.
    out += [b64(b"Dataset:42"), b64(b"DatasetExample42"), b64(b"datasetexample:42")]
    out += [b64(b"DatasetExample :42"), b64(b" DatasetExample:42"), b64(b"DatasetExample")]
    out += [b64(b"DatasetExample:\xff42"), b64(b"DatasetExample:4\xc3"), b64(b"\xffDataset")]
    out += [b64(b"DatasetExampleX:42"), b64(b"DatasetExample:42").replace("6", "7", 1)]
    out += ["q1", "", "RGF0YXNldEV4YW1wbGU6", "RGF0YXNldEV4YW1wbGU", "RGF0YXNldEV4YW1wbGU6NDI"]
    return list(dict.fromkeys(out))


CRAFTED = crafted()


def differences(diff: Callable[..., Any] = pu.diff) -> list[tuple[str, str, str]]:
    return [(s, server(s), ours(s, diff)) for s in CRAFTED if server(s) != ours(s, diff)]


def test_crafted_spellings_decode_as_the_server_decodes_them() -> None:
    assert len(CRAFTED) >= 120
    kinds = {server(s).split()[0] for s in CRAFTED}
    assert kinds == {"row", "unknown", "external"}, kinds  # the spellings reach every verdict
    assert differences() == []


@settings(max_examples=examples(1500), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=40))
def test_random_text_decodes_as_the_server_decodes_it(text: str) -> None:
    assert ours(text) == server(text)


# Random strings almost never decode to "DatasetExample:"; these do, then vary the rest.
_number_chars = st.sampled_from(
    [
        *"0123456789+-_ \t\n\x0b\x0c\r\x1c:.eE",
        *("\u0660", "\u0669", "\u0966", "\uff11", "\U0001d7ce", "\xa0", "\u3000", "\x85", "\u2028"),
    ]
)
_node_text = st.one_of(st.text(_number_chars, max_size=25), st.text(max_size=10))


@settings(max_examples=examples(1500), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    _node_text,
    st.lists(st.tuples(st.integers(0, 60), st.sampled_from(list(" =-_.é\n\x00!"))), max_size=3),
)
def test_random_node_ids_decode_as_the_server_decodes_them(
    rest: str, junk: list[tuple[int, str]]
) -> None:
    spelling = b64(b"DatasetExample:" + rest.encode("utf-8", "surrogatepass"))
    for at, what in junk:
        spelling = _insert(spelling, min(at, len(spelling)), what)
    assert ours(spelling) == server(spelling)
