"""``phoenix_upsert.Client``: phoenix-client's ``Client`` with ``datasets.upsert_dataset``."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Literal, overload

import httpx
from phoenix.client import Client as PhoenixClient
from phoenix.client.resources.datasets import Datasets

from phoenix_upsert import _api
from phoenix_upsert._api import ExamplesSource, ServerVersion
from phoenix_upsert._engine import versions as _versions
from phoenix_upsert._engine.server import RetryPolicy, Server
from phoenix_upsert._engine.versions import VersionDiff
from phoenix_upsert._sources.source import SourceIdKey
from phoenix_upsert.dataset import UpsertedDataset
from phoenix_upsert.experiments import ReuseExperiments
from phoenix_upsert.results import Mode, SyncPlan

__all__ = ["Client", "ExamplesSource", "UpsertDatasets"]


class UpsertDatasets(Datasets):
    """phoenix-client's ``Datasets`` resource, with :meth:`upsert_dataset` added."""

    @overload
    def upsert_dataset(
        self,
        *,
        dataset: str | None = ...,
        dataset_id: str | None = ...,
        examples: ExamplesSource,
        source_id_key: SourceIdKey = ...,
        mode: Mode = ...,
        dry_run: Literal[False] = ...,
        splits_key: str | None = ...,
        span_id_key: str | None = ...,
        input_keys: Sequence[str] | None = ...,
        output_keys: Sequence[str] | None = ...,
        metadata_keys: Sequence[str] | None = ...,
        split_keys: Sequence[str] | None = ...,
        dataset_description: str | None = ...,
        timeout: float | None = ...,
        retries: int = ...,
        progress: bool | None = ...,
        manifest: bool | str | os.PathLike[str] = ...,
        allow_empty: bool = ...,
    ) -> UpsertedDataset: ...

    @overload
    def upsert_dataset(
        self,
        *,
        dataset: str | None = ...,
        dataset_id: str | None = ...,
        examples: ExamplesSource,
        source_id_key: SourceIdKey = ...,
        mode: Mode = ...,
        dry_run: Literal[True],
        splits_key: str | None = ...,
        span_id_key: str | None = ...,
        input_keys: Sequence[str] | None = ...,
        output_keys: Sequence[str] | None = ...,
        metadata_keys: Sequence[str] | None = ...,
        split_keys: Sequence[str] | None = ...,
        dataset_description: str | None = ...,
        timeout: float | None = ...,
        retries: int = ...,
        progress: bool | None = ...,
        manifest: bool | str | os.PathLike[str] = ...,
        allow_empty: bool = ...,
    ) -> SyncPlan: ...

    def upsert_dataset(
        self,
        *,
        dataset: str | None = None,
        dataset_id: str | None = None,
        examples: ExamplesSource,
        source_id_key: SourceIdKey = "id",
        mode: Mode = "mirror",
        dry_run: bool = False,
        splits_key: str | None = "splits",
        span_id_key: str | None = "span_id",
        input_keys: Sequence[str] | None = None,
        output_keys: Sequence[str] | None = None,
        metadata_keys: Sequence[str] | None = None,
        split_keys: Sequence[str] | None = None,
        dataset_description: str | None = None,
        timeout: float | None = None,
        retries: int = 4,
        progress: bool | None = None,
        manifest: bool | str | os.PathLike[str] = True,
        allow_empty: bool = False,
    ) -> UpsertedDataset | SyncPlan:
        """Make a Phoenix dataset hold exactly ``examples`` (or, with ``mode="merge"``, at
        least them), writing the least that gets it there.

        Args:
            dataset: name of the dataset; created if there is none. Give this or
                ``dataset_id``, not both.
            dataset_id: id of an existing dataset.
            examples: a list or iterable of mappings with dict ``input`` and ``output``, an
                optional dict ``metadata``, the source id, and optionally splits and a span
                id; or a pandas DataFrame (see ``input_keys``); or the path or URL of a JSONL
                file with one such mapping per line (hashed in Rust, never loaded whole), of
                a CSV file (read as phoenix-client's ``create_dataset(csv_file_path=...)``
                reads it: every cell a string; see ``input_keys``) or of a Parquet file.
            source_id_key: the key (DataFrame column, JSONL field) holding each example's
                stable id, or a callable ``(example) -> str``. Examples match the server's
                by this id: a changed example is updated in place, not re-created. ``None``
                matches by content only (a changed example is then deleted and re-added).
            mode: ``"mirror"`` (default) makes the dataset equal to the source: creates,
                updates and deletes. ``"merge"`` never deletes.
            dry_run: write nothing; return the :class:`SyncPlan` instead of a dataset.
            splits_key: key of each example's split names (a str or a list of str). If no
                example has it, the server's split assignments are left as they are.
            span_id_key: key of each example's span id (linked when the example is created).
            input_keys, output_keys, metadata_keys: for a CSV file or a table, the columns
                of each part (as in phoenix-client's ``create_dataset``); missing cells are
                left out. For CSV, if none is given they are inferred as phoenix-client does.
            split_keys: for a CSV file or a table, columns whose values are split names (as
                phoenix-client's ``split_keys``); instead of ``splits_key``.
            dataset_description: description of a dataset this call creates.
            timeout: seconds per request. By default each request gets time in proportion
                to its size (uploads: about 20 ms per example sent, plus a minute).
            retries: attempts for steps that are safe to repeat (reads, and re-planning
                after a failed write).
            progress: show progress bars (default: when stderr is a terminal).
            manifest: keep a local manifest of what the server holds so that the next sync
                need not download the dataset (``True``: in ``~/.cache/phoenix-upsert``; a
                path: in that directory; ``False``: never).
            allow_empty: allow a mirror sync of a source without examples, which deletes
                every example of the dataset (refused by default: an empty file is more
                often a failed export than a wish).

        Returns:
            An :class:`UpsertedDataset` at the version the sync produced (the current one if
            nothing changed), ready for ``run_experiment``, with ``.summary`` and ``.plan``;
            with ``dry_run=True``, the :class:`SyncPlan`.

        Raises:
            InvalidInputError: bad input (typed subclasses name the example, the JSON path
                or the line), before anything is sent.
            AuthenticationError, DatasetNotFoundError, ServerTooOldError, ServerError: the
                server refused or could not be reached (after retries).
            ConcurrentWriteError: another writer kept changing the dataset.
        """

        def remember(version: ServerVersion) -> None:
            self._upsert_server_version = version  # read once per client

        result, server = _api.upsert_dataset(
            self._client,
            dataset=dataset,
            dataset_id=dataset_id,
            examples=examples,
            source_id_key=source_id_key,
            mode=mode,
            dry_run=dry_run,
            splits_key=splits_key,
            span_id_key=span_id_key,
            input_keys=input_keys,
            output_keys=output_keys,
            metadata_keys=metadata_keys,
            split_keys=split_keys,
            dataset_description=dataset_description,
            timeout=timeout,
            retries=retries,
            progress=progress,
            manifest=manifest,
            allow_empty=allow_empty,
            server_version=getattr(self, "_upsert_server_version", None),
            on_server_version=remember,
        )
        if isinstance(result, SyncPlan):
            return result
        return UpsertedDataset(server=server, result=result)

    def diff_versions(
        self,
        *,
        dataset: str | None = None,
        dataset_id: str | None = None,
        from_version: str | None = None,
        to_version: str | None = None,
        timeout: float | None = None,
        retries: int = 4,
    ) -> VersionDiff:
        """What changed between two versions of a dataset, example by example: added,
        deleted, and updated examples with the JSON paths of the values that changed.

        Args:
            dataset, dataset_id: the dataset, by name or by id (exactly one).
            from_version, to_version: version ids; by default the dataset's two latest
                versions (with only ``to_version``: that one against the one before it).
            timeout: seconds per request (default: by size).
            retries: attempts for each read.

        Split assignments are not versioned by Phoenix, so they are not compared.
        """
        server = Server(self._client, retry=RetryPolicy(attempts=retries), timeout=timeout)
        return _versions.diff_versions(
            server,
            dataset=dataset,
            dataset_id=dataset_id,
            from_version=from_version,
            to_version=to_version,
        )


class Client(PhoenixClient):
    """A drop-in ``phoenix.client.Client`` (same constructor, environment variables and
    resources) whose ``datasets`` also has :meth:`UpsertDatasets.upsert_dataset` and whose
    ``experiments.run_experiment`` can reuse an earlier experiment's runs."""

    @property
    def _client(self) -> httpx.Client:
        return self._http_client

    @_client.setter
    def _client(self, value: httpx.Client) -> None:
        PhoenixClient._client.__set__(self, value)  # type: ignore[attr-defined]
        self._datasets: Datasets = UpsertDatasets(value, _guard=self._datasets._guard)
        self._experiments = ReuseExperiments(value, _guard=self._experiments._guard)

    @property
    def datasets(self) -> UpsertDatasets:
        """phoenix-client's datasets resource, plus ``upsert_dataset``."""
        assert isinstance(self._datasets, UpsertDatasets)
        return self._datasets

    @property
    def experiments(self) -> ReuseExperiments:
        """phoenix-client's experiments resource, whose ``run_experiment`` can reuse the
        runs of an earlier experiment (``reuse_runs_from=``)."""
        assert isinstance(self._experiments, ReuseExperiments)
        return self._experiments
