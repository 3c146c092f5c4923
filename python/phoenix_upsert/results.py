"""What a sync reports: its plan, a summary, and the dataset version it produced."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from phoenix.client.resources.datasets import Dataset

if TYPE_CHECKING:
    from phoenix.client.__generated__ import v1

    from phoenix_upsert._server import Server

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


class UpsertedDataset(Dataset):
    """A :class:`phoenix.client.resources.datasets.Dataset` at the exact version a sync
    produced, as ``run_experiment`` takes it, plus the sync's ``plan`` and ``summary``.

    Its examples are read from the server on first use (a no-op sync reads nothing).
    """

    def __init__(
        self,
        *,
        server: Server,
        dataset_info: dict[str, Any],
        version_id: str,
        plan: SyncPlan,
        attempts: int = 1,
        concurrent_writer: bool = False,
    ) -> None:
        # Dataset.__init__ is not called: the examples are loaded lazily (see _examples_data).
        self._server: Server | None = server
        self._dataset_info = dataset_info  # type: ignore[assignment]
        self._version = version_id
        self._examples_cache: v1.ListDatasetExamplesData | None = None
        self.plan = plan
        self.summary = plan.summary
        #: How many times the sync planned and wrote (more than 1 after a retry or a race).
        self.attempts = attempts
        #: Whether another writer was seen changing the dataset during the sync.
        self.concurrent_writer = concurrent_writer

    def __getstate__(self) -> dict[str, Any]:
        """Pickled like the ``Dataset`` it extends: with its examples (read now if they were
        not yet), without the connection to the server."""
        state = dict(self.__dict__)
        state["_examples_cache"] = self._examples_data
        state["_server"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)

    @property
    def _examples_data(self) -> v1.ListDatasetExamplesData:
        if self._examples_cache is None:
            if self._server is None:
                raise RuntimeError("this dataset was unpickled without its examples")
            self._examples_cache = self._server.examples(
                self.id,
                self._version,
                expected_examples=int(self._dataset_info.get("example_count", 0) or 0),
            )
        return self._examples_cache

    @_examples_data.setter
    def _examples_data(self, value: v1.ListDatasetExamplesData) -> None:
        self._examples_cache = value

    @property
    def version_id(self) -> str:
        return self._version

    def __repr__(self) -> str:
        s = self.summary
        return (
            f"UpsertedDataset(id={self.id!r}, name={self.name!r}, version_id={self.version_id!r}, "
            f"added={s.added}, updated={s.updated}, deleted={s.deleted}, unchanged={s.unchanged})"
        )
