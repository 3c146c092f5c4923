"""The sync engine: read the server's state, plan, write the least, verify.

1. State: the dataset (by name or id) and its latest version. The examples come from the
   local manifest when the server proves it applies, else from Phoenix's JSONL export
   (hashed by the native core, no Python object per line).
2. Plan: the native diff, by Phoenix's own matching rules, plus split-only changes.
3. Write, in one request, so that each sync that changes content makes exactly one version:
   nothing if nothing changed; ``append`` with only the new and changed examples if nothing
   is deleted; ``update`` with the full snapshot if something is (atomic on the server);
   ``create`` for a new dataset.
4. Verify: the counts the server reports must be the plan's, and the new version must sit
   right on top of the version the plan was made from. Otherwise another writer was at work:
   read the state again and plan again, a few times, then give up with a clear error.

Any failure of the write (connection lost, 5xx, 429, timeout) also leads back to step 1
rather than to a blind resend: a write whose answer was lost is then seen as done.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from phoenix_upsert import _manifest as manifest
from phoenix_upsert._manifest import Fingerprint, ServerExamples
from phoenix_upsert._native import Diff, diff, scan_jsonl
from phoenix_upsert._server import Server, describe, is_retryable, logger, retry_after
from phoenix_upsert._source import Source
from phoenix_upsert.errors import (
    ConcurrentWriteError,
    InvalidSourceIdError,
    ServerError,
)
from phoenix_upsert.results import Action, Mode, SyncPlan, UpsertedDataset


def _progress(enabled: bool | None, *, long: bool, **kwargs: Any) -> Any:
    """A tqdm bar: shown if asked (``enabled``), or by default for long work on a terminal."""
    from tqdm.auto import tqdm

    show = enabled if enabled is not None else (long and sys.stderr.isatty())
    return tqdm(disable=not show, leave=False, dynamic_ncols=True, **kwargs)


@dataclass
class State:
    """What the server holds, as the plan sees it."""

    info: dict[str, Any] | None  # the dataset, or None if there is no such dataset yet
    version: dict[str, Any] | None  # its latest version
    examples: ServerExamples
    from_manifest: bool = False

    @property
    def dataset_id(self) -> str | None:
        return None if self.info is None else str(self.info["id"])

    @property
    def version_id(self) -> str | None:
        return None if self.version is None else str(self.version["version_id"])


class Engine:
    def __init__(
        self,
        server: Server,
        *,
        manifest_dir: Path | None,
        progress: bool | None,
        max_attempts: int = 4,
    ) -> None:
        self.server = server
        self.manifest_dir = manifest_dir
        self.progress = progress
        self.max_attempts = max_attempts

    # -- state ---------------------------------------------------------------------------

    def resolve(self, name: str | None, dataset_id: str | None) -> dict[str, Any] | None:
        if dataset_id is not None:
            return self.server.get_dataset(dataset_id)
        assert name is not None
        return self.server.find_dataset(name)

    def read_state(
        self, name: str | None, dataset_id: str | None, *, trust_manifest: bool
    ) -> State:
        info = self.resolve(name, dataset_id)
        if info is None:
            return State(None, None, ServerExamples.empty())
        versions = self.server.versions(str(info["id"]), 1)
        if not versions:
            return State(info, None, ServerExamples.empty())
        version = versions[0]
        fingerprint = self._fingerprint(info, version)
        if trust_manifest and self.manifest_dir is not None:
            cached = manifest.load(self.manifest_dir, fingerprint)
            if cached is not None:
                logger.debug("using the sync manifest for %s", fingerprint.version_id)
                return State(info, version, cached, from_manifest=True)
        return State(info, version, self.download(info, version))

    def _fingerprint(self, info: dict[str, Any], version: dict[str, Any]) -> Fingerprint:
        return Fingerprint(
            server=self.server.base_url,
            dataset_id=str(info["id"]),
            dataset_created_at=str(info.get("created_at")),
            version_id=str(version["version_id"]),
            version_created_at=str(version.get("created_at")),
            example_count=int(info.get("example_count") or 0),
        )

    def download(self, info: dict[str, Any], version: dict[str, Any]) -> ServerExamples:
        count = int(info.get("example_count") or 0)
        with _progress(
            self.progress,
            long=count > 5000,
            desc=f"reading {info['name']!r}",
            unit="B",
            unit_scale=True,
        ) as bar:
            data = self.server.export_jsonl(
                str(info["id"]), str(version["version_id"]), expected_examples=count, progress=bar
            )
        scan = scan_jsonl(data, id_key="id", node_id_key="node_id", splits_key="splits")
        node_ids = [n or "" for n in scan.node_ids or []]
        ids = scan.ids or []
        splits = scan.splits or []
        return ServerExamples(
            node_ids=node_ids,
            # Phoenix exports the external id, or the node id if there is none.
            external_ids=[i if i != n else None for i, n in zip(ids, node_ids)],
            hashes=scan.hashes,
            splits=[tuple(s or ()) for s in splits],
        )

    # -- plan ----------------------------------------------------------------------------

    def plan(self, source: Source, state: State, *, name: str, mode: Mode) -> tuple[SyncPlan, Diff]:
        prev = state.examples
        d = diff(
            list(zip(prev.node_ids, prev.external_ids, prev.hashes)),
            list(zip(source.ids, source.hashes)),
            merge=mode == "merge",
        )
        if d.unknown_node_ids:
            shown = ", ".join(
                f"{source.where(i)}: {source.ids[i]!r}" for i in d.unknown_node_ids[:5]
            )
            raise InvalidSourceIdError(
                "source ids that are Phoenix node ids must name examples of this dataset; "
                f"these do not: {shown}",
                index=d.unknown_node_ids[0],
                source_id=source.ids[d.unknown_node_ids[0]],
            )
        split_changes: list[int] = []
        if source.splits is None:
            unchanged = len(d.unchanged)  # the server's splits stay as they are
        else:
            new, old = source.splits, prev.splits
            split_changes = [i for i, p in d.unchanged if new[i] != old[p]]
            unchanged = len(d.unchanged) - len(split_changes)
        added = d.added
        updated = [i for i, _ in d.updated]
        deleted = d.deleted
        action: Action
        if state.info is None:
            action = "create"  # even with no examples: the dataset is asked for by name
        elif not (added or updated or deleted or split_changes):
            action = "none"
        elif deleted:
            action = "update"
        else:
            action = "append"
        ids = source.ids
        plan = SyncPlan(
            dataset_name=name,
            dataset_id=state.dataset_id,
            base_version_id=state.version_id,
            mode=mode,
            action=action,
            added=tuple(ids[i] for i in added),
            updated=tuple(ids[i] for i in updated),
            split_changes=tuple(ids[i] for i in split_changes),
            deleted=tuple(prev.external_ids[p] or prev.node_ids[p] for p in deleted),
            unchanged=unchanged,
            added_indices=tuple(added),
            updated_indices=tuple(updated),
            split_change_indices=tuple(split_changes),
        )
        return plan, d

    # -- write ---------------------------------------------------------------------------

    @staticmethod
    def upload_indices(plan: SyncPlan, source: Source) -> list[int]:
        if plan.action in ("create", "update"):
            return list(range(len(source)))
        return sorted(plan.added_indices + plan.updated_indices + plan.split_change_indices)

    def body(
        self, plan: SyncPlan, source: Source, indices: Sequence[int], description: str | None
    ) -> Iterator[bytes]:
        """The upload as a JSON body, streamed: Phoenix keeps key order this way (its
        JSONL upload reorders the keys of input/output/metadata)."""
        head: dict[str, Any] = {"action": plan.action, "name": plan.dataset_name}
        if description is not None and plan.action == "create":
            head["description"] = description
        yield json.dumps(head, ensure_ascii=False)[:-1].encode()
        for part, key in enumerate(("inputs", "outputs", "metadata")):
            yield f',"{key}":['.encode()
            batch: list[str] = []
            for k, text in enumerate(source.rows(indices, part)):
                batch.append(text if k == 0 else "," + text)
                if len(batch) >= 512:
                    yield "".join(batch).encode()
                    batch.clear()
            yield ("".join(batch) + "]").encode()
        extras: dict[str, Any] = {}
        if source.has_ids:
            extras["example_ids"] = [source.ids[i] for i in indices]
        if source.splits is not None:
            extras["splits"] = [list(source.splits[i]) for i in indices]
        if source.span_ids is not None:
            extras["span_ids"] = [source.span_ids[i] for i in indices]
        for key, value in extras.items():
            yield f',"{key}":'.encode() + json.dumps(value, ensure_ascii=False).encode()
        yield b"}"

    def write(self, plan: SyncPlan, source: Source, description: str | None) -> dict[str, Any]:
        indices = self.upload_indices(plan, source)
        with _progress(
            self.progress,
            long=len(indices) > 1000,
            desc=f"{plan.action} {len(indices):,} examples",
            unit="B",
            unit_scale=True,
        ) as bar:

            def stream() -> Iterator[bytes]:
                for chunk in self.body(plan, source, indices, description):
                    bar.update(len(chunk))
                    yield chunk

            logger.info(
                "%s %r: sending %d examples (%s)",
                plan.action,
                plan.dataset_name,
                len(indices),
                ", ".join(f"{k} {v}" for k, v in plan.summary.as_dict().items()),
            )
            return dict(self.server.upload(stream, examples=len(indices), snapshot=len(source)))

    # -- verify --------------------------------------------------------------------------

    def verify(
        self, plan: SyncPlan, result: dict[str, Any], dataset_id: str
    ) -> tuple[str | None, dict[str, Any] | None]:
        """Check a write against its plan: ``(problem, version)`` — ``problem`` says why the
        result is not the plan's (``None`` if it is); ``version`` is the version the write
        made (``None`` if it made none)."""
        s = plan.summary
        expected = (s.added, s.updated, s.deleted)
        got = (
            int(result.get("num_created_examples", -1)),
            int(result.get("num_updated_examples", -1)),
            int(result.get("num_deleted_examples", -1)),
        )
        if got != expected:
            return (
                f"the server reports {got[0]} created, {got[1]} updated, {got[2]} deleted; "
                f"the plan had {expected[0]}, {expected[1]}, {expected[2]}"
            ), None
        if plan.dataset_id is not None and result.get("dataset_id") != dataset_id:
            return f"the upload went to dataset {result.get('dataset_id')!r}", None
        if not plan.changes_content:
            return None, None  # no new version (Phoenix does not version split assignments)
        ours = result.get("version_id")
        versions = self.server.versions(dataset_id, 10)
        ids = [v["version_id"] for v in versions]
        if ours not in ids:
            return f"the new version {ours!r} is not among the dataset's latest versions", None
        below = ids[ids.index(ours) + 1 :]
        if plan.base_version_id is None:
            if below:
                return "the dataset had versions that the plan did not see", None
        elif not below or below[0] != plan.base_version_id:
            return "another version was written between reading the dataset and writing it", None
        return None, versions[ids.index(ours)]

    # -- the loop ------------------------------------------------------------------------

    def run(
        self,
        source: Source,
        *,
        name: str | None,
        dataset_id: str | None,
        mode: Mode,
        dry_run: bool,
        description: str | None,
        use_manifest: bool,
    ) -> SyncPlan | UpsertedDataset:
        trust_manifest = use_manifest
        concurrent = False
        failure: BaseException | None = None
        # A write whose answer was lost: if the next plan finds nothing left to do, that
        # write landed, and it is what this sync did.
        uncertain: SyncPlan | None = None
        for attempt in range(1, self.max_attempts + 1):
            try:
                state = self.read_state(name, dataset_id, trust_manifest=trust_manifest)
                dataset_name = state.info["name"] if state.info is not None else name
                assert dataset_name is not None
                try:
                    plan, matches = self.plan(source, state, name=dataset_name, mode=mode)
                except InvalidSourceIdError:
                    if state.from_manifest and "" in state.examples.node_ids:
                        # The manifest does not know every node id; the server does.
                        trust_manifest = False
                        continue
                    raise
                if dry_run:
                    return plan
                if plan.action == "none":
                    assert state.info is not None and state.version is not None
                    report = uncertain if uncertain is not None else plan
                    return self.finish(
                        report,
                        state.info,
                        state.version,
                        attempt,
                        concurrent,
                        examples=None if state.from_manifest else state.examples,
                    )
                uncertain = None
                try:
                    result = self.write(plan, source, description)
                except (httpx.TransportError, ServerError) as exc:
                    if is_retryable(exc):
                        uncertain = plan
                    raise
                resolved_id = str(result.get("dataset_id") or state.dataset_id)
                problem, version = self.verify(plan, result, resolved_id)
                if problem is None:
                    info = self.server.get_dataset(resolved_id)
                    if version is None:
                        version = self.server.versions(resolved_id, 1)[0]
                    return self.finish(
                        plan,
                        info,
                        version,
                        attempt,
                        concurrent,
                        examples=self.after(plan, state, source, matches),
                    )
                concurrent = True
                failure = ConcurrentWriteError(
                    f"dataset {dataset_name!r} changed while syncing: {problem}"
                )
                logger.warning(
                    "%s; reading the dataset again and re-planning (attempt %d of %d)",
                    failure,
                    attempt + 1,
                    self.max_attempts,
                )
            except (httpx.TransportError, ServerError) as exc:
                if isinstance(exc, ServerError) and exc.exhausted:
                    raise  # a read that was already retried as much as allowed
                if isinstance(exc, ServerError) and exc.status_code == 409:
                    # Someone created the dataset first: sync into theirs.
                    failure, concurrent = exc, True
                elif not is_retryable(exc):
                    raise
                else:
                    failure = exc
                    delay = self.server.retry.delay(attempt - 1, retry_after(exc))
                    logger.warning(
                        "sync of %r failed (%s); re-reading the dataset and planning again in "
                        "%.1f s",
                        name or dataset_id,
                        describe(exc),
                        delay,
                    )
                    time.sleep(delay)
            trust_manifest = False
        if isinstance(failure, ConcurrentWriteError):
            raise ConcurrentWriteError(
                f"{failure} — gave up after {self.max_attempts} attempts; run the sync again"
            )
        if isinstance(failure, ServerError):
            raise failure
        raise ServerError(f"sync failed after {self.max_attempts} attempts: {failure}") from failure

    def finish(
        self,
        plan: SyncPlan,
        info: dict[str, Any],
        version: dict[str, Any],
        attempt: int,
        concurrent: bool,
        *,
        examples: ServerExamples | None,
    ) -> UpsertedDataset:
        """Save the manifest for ``version`` (if there is something new to save) and return
        the dataset at that version."""
        if (
            self.manifest_dir is not None
            and examples is not None
            and len(examples) == int(info.get("example_count") or 0)
        ):
            manifest.save(self.manifest_dir, self._fingerprint(info, version), examples)
        return UpsertedDataset(
            server=self.server,
            dataset_info=info,
            version_id=str(version["version_id"]),
            plan=plan,
            attempts=attempt,
            concurrent_writer=concurrent,
        )

    @staticmethod
    def after(plan: SyncPlan, state: State, source: Source, matches: Diff) -> ServerExamples:
        """The server's examples after a verified write, without reading them back: the
        source's examples (node ids of those that existed before, "" for new ones), plus,
        when merging, the previous examples the source did not match."""
        prev = state.examples
        matched = dict(matches.unchanged)
        matched.update(matches.updated)
        out = ServerExamples.empty()
        for i, source_id in enumerate(source.ids):
            p = matched.get(i)
            node = prev.node_ids[p] if p is not None else ""
            out.node_ids.append(node)
            out.external_ids.append(source_id if source_id != node or not node else None)
            out.hashes.append(source.hashes[i])
            if source.splits is not None:
                out.splits.append(source.splits[i])
            else:
                out.splits.append(prev.splits[p] if p is not None else ())
        if plan.mode == "merge":
            taken = set(matched.values())
            for p in range(len(prev)):
                if p not in taken:
                    out.node_ids.append(prev.node_ids[p])
                    out.external_ids.append(prev.external_ids[p])
                    out.hashes.append(prev.hashes[p])
                    out.splits.append(prev.splits[p])
        return out
