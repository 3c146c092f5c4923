"""Property tests: on random JSON documents, our bytes are the server canonicalizer's bytes."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from phoenix.utilities.content_hashing import compute_example_content_hash
from phoenix.vendor.json_canonicalization_scheme import canonicalize as phoenix_canonicalize

import phoenix_upsert as pu

from ..conftest import examples

# Text including astral characters, controls and separators; surrogates come separately.
text = st.text(st.characters(exclude_categories=("Cs",)), max_size=12)
doubles = st.floats(allow_nan=False, allow_infinity=False)
# Integers of every size a double can hold, big ones included (hashed as their double).
integers = st.one_of(
    st.integers(min_value=-(2**64), max_value=2**64),
    st.integers(min_value=-(10**300), max_value=10**300),
)
scalars = st.one_of(st.none(), st.booleans(), doubles, integers, text)
json_values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=5),
        st.dictionaries(text, children, max_size=5),
    ),
    max_leaves=40,
)
objects = st.dictionaries(text, json_values, max_size=6)

SETTINGS = settings(
    max_examples=examples(400), deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


@SETTINGS
@given(json_values)
def test_canonicalize_equals_phoenix(value: Any) -> None:
    assert pu.canonicalize(value) == phoenix_canonicalize(value)


@SETTINGS
@given(json_values)
def test_canonicalize_json_text_equals_phoenix(value: Any) -> None:
    text = json.dumps(value, ensure_ascii=False)
    assert pu.canonicalize_json(text) == phoenix_canonicalize(json.loads(text))


@SETTINGS
@given(json_values, st.sampled_from([None, 1, "\t"]))
def test_canonicalize_json_text_with_ascii_escapes_and_indents(value: Any, indent: Any) -> None:
    # \uXXXX escapes for every non-ASCII character and whitespace between tokens: what the
    # core's fast path decodes itself, or leaves to the full reader.
    text = json.dumps(value, ensure_ascii=True, indent=indent)
    assert pu.canonicalize_json(text) == phoenix_canonicalize(json.loads(text))


@SETTINGS
@given(st.lists(st.tuples(objects, objects, objects), max_size=8))
def test_hashes_equal_phoenix(examples: list[tuple[Any, Any, Any]]) -> None:
    rows = [{"input": i, "output": o, "metadata": m} for i, o, m in examples]
    expected = [
        compute_example_content_hash(input=i, output=o, metadata=m).hex() for i, o, m in examples
    ]
    assert pu.hash_examples(rows) == expected
    data = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode()
    assert pu.scan_jsonl(data).hashes == expected


# Anything, including what JSON cannot hold: whatever we accept, Phoenix must produce the
# same bytes for; whatever we reject, with a typed error.
anything = st.recursive(
    st.one_of(
        scalars,
        st.floats(),  # NaN and infinities
        st.text(max_size=4),  # lone surrogates included
        st.integers(min_value=-(10**400), max_value=10**400),
        st.binary(max_size=3),
        st.sets(st.integers(), max_size=2),
    ),
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.one_of(st.text(max_size=4), st.integers()), children, max_size=4),
        st.tuples(children, children),
    ),
    max_leaves=20,
)


@settings(max_examples=examples(600), deadline=None)
@given(anything)
def test_whatever_we_accept_phoenix_agrees_with(value: Any) -> None:
    try:
        ours = pu.canonicalize(value)
    except pu.InvalidInputError:
        return
    assert ours == phoenix_canonicalize(value)


@SETTINGS
@given(st.lists(st.one_of(st.none(), st.text(max_size=6)), max_size=5))
def test_split_names_are_what_the_server_stores(names: list[str | None]) -> None:
    """The core's split rule, from both front ends: the names as the server would store them
    (str.strip, non-empty, a set; sorted here)."""
    from phoenix_upsert._native import scan_examples

    data = (json.dumps({"input": {}, "output": {}, "splits": names}) + "\n").encode()
    server = sorted({s.strip() for s in names if s is not None and s.strip()})
    for value in (names, tuple(names), set(names), frozenset(names)):
        row = {"input": {}, "output": {}, "splits": value}
        assert scan_examples([row], splits_key="splits").splits == [server]
    assert pu.scan_jsonl(data, splits_key="splits").splits == [server]


@SETTINGS
@given(st.lists(st.tuples(objects, objects, objects), max_size=8))
def test_syncing_refuses_or_hashes_the_same(examples: list[tuple[Any, Any, Any]]) -> None:
    """The storable rules only ever refuse, with the same typed error from both front ends;
    they never change a hash."""
    rows = [{"input": i, "output": o, "metadata": m} for i, o, m in examples]
    data = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode()
    outcomes = []
    for hashes in (
        lambda: pu.hash_examples(rows, storable=True),
        lambda: pu.scan_jsonl(data, storable=True).hashes,
    ):
        try:
            outcomes.append(hashes())
        except (pu.NumberOutOfRangeError, pu.NullCharacterError) as err:
            outcomes.append((type(err), err.path))
    assert outcomes[0] == outcomes[1]
    if isinstance(outcomes[0], list):
        assert outcomes[0] == pu.hash_examples(rows)
