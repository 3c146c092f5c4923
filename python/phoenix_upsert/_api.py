"""One sync, over any httpx client: what ``Client.datasets.upsert_dataset`` does and what the
command line does, without importing phoenix-client (the command line never does)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Union

import httpx

from phoenix_upsert._engine import manifest as _manifest
from phoenix_upsert._engine.server import RetryPolicy, Server
from phoenix_upsert._engine.sync import Engine
from phoenix_upsert._sources.options import SourceOptions
from phoenix_upsert._sources.source import SourceIdKey, read
from phoenix_upsert.errors import EmptySourceError, LoneSurrogateError, NullCharacterError
from phoenix_upsert.results import Mode, SyncPlan, SyncResult

if TYPE_CHECKING:
    import pandas as pd

ExamplesSource = Union[Iterable[Mapping[str, Any]], "pd.DataFrame", str, "os.PathLike[str]"]
"""A list or any iterable of example mappings, a pandas DataFrame (or an Arrow table, a polars
DataFrame), or the path or URL of a JSONL, CSV or Parquet file."""

ServerVersion = Union[tuple[int, ...], None]


def check_text(**values: str | None) -> None:
    """Refuse, before anything is sent, a name, id or description that no server stores as
    given: one holding U+0000 (PostgreSQL cannot store it; Phoenix answers HTTP 500) or a
    lone surrogate (not Unicode text; it cannot be sent as UTF-8)."""
    for what, value in values.items():
        if not isinstance(value, str):
            continue
        if "\x00" in value:
            raise NullCharacterError(
                f"{what} {value!r} contains U+0000 (NUL), which Phoenix cannot store; "
                "nothing was sent"
            )
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
    if dataset is not None and (not isinstance(dataset, str) or not dataset.strip()):
        raise ValueError("dataset must be a non-empty name")
    check_text(dataset=dataset, dataset_id=dataset_id, dataset_description=dataset_description)
    if mode not in ("mirror", "merge"):
        raise ValueError(f"mode must be 'mirror' or 'merge', not {mode!r}")
    if retries < 1:
        raise ValueError("retries must be at least 1")
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
    if len(source) == 0 and mode == "mirror" and not allow_empty:
        raise EmptySourceError(
            f"{source.name}: the source has no examples; a mirror sync would delete every "
            "example of the dataset (pass allow_empty=True if that is what you want)"
        )
    if manifest is True:
        manifest_dir: Path | None = _manifest.default_directory()
    elif manifest is False:
        manifest_dir = None
    else:
        manifest_dir = Path(manifest)
    server = Server(
        http,
        retry=RetryPolicy(attempts=retries),
        timeout=timeout,
        version=server_version,
    )
    server.require_version()
    if on_server_version is not None:
        on_server_version(server.server_version())
    engine = Engine(server, manifest_dir=manifest_dir, progress=progress, max_attempts=retries)
    result = engine.run(
        source,
        name=dataset,
        dataset_id=dataset_id,
        mode=mode,
        dry_run=dry_run,
        description=dataset_description,
        use_manifest=manifest_dir is not None,
    )
    return result, server
