"""Sources: what a sync makes the dataset look like, read and validated before any request.

``source`` holds the :class:`~phoenix_upsert._sources.source.Source` type and the readers of
Python objects, DataFrames and local JSONL (the rules themselves live in the native core);
``remote`` opens paths and URLs (fsspec, gzip, zstd); ``tables`` reads Parquet, Arrow and
polars column-wise.
"""
