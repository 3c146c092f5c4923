"""The planner without a server: ``make_plan`` is a pure function of (source, state, mode),
checked on random states against Phoenix's own ``_diff_examples`` and against itself
(applying a plan leaves nothing to plan)."""

from __future__ import annotations

import base64
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from phoenix.db.insertion.dataset import (
    ExampleContent,
    ExampleWithHash,
    _diff_examples,
)

import phoenix_upsert as pu
from phoenix_upsert.results import Mode

from ..conftest import examples
from .planning import Columns, ServerExamples, State, make_plan, state_after

HASHES = [f"{i:032x}" for i in range(6)]
SPLITS: list[tuple[str, ...]] = [(), ("train",), ("test",), ("hard", "test")]


def node_id(row: int) -> str:
    return base64.b64encode(f"DatasetExample:{row}".encode()).decode()


@st.composite
def server_state(draw: Any) -> State:
    n = draw(st.integers(0, 12))
    rows = draw(st.lists(st.integers(1, 40), min_size=n, max_size=n, unique=True))
    external = draw(
        st.lists(st.sampled_from([None, "a", "b", "c", "d", "e", "f"]), min_size=n, max_size=n)
    )
    seen: set[str] = set()
    external_ids: list[str | None] = []
    for e in external:  # external ids are unique within a dataset
        external_ids.append(None if e is None or e in seen else e)
        if e is not None:
            seen.add(e)
    examples = ServerExamples(
        node_ids=[node_id(r) for r in rows],
        external_ids=external_ids,
        hashes=draw(st.lists(st.sampled_from(HASHES), min_size=n, max_size=n)),
        splits=draw(st.lists(st.sampled_from(SPLITS), min_size=n, max_size=n)),
    )
    info = {"id": "RGF0YXNldDox", "name": "d", "example_count": n}
    versions = [{"version_id": "RGF0YXNldFZlcnNpb246MQ==", "created_at": "2026-01-01T00:00:00"}]
    return State(info, versions, examples)


@st.composite
def source_for(draw: Any, state: State) -> Columns:
    prev = state.examples
    id_pool: list[str | None] = [None, "a", "b", "c", "g", "h"]
    id_pool += [n for n in prev.node_ids]  # node ids of this dataset's examples
    id_pool.append(node_id(99))  # a node id of no example here: rejected by the planner
    by_content = draw(st.booleans())
    n = draw(st.integers(0, 10))
    ids: list[str | None] = []
    for _ in range(n):
        i = None if by_content else draw(st.sampled_from(id_pool))
        if i is not None and i in ids:
            i = None if by_content else f"fresh{len(ids)}"
        ids.append(i)
    if not by_content and any(i is None for i in ids):
        ids = [i if i is not None else f"fresh{k}" for k, i in enumerate(ids)]
    carries_splits = draw(st.booleans())
    return Columns(
        ids=ids,
        hashes=draw(st.lists(st.sampled_from(HASHES), min_size=n, max_size=n)),
        splits=draw(st.lists(st.sampled_from(SPLITS), min_size=n, max_size=n))
        if carries_splits
        else None,
    )


def phoenix_diff(source: Columns, state: State, merge: bool) -> Any:
    prev = state.examples
    rows = [int(base64.b64decode(n).decode().split(":")[1]) for n in prev.node_ids]
    previous = [
        (row, ext, bytes.fromhex(h)) for row, ext, h in zip(rows, prev.external_ids, prev.hashes)
    ]
    incoming = [
        ExampleWithHash(
            content=ExampleContent(input={}, output={}, metadata={}, external_id=i),
            content_hash=bytes.fromhex(h),
        )
        for i, h in zip(source.ids, source.hashes)
    ]
    return _diff_examples(incoming_examples=incoming, previous=previous, skip_deletes=merge), rows


@st.composite
def case(draw: Any) -> tuple[State, Columns, Mode]:
    state = draw(server_state())
    return state, draw(source_for(state)), draw(st.sampled_from(["mirror", "merge"]))


@settings(max_examples=examples(500), deadline=None)
@given(case())
def test_plan_agrees_with_phoenix_and_applying_it_leaves_nothing(
    c: tuple[State, Columns, Mode],
) -> None:
    state, source, mode = c
    unknown = node_id(99) in source.ids
    by_node = {n: e for n, e in zip(state.examples.node_ids, state.examples.external_ids)}
    twice = any(by_node.get(i) in source.ids for i in source.ids if i in by_node)
    held = set(state.examples.hashes)
    try:
        plan, planned = make_plan(source, state, name="d", mode=mode)
    except pu.DuplicateContentError:
        # A merge adding, without an id, a copy of an example the dataset holds.
        assert mode == "merge" and any(
            i is None and h in held for i, h in zip(source.ids, source.hashes)
        )
        return
    except pu.DuplicateSourceIdError:
        assert twice  # an example named by its external id and by its node id
        return
    except pu.InvalidSourceIdError:
        assert unknown  # a node id of another dataset
        return
    assert not unknown and not twice
    theirs, rows = phoenix_diff(source, state, mode == "merge")
    assert len(plan.added) == len(theirs.create_examples)
    assert len(plan.updated) == len(theirs.patch_examples)
    deleted_rows = sorted(rows[p] for p in planned.deleted)
    assert deleted_rows == sorted(theirs.delete_example_ids)
    split_changes = len(plan.split_changes)
    assert plan.unchanged + split_changes == len(theirs.unchanged_examples)
    if source.splits is None:
        assert split_changes == 0
    # The action: the fewest, smallest requests (an append cannot add a copy of an example the
    # dataset holds: Phoenix matches it by content).
    changes = plan.added or plan.updated or plan.deleted or plan.split_changes
    copies = [i for i in plan.added_indices if source.ids[i] is None and source.hashes[i] in held]
    expected = "none" if not changes else "update" if plan.deleted or copies else "append"
    assert plan.action == expected
    if mode == "merge":
        assert not plan.deleted
    # Applying the plan leaves nothing to plan: the state after it holds the source.
    after = State(state.info, state.versions, state_after(plan, state, source, planned))
    again, _ = make_plan(source, after, name="d", mode=mode)
    assert again.action == "none", (plan, again)
    if mode == "mirror":
        assert len(after.examples) == len(source)
    else:
        assert len(after.examples) == len(source) + len(state.examples) - len(planned.matched)


def test_a_new_dataset_is_created_even_when_empty() -> None:
    state = State(None, [], ServerExamples.empty())
    source = Columns(ids=[], hashes=[], splits=None)
    plan, _ = make_plan(source, state, name="new", mode="mirror")
    assert plan.action == "create" and plan.dataset_id is None and plan.base_version_id is None
