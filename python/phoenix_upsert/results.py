"""What a sync reports: its plan, a summary, and the dataset version it produced.

Nothing here imports phoenix-client (the command line never does); the ``Dataset`` that
``run_experiment`` takes is :class:`phoenix_upsert.dataset.UpsertedDataset`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Mode = Literal["mirror", "merge"]
Action = Literal["none", "create", "append", "update"]


@dataclass(frozen=True)
class SyncSummary:
    """How many examples fell in each class.

    ``updated`` counts examples whose content changed and examples whose only change is
    their split assignment (Phoenix reports both as updated).
    """

    added: int
    updated: int
    deleted: int
    unchanged: int

    def as_dict(self) -> dict[str, int]:
        return {
            "added": self.added,
            "updated": self.updated,
            "deleted": self.deleted,
            "unchanged": self.unchanged,
        }


@dataclass(frozen=True)
class SyncPlan:
    """What a sync does (or, in a dry run, would do), by source id.

    Ids are the examples' source ids (``None`` for examples synced by content only); for
    deleted examples, the external id on the server, or the node id if it has none. The
    ``*_indices`` fields give positions in the source (0-based). ``unchanged`` counts the
    examples with the same content and the same splits.
    """

    dataset_name: str
    dataset_id: str | None
    base_version_id: str | None
    mode: Mode
    action: Action
    added: tuple[str | None, ...] = ()
    updated: tuple[str | None, ...] = ()
    split_changes: tuple[str | None, ...] = ()
    deleted: tuple[str, ...] = ()
    unchanged: int = 0
    added_indices: tuple[int, ...] = field(default=(), repr=False)
    updated_indices: tuple[int, ...] = field(default=(), repr=False)
    split_change_indices: tuple[int, ...] = field(default=(), repr=False)

    @property
    def summary(self) -> SyncSummary:
        return SyncSummary(
            added=len(self.added),
            updated=len(self.updated) + len(self.split_changes),
            deleted=len(self.deleted),
            unchanged=self.unchanged,
        )

    @property
    def has_changes(self) -> bool:
        return self.action != "none"

    @property
    def changes_content(self) -> bool:
        """Whether the sync creates a new dataset version (a split-only change does not:
        Phoenix does not version split assignments)."""
        return bool(self.added or self.updated or self.deleted)


@dataclass(frozen=True)
class SyncResult:
    """What a sync did and where it left the dataset: the engine's answer, before it is
    wrapped into an :class:`~phoenix_upsert.dataset.UpsertedDataset`."""

    dataset_info: dict[str, Any]
    version_id: str
    plan: SyncPlan
    #: How many writes the sync made (at least 1; more after a failure or a race).
    attempts: int = 1
    #: Whether another writer was seen changing the dataset during the sync.
    concurrent_writer: bool = False
    #: The versions the sync made, oldest first: one, or several for a sync that added more
    #: examples than one request to the server may (30,000), written in parts.
    versions: tuple[str, ...] = ()

    @property
    def summary(self) -> SyncSummary:
        return self.plan.summary

    @property
    def id(self) -> str:
        return str(self.dataset_info["id"])

    @property
    def name(self) -> str:
        return str(self.dataset_info["name"])
