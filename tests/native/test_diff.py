"""The keyed diff against Phoenix's own `_diff_examples`, on random inputs."""

from __future__ import annotations

import base64
import json
import random
from pathlib import Path

import pytest
from phoenix.db.insertion.dataset import (
    ExampleContent,
    ExampleWithHash,
    _diff_examples,
)

import phoenix_upsert as pu


def node_id(row: int) -> str:
    return base64.b64encode(f"DatasetExample:{row}".encode()).decode()


def phoenix_diff(
    previous: list[tuple[str, str | None, str]],
    incoming: list[tuple[str | None, str]],
    merge: bool,
) -> tuple[list[int], list[tuple[int, int]], list[tuple[int, int]], list[int]]:
    """Run the server's matcher and express its answer as indices, like pu.diff."""
    rows = [int(base64.b64decode(n).decode().split(":")[1]) for n, _, _ in previous]
    prev = [(row, ext, bytes.fromhex(h)) for row, (_, ext, h) in zip(rows, previous)]
    inc = [
        ExampleWithHash(content=ExampleContent(external_id=i), content_hash=bytes.fromhex(h))
        for i, h in incoming
    ]
    d = _diff_examples(incoming_examples=inc, previous=prev, skip_deletes=merge)
    index_of_row = {row: p for p, row in enumerate(rows)}
    position = {id(e): i for i, e in enumerate(inc)}
    added = sorted(position[id(e)] for e in d.create_examples)
    # The server's lists keep the content object; find each incoming index by identity.
    by_content = {id(e.content): i for i, e in enumerate(inc)}
    updated = sorted(
        (by_content[id(e.content)], index_of_row[e.example_id]) for e in d.patch_examples
    )
    unchanged = sorted(
        (by_content[id(e.content)], index_of_row[e.example_id]) for e in d.unchanged_examples
    )
    deleted = sorted(index_of_row[r] for r in d.delete_example_ids)
    return added, updated, unchanged, deleted


def random_case(
    rnd: random.Random, with_ids: float
) -> tuple[list[tuple[str, str | None, str]], list[tuple[str | None, str]]]:
    hashes = [f"{h:032x}" for h in range(8)]
    previous: list[tuple[str, str | None, str]] = []
    for row in range(1, rnd.randint(0, 40) + 1):
        ext = f"id{row}" if rnd.random() < with_ids else None
        previous.append((node_id(row), ext, rnd.choice(hashes)))
    incoming: list[tuple[str | None, str]] = []
    used: set[str] = set()
    for _ in range(rnd.randint(0, 40)):
        r = rnd.random()
        if r < with_ids:
            candidate = f"id{rnd.randint(1, 60)}"
        elif r < with_ids + 0.1 and previous:
            candidate = rnd.choice(previous)[0]  # a node id of an existing example
        else:
            candidate = None
        if candidate is not None and candidate in used:
            continue
        if candidate is not None:
            used.add(candidate)
        incoming.append((candidate, rnd.choice(hashes)))
    return previous, incoming


@pytest.mark.parametrize("with_ids", [0.0, 0.5, 0.9, 1.0])
@pytest.mark.parametrize("merge", [False, True])
def test_matches_phoenix_on_random_cases(with_ids: float, merge: bool) -> None:
    rnd = random.Random(int(with_ids * 100) + merge)
    for _ in range(300):
        previous, incoming = random_case(rnd, with_ids)
        d = pu.diff(previous, incoming, merge=merge)
        mine = (sorted(d.added), sorted(d.updated), sorted(d.unchanged), sorted(d.deleted))
        assert mine == phoenix_diff(previous, incoming, merge), (previous, incoming)


def test_duplicate_ids_are_an_error_listing_them() -> None:
    incoming = [
        ("a", "0" * 32),
        ("b", "0" * 32),
        ("a", "1" * 32),
        ("b", "2" * 32),
        (None, "0" * 32),
    ]
    with pytest.raises(pu.DuplicateSourceIdError) as info:
        pu.diff([], incoming)
    assert info.value.ids == ["a", "b"]
    assert "2 source id(s) occur more than once: 'a' (example 0, example 2)" in str(info.value)


def test_unknown_node_ids_are_reported() -> None:
    d = pu.diff([(node_id(1), None, "0" * 32)], [(node_id(7), "0" * 32)])
    assert d.unknown_node_ids == [0]
    assert d.added == [0] and d.deleted == [0]


def test_bad_hashes_and_shapes_are_rejected() -> None:
    with pytest.raises(TypeError, match="32 hex"):
        pu.diff([], [("a", "xyz")])
    with pytest.raises(TypeError, match="incoming"):
        pu.diff([], ["a"])  # type: ignore[list-item]


def test_scans_can_be_diffed_directly(tmp_path: Path) -> None:
    src = tmp_path / "src.jsonl"
    rows = [
        {"id": "a", "input": {"x": 1}, "output": {}},
        {"id": "b", "input": {"x": 2}, "output": {}},
    ]
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    exported = [
        {"id": "a", "node_id": node_id(1), "input": {"x": 1}, "output": {}, "metadata": {}},
        {"id": node_id(2), "node_id": node_id(2), "input": {"x": 9}, "output": {}, "metadata": {}},
    ]
    server = "".join(json.dumps(r) + "\n" for r in exported).encode()
    prev = pu.scan_jsonl(server, id_key="id", node_id_key="node_id")
    d = pu.diff(prev, pu.scan_jsonl(src, id_key="id"))
    assert d.unchanged == [(0, 0)] and d.added == [1] and d.deleted == [1]


def test_large_diff_is_fast_enough_to_not_matter() -> None:
    n = 200_000
    previous = [(node_id(i), f"id{i}", f"{i:032x}") for i in range(n)]
    incoming = [(f"id{i}", f"{i + (i % 100 == 0):032x}") for i in range(n)]
    d = pu.diff(previous, incoming)
    assert len(d.updated) == n // 100 and len(d.unchanged) == n - n // 100
