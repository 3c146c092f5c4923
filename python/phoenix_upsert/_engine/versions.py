"""What changed between two versions of a Phoenix dataset, example by example.

Both versions are read with Phoenix's JSONL export and hashed by the native core; examples
are matched by their node id (a version never changes which example a node id names), so
the classes are exact: added, deleted, and updated — content hash differs — with the JSON
paths whose values changed. Split assignments are not versioned by Phoenix (the export shows
the current ones for either version), so they are not compared.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from phoenix_upsert._engine.server import Server
from phoenix_upsert._native import JsonlScan, diff, scan_jsonl
from phoenix_upsert.errors import InvalidInputError, ServerError

__all__ = ["ExampleChange", "FieldChange", "VersionDiff", "diff_versions"]

_MISSING: Any = object()


@dataclass(frozen=True)
class FieldChange:
    """One value that differs: its JSON path (``output.answer``, ``input.turns[2]``), and
    its value before and after (``None`` where the key was absent; see ``kind``)."""

    path: str
    kind: str  # "added", "removed" or "changed"
    before: Any = None
    after: Any = None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"path": self.path, "kind": self.kind}
        if self.kind != "added":
            out["before"] = self.before
        if self.kind != "removed":
            out["after"] = self.after
        return out


@dataclass(frozen=True)
class ExampleChange:
    """An example in the diff: its id (external id, else node id), node id, and for updated
    examples the fields that changed."""

    id: str
    node_id: str
    changes: tuple[FieldChange, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "node_id": self.node_id}
        if self.changes:
            out["changes"] = [c.as_dict() for c in self.changes]
        return out


@dataclass(frozen=True)
class VersionDiff:
    """Examples added, updated and deleted from ``from_version_id`` to ``to_version_id``."""

    dataset_id: str
    dataset_name: str
    from_version_id: str
    to_version_id: str
    added: tuple[ExampleChange, ...] = ()
    updated: tuple[ExampleChange, ...] = ()
    deleted: tuple[ExampleChange, ...] = ()
    unchanged: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset_name,
            "dataset_id": self.dataset_id,
            "from_version_id": self.from_version_id,
            "to_version_id": self.to_version_id,
            "summary": {
                "added": len(self.added),
                "updated": len(self.updated),
                "deleted": len(self.deleted),
                "unchanged": self.unchanged,
            },
            "added": [e.as_dict() for e in self.added],
            "updated": [e.as_dict() for e in self.updated],
            "deleted": [e.as_dict() for e in self.deleted],
        }


def _step(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    if key.isidentifier():
        return f"{path}.{key}" if path else key
    return f"{path}[{json.dumps(key, ensure_ascii=False)}]"


def field_changes(before: Any, after: Any, path: str = "") -> Iterator[FieldChange]:
    """The values that differ between two JSON values, as JSON paths (objects key by key,
    arrays of equal length item by item; anything else as a whole)."""
    if isinstance(before, dict) and isinstance(after, dict):
        for key in [*before, *(k for k in after if k not in before)]:
            b, a = before.get(key, _MISSING), after.get(key, _MISSING)
            where = _step(path, key)
            if b is _MISSING:
                yield FieldChange(where, "added", after=a)
            elif a is _MISSING:
                yield FieldChange(where, "removed", before=b)
            else:
                yield from field_changes(b, a, where)
    elif isinstance(before, list) and isinstance(after, list) and len(before) == len(after):
        for i, (b, a) in enumerate(zip(before, after)):
            yield from field_changes(b, a, _step(path, i))
    elif before != after or type(before) is not type(after):
        yield FieldChange(path, "changed", before=before, after=after)


def _scan(server: Server, info: dict[str, Any], version_id: str) -> tuple[bytes, JsonlScan]:
    data = server.export_jsonl(
        str(info["id"]),
        version_id,
        expected_examples=int(info.get("example_count") or 0),
        progress=_NoProgress(),
    )
    try:
        return data, scan_jsonl(data, id_key="id", node_id_key="node_id")
    except InvalidInputError as e:
        raise ServerError(
            f"reading version {version_id}: the export is not Phoenix JSONL ({e})"
        ) from e


class _NoProgress:
    def update(self, n: int) -> None:
        pass


def _row(data: bytes, scan: JsonlScan, i: int) -> dict[str, Any]:
    start = scan.offsets[i]
    row: dict[str, Any] = json.loads(data[start : start + scan.lengths[i]])
    return row


def diff_versions(
    server: Server,
    *,
    dataset: str | None = None,
    dataset_id: str | None = None,
    from_version: str | None = None,
    to_version: str | None = None,
) -> VersionDiff:
    """What changed between two versions of a dataset (by default its two latest; with
    only ``to_version``, that one against the version before it)."""
    if (dataset is None) == (dataset_id is None):
        raise ValueError("give exactly one of dataset= (a name) or dataset_id=")
    info = server.get_dataset(dataset_id) if dataset_id is not None else None
    if dataset is not None:
        info = server.find_dataset(dataset)
        if info is None:
            raise ValueError(f"there is no dataset named {dataset!r}")
    assert info is not None
    ids = [str(v["version_id"]) for v in _all_versions(server, str(info["id"]))]
    if to_version is None:
        to_version = ids[0] if ids else None
    if to_version is None:
        raise ValueError(f"dataset {info['name']!r} has no versions")
    if to_version not in ids:
        raise ValueError(f"{to_version!r} is not a version of dataset {info['name']!r}")
    if from_version is None:
        below = ids[ids.index(to_version) + 1 :]
        from_version = below[0] if below else None
    if from_version is not None and from_version not in ids:
        raise ValueError(f"{from_version!r} is not a version of dataset {info['name']!r}")
    new_data, new = _scan(server, info, to_version)
    if from_version is None:  # the first version: everything was added
        old_data, old = b"", scan_jsonl(b"", id_key="id", node_id_key="node_id")
    else:
        old_data, old = _scan(server, info, from_version)
    old_nodes, new_nodes = old.node_ids or [], new.node_ids or []
    old_ids, new_ids = old.ids or [], new.ids or []
    d = diff(
        [(n or "", None, h) for n, h in zip(old_nodes, old.hashes)],
        [(n or "", h) for n, h in zip(new_nodes, new.hashes)],
    )
    updated = []
    for i, p in d.updated:
        before, after = _row(old_data, old, p), _row(new_data, new, i)
        changes = [
            c
            for part in ("input", "output", "metadata")
            for c in field_changes(before.get(part, {}), after.get(part, {}), part)
        ]
        updated.append(ExampleChange(str(new_ids[i]), str(new_nodes[i]), tuple(changes)))
    return VersionDiff(
        dataset_id=str(info["id"]),
        dataset_name=str(info["name"]),
        from_version_id=from_version or "",
        to_version_id=to_version,
        added=tuple(ExampleChange(str(new_ids[i]), str(new_nodes[i])) for i in d.added),
        updated=tuple(updated),
        deleted=tuple(ExampleChange(str(old_ids[p]), str(old_nodes[p])) for p in d.deleted),
        unchanged=len(d.unchanged),
    )


def _all_versions(server: Server, dataset_id: str) -> list[dict[str, Any]]:
    """The dataset's latest 1,000 versions, newest first."""
    return server.versions(dataset_id, 1000)
