"""What Phoenix stored, read from its database (SQLite or PostgreSQL) with
:meth:`LocalPhoenix.sql`: the referee of the tests and of the benchmarks at scale, which
prove a sync by what the server holds, not by what the client says."""

from __future__ import annotations

from phoenix_upsert.testing import LocalPhoenix


def stored_hashes(phoenix: LocalPhoenix, dataset_name: str) -> dict[str, str]:
    """content_hash of each example's latest revision, read from Phoenix's database (SQLite
    or PostgreSQL; ``bytes`` either way), by external id."""
    rows = phoenix.sql(
        """
        SELECT e.external_id, r.content_hash, r.revision_kind
        FROM dataset_example_revisions r
        JOIN dataset_examples e ON e.id = r.dataset_example_id
        JOIN datasets d ON d.id = e.dataset_id
        WHERE d.name = ? AND r.id IN (
            SELECT MAX(id) FROM dataset_example_revisions GROUP BY dataset_example_id
        )
        """,
        dataset_name,
    )
    return {ext: bytes(h).hex() for ext, h, kind in rows if kind != "DELETE"}


def split_members(phoenix: LocalPhoenix, dataset_name: str) -> dict[str, list[str]]:
    """Each example's split names (sorted), by external id; examples in no split are left
    out."""
    found = phoenix.sql(
        """
        SELECT e.external_id, s.name
        FROM dataset_splits_dataset_examples m
        JOIN dataset_examples e ON e.id = m.dataset_example_id
        JOIN dataset_splits s ON s.id = m.dataset_split_id
        JOIN datasets d ON d.id = e.dataset_id
        WHERE d.name = ?
        """,
        dataset_name,
    )
    out: dict[str, list[str]] = {}
    for ext, split in found:
        out.setdefault(ext, []).append(split)
    return {k: sorted(v) for k, v in out.items()}
