"""The core's plan as the property tests of ``test_plan.py`` drive it: a server state (the
dataset, its versions, its examples as parallel lists), the plan of a source from it, and
the state after the plan landed — thin wrappers over ``_native.plan`` and
``_native.manifest_after_write`` (the sync engine itself runs them inside the core)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from phoenix_upsert._native import manifest_after_write
from phoenix_upsert._native import plan as plan_core
from phoenix_upsert.results import Mode, SyncPlan


@dataclass
class Columns:
    """A source as the planner sees it: per example its source id, content hash and split
    names (``None``: the source says nothing of splits)."""

    ids: list[str | None]
    hashes: list[str]
    splits: list[tuple[str, ...]] | None
    lines: list[int] | None = None

    def __len__(self) -> int:
        return len(self.hashes)


@dataclass
class ServerExamples:
    """The examples of one dataset version, as parallel lists."""

    node_ids: list[str]
    external_ids: list[str | None]
    hashes: list[str]
    splits: list[tuple[str, ...]]

    def __len__(self) -> int:
        return len(self.hashes)

    @classmethod
    def empty(cls) -> ServerExamples:
        return cls([], [], [], [])


@dataclass
class State:
    info: dict[str, Any] | None
    versions: list[dict[str, Any]]
    examples: ServerExamples


@dataclass(frozen=True)
class Planned:
    deleted: list[int]
    matched: list[tuple[int, int]]
    full: bool


def make_plan(
    source: Columns, state: State, *, name: str, mode: Mode, snapshot: bool = False
) -> tuple[SyncPlan, Planned]:
    prev = state.examples
    action, added, updated, split_changes, deleted, unchanged, matched, full = plan_core(
        (prev.node_ids, prev.external_ids, prev.hashes, [list(s) for s in prev.splits]),
        source.ids,
        source.hashes,
        None if source.splits is None else [list(s) for s in source.splits],
        source.lines,
        merge=mode == "merge",
        exists=state.info is not None,
        snapshot=snapshot,
        unknown=False,
    )
    ids = source.ids
    plan = SyncPlan(
        dataset_name=name,
        dataset_id=None if state.info is None else str(state.info["id"]),
        base_version_id=str(state.versions[0]["version_id"]) if state.versions else None,
        mode=mode,
        action=action,  # type: ignore[arg-type]
        added=tuple(ids[i] for i in added),
        updated=tuple(ids[i] for i in updated),
        split_changes=tuple(ids[i] for i in split_changes),
        deleted=tuple(prev.external_ids[p] or prev.node_ids[p] for p in deleted),
        unchanged=unchanged,
        added_indices=tuple(added),
        updated_indices=tuple(updated),
        split_change_indices=tuple(split_changes),
    )
    return plan, Planned(deleted, matched, full)


def state_after(plan: SyncPlan, state: State, source: Columns, planned: Planned) -> ServerExamples:
    prev = state.examples
    node_ids, external_ids, hashes, splits = manifest_after_write(
        (prev.node_ids, prev.external_ids, prev.hashes, [list(s) for s in prev.splits]),
        source.ids,
        source.hashes,
        None if source.splits is None else [list(s) for s in source.splits],
        planned.matched,
        plan.mode == "merge",
    )
    return ServerExamples(node_ids, external_ids, hashes, [tuple(s) for s in splits])
