"""``phoenix_upsert.AsyncClient``: phoenix-client's ``AsyncClient`` with
``await datasets.upsert_dataset(...)``.

Each sync runs the same engine as :class:`phoenix_upsert.Client` — same arguments, same
rules, same results — in a worker thread of its own, so that reading and hashing the source
never holds up the event loop, and many syncs (of different datasets) run at once in one
loop. Every request goes through this client's ``httpx.AsyncClient`` on the loop (see
``_bridge``): its base URL, headers, authentication, event hooks and connection pool.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Sequence
from typing import Literal, TypeVar, overload

import httpx
from phoenix.client import AsyncClient as PhoenixAsyncClient
from phoenix.client.resources.datasets import AsyncDatasets

from phoenix_upsert import _api
from phoenix_upsert._api import ExamplesSource, ServerVersion
from phoenix_upsert._bridge import LoopBridge
from phoenix_upsert._sources.source import SourceIdKey
from phoenix_upsert.dataset import UpsertedDataset
from phoenix_upsert.experiments import AsyncReuseExperiments
from phoenix_upsert.results import Mode, SyncPlan

__all__ = ["AsyncClient", "AsyncUpsertDatasets"]

T = TypeVar("T")


class AsyncUpsertDatasets(AsyncDatasets):
    """phoenix-client's ``AsyncDatasets`` resource, with :meth:`upsert_dataset` added."""

    @overload
    async def upsert_dataset(
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
    async def upsert_dataset(
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

    async def upsert_dataset(
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
        """Make a Phoenix dataset hold exactly ``examples``: the arguments, rules, results
        and errors of :meth:`phoenix_upsert.client.UpsertDatasets.upsert_dataset`.

        The sync runs in a worker thread; the event loop stays free (every request is sent
        by this client's ``httpx.AsyncClient`` on the loop), so syncs of different datasets
        can be gathered. The returned :class:`UpsertedDataset` has its examples read
        already (in the worker), because phoenix-client's async ``run_experiment`` reads
        ``dataset.examples`` on the event loop.

        Cancellation: cancelling the awaiting task stops the sync and returns once the
        request in flight, if any, has been cancelled; nothing more is sent after that. A
        write is one request that the server applies whole or not at all: after a
        cancellation the dataset holds either its content from before or exactly the
        source, never part of a write. Run the sync again to know which.
        """
        bridge, http = bridged(self._client)

        def remember(version: ServerVersion) -> None:
            self._upsert_server_version = version  # read once per client

        def work() -> UpsertedDataset | SyncPlan:
            result, server = _api.upsert_dataset(
                http,
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
            synced = UpsertedDataset(server=server, result=result)
            synced.examples  # read now, off the loop  # noqa: B018
            return synced

        try:
            result: UpsertedDataset | SyncPlan = await in_thread(bridge, work)
        finally:
            http.close()
        return result


def bridged(client: httpx.AsyncClient) -> tuple[LoopBridge, httpx.Client]:
    """A synchronous httpx client whose every request is sent by ``client`` on the running
    loop (for work done in a worker thread: see :func:`in_thread`)."""
    bridge = LoopBridge(client, asyncio.get_running_loop())
    http = httpx.Client(
        base_url=client.base_url,
        headers=client.headers,
        cookies=client.cookies,
        timeout=client.timeout,
        transport=bridge,
        follow_redirects=False,  # the async client follows them, if it does
        trust_env=False,  # the async client applies the environment's settings
    )
    return bridge, http


async def in_thread(bridge: LoopBridge, work: Callable[[], T]) -> T:
    """``work()`` in a worker thread of ``bridge``; its result, or its exception raised here.
    Cancelling the awaiting task stops the bridge (no request is sent after that)."""
    outcome = bridge.start_thread(work)
    try:
        ok, value = await asyncio.shield(outcome)
    except asyncio.CancelledError:
        await bridge.stop()
        raise
    if ok:
        result: T = value
        return result
    error: BaseException = value
    raise error


class AsyncClient(PhoenixAsyncClient):
    """A drop-in ``phoenix.client.AsyncClient`` (same constructor, environment variables
    and resources) whose ``datasets`` also has :meth:`AsyncUpsertDatasets.upsert_dataset`."""

    @property
    def _client(self) -> httpx.AsyncClient:
        return self._http_client

    @_client.setter
    def _client(self, value: httpx.AsyncClient) -> None:
        PhoenixAsyncClient._client.__set__(self, value)  # type: ignore[attr-defined]
        self._datasets: AsyncDatasets = AsyncUpsertDatasets(value, _guard=self._datasets._guard)
        self._experiments = AsyncReuseExperiments(value, _guard=self._experiments._guard)

    @property
    def datasets(self) -> AsyncUpsertDatasets:
        """phoenix-client's async datasets resource, plus ``upsert_dataset``."""
        assert isinstance(self._datasets, AsyncUpsertDatasets)
        return self._datasets

    @property
    def experiments(self) -> AsyncReuseExperiments:
        """phoenix-client's async experiments resource, whose ``run_experiment`` can reuse
        the runs of an earlier experiment (``reuse_runs_from=``)."""
        assert isinstance(self._experiments, AsyncReuseExperiments)
        return self._experiments
