"""``UpsertedDataset``: the phoenix-client ``Dataset`` a sync returns, for ``run_experiment``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from phoenix.client.resources.datasets import Dataset

from phoenix_upsert.results import SyncResult

if TYPE_CHECKING:
    from phoenix.client.__generated__ import v1

    from phoenix_upsert._engine.server import Server


class UpsertedDataset(Dataset):
    """A :class:`phoenix.client.resources.datasets.Dataset` at the exact version a sync
    produced, as ``run_experiment`` takes it, plus the sync's ``plan`` and ``summary``.

    Its examples are read from the server on first use (a no-op sync reads nothing).
    """

    def __init__(self, *, server: Server, result: SyncResult) -> None:
        # Dataset.__init__ is not called: the examples are loaded lazily (see _examples_data).
        self._server: Server | None = server
        self._dataset_info = result.dataset_info  # type: ignore[assignment]
        self._version = result.version_id
        self._examples_cache: v1.ListDatasetExamplesData | None = None
        self.plan = result.plan
        self.summary = result.plan.summary
        #: How many writes the sync made (at least 1; more after a failure or a race).
        self.attempts = result.attempts
        #: Whether another writer was seen changing the dataset during the sync.
        self.concurrent_writer = result.concurrent_writer
        #: The versions the sync made, oldest first (more than one for a sync written in
        #: parts: more new examples than one request to the server may carry).
        self.versions = result.versions

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
