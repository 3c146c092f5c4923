"""How to read a source: the options every reader takes, in one value."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from phoenix_upsert._sources.source import SourceIdKey


@dataclass(frozen=True)
class SourceOptions:
    """What ``upsert_dataset`` was told about its source (see its docs)."""

    source_id_key: SourceIdKey
    splits_key: str | None
    span_id_key: str | None
    input_keys: Sequence[str] | None = None
    output_keys: Sequence[str] | None = None
    metadata_keys: Sequence[str] | None = None
    #: Columns whose cells are split names (phoenix-client's ``split_keys``): CSV and tables.
    split_keys: Sequence[str] | None = None
    #: ``progress=`` of the sync: bars while reading and hashing (see ``_progress``).
    progress: bool | None = False

    @property
    def column_keys(self) -> tuple[Sequence[str] | None, ...]:
        """``input_keys``, ``output_keys``, ``metadata_keys``: the columns of each part."""
        return (self.input_keys, self.output_keys, self.metadata_keys)

    def no_column_keys(self, what: str) -> None:
        """Column keys are for tables and CSV; for ``what`` (e.g. a JSONL file) they are an
        error."""
        if any(self.column_keys) or self.split_keys:
            raise TypeError(
                "input_keys/output_keys/metadata_keys/split_keys apply to a CSV file, a "
                f"DataFrame, an Arrow table or Parquet, not to {what}"
            )

    @property
    def wants_columns(self) -> bool:
        """Whether keys naming columns were given (then a source that is not JSON is CSV)."""
        return any(self.column_keys) or bool(self.split_keys)
