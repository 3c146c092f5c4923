"""phoenix-upsert: keep an Arize Phoenix dataset in exact sync with an external source.

    from phoenix_upsert import Client

    client = Client()  # a phoenix.client.Client
    dataset = client.datasets.upsert_dataset(dataset="qa", examples="qa.jsonl")

The native core (Rust) computes the exact content hashes Phoenix stores, over Python
objects and over JSONL files, and diffs a source against a dataset by Phoenix's own rules.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from phoenix_upsert import errors as _errors
from phoenix_upsert._native import (
    DEFAULT_MAX_LINE_BYTES,
    MAX_DEPTH,
    Diff,
    JsonlScan,
    canonicalize,
    canonicalize_json,
    content_hash,
    diff,
    hash_examples,
    hash_jsonl,
    scan_jsonl,
)
from phoenix_upsert.errors import *  # noqa: F403 - every error, as errors.__all__ lists them

if TYPE_CHECKING:
    from phoenix_upsert._engine.versions import VersionDiff
    from phoenix_upsert.async_client import AsyncClient, AsyncUpsertDatasets
    from phoenix_upsert.client import Client, UpsertDatasets
    from phoenix_upsert.dataset import UpsertedDataset
    from phoenix_upsert.experiments import (
        AsyncReuseExperiments,
        ReusedExperiment,
        ReuseExperiments,
        ReuseSummary,
    )
    from phoenix_upsert.results import SyncPlan, SyncResult, SyncSummary

# The sync client needs phoenix-client (and, through the `phoenix` package, whatever else is
# installed there, such as the whole Phoenix server). It is imported on first use, so that
# the native core alone imports in milliseconds.
_LAZY = {
    "AsyncClient": "phoenix_upsert.async_client",
    "AsyncUpsertDatasets": "phoenix_upsert.async_client",
    "Client": "phoenix_upsert.client",
    "ReuseExperiments": "phoenix_upsert.experiments",
    "AsyncReuseExperiments": "phoenix_upsert.experiments",
    "ReuseSummary": "phoenix_upsert.experiments",
    "ReusedExperiment": "phoenix_upsert.experiments",
    "UpsertDatasets": "phoenix_upsert.client",
    "SyncPlan": "phoenix_upsert.results",
    "SyncSummary": "phoenix_upsert.results",
    "SyncResult": "phoenix_upsert.results",
    "UpsertedDataset": "phoenix_upsert.dataset",
    "VersionDiff": "phoenix_upsert._engine.versions",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'phoenix_upsert' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__version__ = "0.1.0"

__all__ = [
    "DEFAULT_MAX_LINE_BYTES",
    "MAX_DEPTH",
    "AsyncClient",
    "AsyncReuseExperiments",
    "AsyncUpsertDatasets",
    "Client",
    "Diff",
    "JsonlScan",
    "ReuseExperiments",
    "ReuseSummary",
    "ReusedExperiment",
    "SyncPlan",
    "SyncResult",
    "SyncSummary",
    "UpsertDatasets",
    "UpsertedDataset",
    "VersionDiff",
    "__version__",
    "canonicalize",
    "canonicalize_json",
    "content_hash",
    "diff",
    "hash_examples",
    "hash_jsonl",
    "scan_jsonl",
]
__all__ += _errors.__all__
