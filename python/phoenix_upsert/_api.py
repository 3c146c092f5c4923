"""One sync, over any httpx client: what ``Client.datasets.upsert_dataset`` does and what the
command line does, without importing phoenix-client (the command line never does)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Union

import httpx

from phoenix_upsert._engine import manifest as _manifest
from phoenix_upsert._engine.driver import Driver
from phoenix_upsert._engine.server import RetryPolicy, Server
from phoenix_upsert._sources.options import SourceOptions
from phoenix_upsert._sources.source import SourceIdKey, read
from phoenix_upsert.errors import LoneSurrogateError
from phoenix_upsert.results import Mode, SyncPlan, SyncResult

if TYPE_CHECKING:
    import pandas as pd

ExamplesSource = Union[Iterable[Mapping[str, Any]], "pd.DataFrame", str, "os.PathLike[str]"]
"""A list or any iterable of example mappings, a pandas DataFrame (or an Arrow table, a polars
DataFrame), or the path or URL of a JSONL, CSV or Parquet file."""

ServerVersion = Union[tuple[int, ...], None]


def check_text(**values: str | None) -> None:
    """Refuse, before anything is sent, a name, id or description that is not Unicode text
    (a lone surrogate cannot be sent as UTF-8; the core refuses U+0000)."""
    for what, value in values.items():
        if not isinstance(value, str):
            continue
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as e:
            raise LoneSurrogateError(
                f"{what} {value!r} contains a lone surrogate ({value[e.start]!r} at "
                f"{e.start}): not valid Unicode text; nothing was sent"
            ) from e


def upsert_dataset(
    http: httpx.Client,
    *,
    dataset: str | None,
    dataset_id: str | None,
    examples: ExamplesSource,
    source_id_key: SourceIdKey,
    mode: Mode,
    dry_run: bool,
    splits_key: str | None,
    span_id_key: str | None,
    input_keys: Sequence[str] | None,
    output_keys: Sequence[str] | None,
    metadata_keys: Sequence[str] | None,
    split_keys: Sequence[str] | None,
    dataset_description: str | None,
    timeout: float | None,
    retries: int,
    progress: bool | None,
    manifest: bool | str | os.PathLike[str],
    allow_empty: bool,
    server_version: ServerVersion = None,
    on_server_version: Callable[[ServerVersion], None] | None = None,
) -> tuple[SyncResult | SyncPlan, Server]:
    """The body of :meth:`phoenix_upsert.client.UpsertDatasets.upsert_dataset` (see its
    docs for the arguments), over ``http`` (base URL and headers set).

    ``server_version`` is the server's version if the caller already knows it (it is then
    not read again); ``on_server_version`` is told the version once it is known, before the
    sync runs. Returns the engine's result (or, for a dry run, the plan) and the
    :class:`Server` it used.
    """
    if (dataset is None) == (dataset_id is None):
        raise ValueError("give exactly one of dataset= (a name) or dataset_id=")
    if dataset is not None and not isinstance(dataset, str):
        raise ValueError("dataset must be a non-empty name")
    check_text(dataset=dataset, dataset_id=dataset_id, dataset_description=dataset_description)
    if mode not in ("mirror", "merge"):
        raise ValueError(f"mode must be 'mirror' or 'merge', not {mode!r}")
    source = read(
        examples,
        SourceOptions(
            source_id_key=source_id_key,
            splits_key=splits_key,
            span_id_key=span_id_key,
            input_keys=input_keys,
            output_keys=output_keys,
            metadata_keys=metadata_keys,
            split_keys=split_keys,
            progress=progress,
        ),
    )
    if manifest is True:
        manifest_dir: Path | None = _manifest.default_directory()
    elif manifest is False:
        manifest_dir = None
    else:
        manifest_dir = Path(manifest)
    result, known = Driver(http, source, manifest_dir=manifest_dir, progress=progress).run(
        name=dataset,
        dataset_id=dataset_id,
        mode=mode,
        dry_run=dry_run,
        description=dataset_description,
        allow_empty=allow_empty,
        timeout=timeout,
        retries=retries,
        server_version=server_version,
    )
    if on_server_version is not None:
        on_server_version(known or None)
    server = Server(http, retry=RetryPolicy(attempts=retries), timeout=timeout)
    return result, server
