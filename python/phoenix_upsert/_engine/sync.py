"""The sync engine: read the server's state, plan, write the least, prove the result.

1. State: the dataset (by name or id), its two latest versions and its examples. The examples
   come from the local manifest when the server proves it applies (see ``_manifest``) and the
   source says nothing of splits; otherwise from Phoenix's JSONL export (hashed by the native
   core, no Python object per line). Split assignments are not versioned by Phoenix, so no
   manifest can prove them: a source that carries splits always reads them.
2. Plan: :func:`make_plan`, a pure function of (source, state, mode).
3. Write, in one request, so that each sync that changes content makes exactly one version:
   nothing if nothing changed; ``append`` with only the new and changed examples if nothing
   is deleted; ``update`` with the full snapshot if something is (atomic on the server);
   ``create`` for a new dataset.
4. Prove: every write, whatever its plan, is checked before success is reported.
   - A source without splits: the counts the server reports must be the plan's, and the
     dataset's newest version must be ours, sitting right on the version the plan was made
     from (on PostgreSQL, Phoenix takes no lock: another writer's version may land above or
     below ours).
   - A source with splits: the dataset is read back and planned again; only an empty plan
     proves it (split assignments change without a version).
   Anything else means another writer was at work: read the state again and plan again (a
   mirror sync then writes the full snapshot, which the server diffs against whatever
   landed meanwhile), after a fully jittered wait, up to ``CONFLICT_WRITES`` writes, then
   give up with :class:`ConcurrentWriteError`.

Any failure of the write (connection lost, 5xx, 429, timeout) also leads back to step 1
rather than to a blind resend: a write whose answer was lost is then seen as done, and is
reported as what this sync wrote.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from phoenix_upsert import _progress
from phoenix_upsert._engine import manifest
from phoenix_upsert._engine.manifest import Fingerprint, ServerExamples
from phoenix_upsert._engine.server import Server, describe, is_retryable, logger, retry_after
from phoenix_upsert._native import Diff, diff, manifest_after_write, scan_jsonl
from phoenix_upsert._sources.source import Source
from phoenix_upsert.errors import (
    ConcurrentWriteError,
    DuplicateContentError,
    DuplicateSourceIdError,
    InvalidInputError,
    InvalidSourceIdError,
    ServerError,
)
from phoenix_upsert.results import Action, Mode, SyncPlan, SyncResult


@dataclass
class State:
    """What the server holds, as the plan sees it."""

    info: dict[str, Any] | None  # the dataset, or None if there is no such dataset yet
    versions: list[dict[str, Any]]  # its latest versions, newest first (at most two)
    examples: ServerExamples
    from_manifest: bool = False
    #: The server's clock (its ``Date`` header) when ``examples`` were read from it.
    read_at: datetime | None = None
    #: Why the examples read may not be what the dataset holds (``None``: they are): the
    #: export held another number of examples than the dataset counts — a body cut short
    #: by a proxy, a duplicated line, or another writer between the two reads. A sync from
    #: such a state writes the full source and proves it by the dataset's versions.
    unknown: str | None = None

    @property
    def version(self) -> dict[str, Any] | None:
        return self.versions[0] if self.versions else None

    @property
    def dataset_id(self) -> str | None:
        return None if self.info is None else str(self.info["id"])

    @property
    def version_id(self) -> str | None:
        return None if self.version is None else str(self.version["version_id"])


def make_plan(
    source: Source, state: State, *, name: str, mode: Mode, snapshot: bool = False
) -> tuple[SyncPlan, Diff]:
    """What it takes to make ``state`` hold ``source`` (a pure function: no I/O).

    ``snapshot``: write any change of a mirror sync as a full-snapshot ``update``, which the
    server diffs against its own newest version: the write leaves exactly the source even if
    another writer changed the dataset since ``state`` was read (used after a conflict)."""
    prev = state.examples
    d = diff(
        list(zip(prev.node_ids, prev.external_ids, prev.hashes)),
        list(zip(source.ids, source.hashes)),
        merge=mode == "merge",
    )
    if d.unknown_node_ids:
        shown = ", ".join(f"{source.where(i)}: {source.ids[i]!r}" for i in d.unknown_node_ids[:5])
        raise InvalidSourceIdError(
            "source ids that are Phoenix node ids must name examples of this dataset; "
            f"these do not: {shown}",
            index=d.unknown_node_ids[0],
            source_id=source.ids[d.unknown_node_ids[0]],
        )
    taken: dict[int, int] = {}
    for i, p in [*d.unchanged, *d.updated]:
        j = taken.setdefault(p, i)
        if j != i:  # one id is the example's external id, the other its node id
            first, second = sorted((i, j))
            raise DuplicateSourceIdError(
                f"{source.where(first)} and {source.where(second)} name the same example of "
                f"the dataset ({state.examples.node_ids[p]})",
                ids=[str(source.ids[first]), str(source.ids[second])],
                index=second,
                source_id=source.ids[second],
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
    # An example added without an id whose content the dataset already holds: Phoenix's
    # append matches it to that example (by content) and adds nothing. Only a full snapshot
    # (``update``) adds the copy; a merge cannot write one.
    held = set(prev.hashes)
    copies = [i for i in added if source.ids[i] is None and source.hashes[i] in held]
    if copies and mode == "merge" and state.info is not None:
        shown = ", ".join(source.where(i) for i in copies[:5])
        raise DuplicateContentError(
            f"{len(copies)} example(s) without a source id repeat the content of an example the "
            f"dataset already holds ({shown}); Phoenix matches examples without ids by content, "
            "so a merge cannot add another copy: give the examples ids, or remove the duplicates",
            index=copies[0],
        )
    action: Action
    if state.info is None:
        action = "create"  # even with no examples: the dataset is asked for by name
    elif not (added or updated or deleted or split_changes):
        action = "none"
    elif deleted or copies or (snapshot and mode == "mirror"):
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


def state_after(plan: SyncPlan, state: State, source: Source, matches: Diff) -> ServerExamples:
    """The server's examples after ``plan`` landed, without reading them back (the core's
    rule, shared with the TypeScript engine): the source's examples, plus, when merging, the
    previous examples the source did not match; new examples have no node id yet ("")."""
    prev = state.examples
    node_ids, external_ids, hashes, splits = manifest_after_write(
        (prev.node_ids, prev.external_ids, prev.hashes, prev.splits),
        source.ids,
        source.hashes,
        source.splits,
        [*matches.unchanged, *matches.updated],
        plan.mode == "merge",
    )
    return ServerExamples(node_ids, external_ids, hashes, [tuple(s) for s in splits])


_COUNT_KEYS = ("num_created_examples", "num_updated_examples", "num_deleted_examples")

#: The proof's answer when another writer wrote after this sync's write. That writer may not
#: have seen ours (on PostgreSQL ours can commit after its proof, below its version), so this
#: sync plans again like after any other conflict.
OVERTAKEN = "another writer wrote after this sync's write"

#: Writes a sync may make while other writers keep changing the dataset (at least
#: ``retries``): contending mirror syncs each write until one proves, and a sync that gives
#: up may leave its last write on top of another's.
CONFLICT_WRITES = 8

#: How many of a dataset's latest versions a sync reads, and checks again after writing: a
#: version that appears below the newest one in between is another writer's upload that
#: committed late (on PostgreSQL an upload gets its version id before it commits).
VERSION_WINDOW = 10


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
            return State(None, [], ServerExamples.empty())
        versions = self.server.versions(str(info["id"]), VERSION_WINDOW)
        if not versions:
            return State(info, [], ServerExamples.empty(), read_at=self.server.clock)
        fingerprint = self._fingerprint(info, versions)
        if trust_manifest and self.manifest_dir is not None:
            cached = manifest.load(self.manifest_dir, fingerprint)
            if cached is not None:
                logger.debug("using the sync manifest for %s", fingerprint.version_id)
                return State(info, versions, cached, from_manifest=True)
        examples = self.download(info, versions[0])
        read_at = self.server.clock
        doubt = self.doubt(info, str(versions[0]["version_id"]), examples)
        return State(info, versions, examples, read_at=read_at, unknown=doubt)

    def doubt(self, info: dict[str, Any], version_id: str, examples: ServerExamples) -> str | None:
        """Why the export just read may not hold the version's examples (``None``: it does).

        The dataset's ``example_count`` is the first witness; it is not exact (PostgreSQL's
        interleaving writers can leave it off for good), so a disagreement is settled by the
        version's examples as JSON (a document cut short does not parse): the export must
        hold as many. A disagreement that stands leaves the state unknown."""
        count = int(info.get("example_count") or 0)
        if len(examples) == count:
            return None
        listed = self.server.examples(
            str(info["id"]), version_id, expected_examples=max(count, len(examples))
        )
        n = len(listed.get("examples", ())) if isinstance(listed, dict) else -1
        if n == len(examples):
            return None
        return (
            f"the export of version {version_id} holds {len(examples)} examples, the "
            f"version's examples are {n} and the dataset counts {count}"
        )

    def _fingerprint(self, info: dict[str, Any], versions: list[dict[str, Any]]) -> Fingerprint:
        previous = versions[1] if len(versions) > 1 else None
        return Fingerprint(
            server=self.server.base_url,
            dataset_id=str(info["id"]),
            dataset_created_at=str(info.get("created_at")),
            version_id=str(versions[0]["version_id"]),
            version_created_at=str(versions[0].get("created_at")),
            previous_version_id=None if previous is None else str(previous["version_id"]),
            previous_version_created_at=(
                None if previous is None else str(previous.get("created_at"))
            ),
            version_ids=tuple(str(v["version_id"]) for v in versions[:VERSION_WINDOW]),
            example_count=int(info.get("example_count") or 0),
        )

    def download(self, info: dict[str, Any], version: dict[str, Any]) -> ServerExamples:
        count = int(info.get("example_count") or 0)
        with _progress.bar(
            self.progress,
            long=count > 5000,
            total=count,
            desc=f"reading {info['name']!r}",
            unit=" examples",
            unit_scale=True,
        ) as bar:
            data = self.server.export_jsonl(
                str(info["id"]), str(version["version_id"]), expected_examples=count, progress=bar
            )
        try:
            scan = scan_jsonl(data, id_key="id", node_id_key="node_id", splits_key="splits")
        except InvalidInputError as e:
            raise ServerError(
                f"reading dataset {info['name']!r}: the server's export is not Phoenix JSONL "
                f"({e}); is {self.server.base_url} a Phoenix server?"
            ) from e
        splits = scan.splits or []
        return ServerExamples(
            node_ids=[n or "" for n in scan.node_ids or []],
            external_ids=scan.external_ids or [],
            hashes=scan.hashes,
            splits=[tuple(s or ()) for s in splits],
        )

    # -- write ---------------------------------------------------------------------------

    @staticmethod
    def upload_indices(plan: SyncPlan, source: Source, *, full: bool = False) -> list[int]:
        if full or plan.action in ("create", "update"):
            return list(range(len(source)))
        return sorted(plan.added_indices + plan.updated_indices + plan.split_change_indices)

    def body(
        self, plan: SyncPlan, source: Source, indices: Sequence[int], description: str | None
    ) -> Iterator[bytes]:
        """The upload as a JSON body, streamed: Phoenix keeps key order this way on SQLite
        (its JSONL upload reorders the keys of input/output/metadata)."""
        head: dict[str, Any] = {"action": plan.action, "name": plan.dataset_name}
        if description is not None and plan.action == "create":
            head["description"] = description
        yield json.dumps(head, ensure_ascii=False)[:-1].encode()
        for part, key in enumerate(("inputs", "outputs", "metadata")):
            # The parts are written by the native core from what it scanned (key order
            # kept, each example checked to hash as planned); here only joined.
            yield f',"{key}":['.encode()
            batch: list[bytes] = []
            comma = b""
            for text in source.rows(indices, part):
                batch.append(text)
                if len(batch) >= 512:
                    yield comma + b",".join(batch)
                    batch.clear()
                    comma = b","
            yield (comma + b",".join(batch) if batch else b"") + b"]"
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

    def write(
        self, plan: SyncPlan, source: Source, description: str | None, *, full: bool = False
    ) -> dict[str, Any]:
        indices = self.upload_indices(plan, source, full=full)
        long = len(indices) > 1000
        waiting: list[_progress.Elapsed] = []
        with _progress.byte_bar(
            self.progress,
            long=long,
            total=source.upload_size(indices),
            desc=f"{plan.action} {len(indices):,} examples: sending",
        ) as bar:

            def stream() -> Iterator[bytes]:
                for chunk in self.body(plan, source, indices, description):
                    bar.update(len(chunk))
                    yield chunk
                # All sent: the server now hashes and inserts (about 2 ms per example).
                bar.total = bar.n  # the total was an estimate; the bar ends full
                bar.close()
                waiting.append(
                    _progress.Elapsed(
                        self.progress,
                        long=long,
                        desc=f"{plan.action} {len(indices):,} examples: server inserting",
                    )
                )

            logger.info(
                "%s %r: sending %d examples (%s)",
                plan.action,
                plan.dataset_name,
                len(indices),
                ", ".join(f"{k} {v}" for k, v in plan.summary.as_dict().items()),
            )
            try:
                return dict(self.server.upload(stream, examples=len(indices), snapshot=len(source)))
            finally:
                for w in waiting:
                    w.stop()

    # -- proof ---------------------------------------------------------------------------

    def check_counts(
        self, plan: SyncPlan, result: dict[str, Any], *, counts: bool = True
    ) -> str | None:
        """Why the server's report of a write is not the plan's (``None`` if it is);
        ``counts=False``: only where it went (a plan made from a read that was not the
        server's state cannot predict what the server changed)."""
        s = plan.summary
        expected = (s.added, s.updated, s.deleted)
        got = tuple(int(result.get(k, -1)) for k in _COUNT_KEYS)
        if counts and got != expected:
            return (
                f"the server reports {got[0]} created, {got[1]} updated, {got[2]} deleted; "
                f"the plan had {expected[0]}, {expected[1]}, {expected[2]}"
            )
        if plan.dataset_id is not None and result.get("dataset_id") != plan.dataset_id:
            return f"the upload went to dataset {result.get('dataset_id')!r}"
        return None

    def check_versions(
        self, plan: SyncPlan, result: dict[str, Any], state: State, dataset_id: str
    ) -> tuple[str | None, list[dict[str, Any]]]:
        """Whether the dataset's newest version is the one this write made, right on top of
        the versions the plan was made from, which are unchanged below it:
        ``(problem or None, the latest versions)``."""
        ours = result.get("version_id")
        versions = self.server.versions(dataset_id, VERSION_WINDOW + 1)
        ids = [v["version_id"] for v in versions]
        before = [v["version_id"] for v in state.versions]
        if all(int(result.get(k, -1)) == 0 for k in _COUNT_KEYS):
            # The server found nothing to change (a full write from a state that was not
            # known) and made no version. (It then names its latest version by creation
            # time, which on SQLite ties within a second: not necessarily the newest.) The
            # versions must be exactly those read.
            k = min(len(ids), len(before))
            if not ids or ids[:k] != before[:k]:
                return "another writer wrote while this sync wrote", versions
            return None, versions
        if not ids or ids[0] != ours:
            return OVERTAKEN, versions
        below = ids[1:]
        if (below[0] if below else None) != plan.base_version_id:
            return "another version was written between reading the dataset and writing it", (
                versions
            )
        k = min(len(below), len(before))
        if below[:k] != before[:k]:
            return "another writer's version appeared below the one the plan was made from", (
                versions
            )
        return None, versions

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
    ) -> SyncPlan | SyncResult:
        """Read, plan, write, prove; again after a failure or another writer's change.

        A state machine over ``state`` (what the server holds, ``None``: read it again) and
        ``wrote`` (the last write this sync sent that may have landed, reported if the next
        plan is empty)."""
        trust_manifest = use_manifest and source.splits is None
        state: State | None = None
        wrote: SyncPlan | None = None
        writes = 0
        concurrent = False
        problem: BaseException | None = None
        while True:
            try:
                if state is None:
                    state = self.read_state(name, dataset_id, trust_manifest=trust_manifest)
                    trust_manifest = False  # a second read is after a failure: ask the server
                dataset_name = state.info["name"] if state.info is not None else name
                assert dataset_name is not None
                try:
                    # After a conflict or a failed write, a mirror sync writes the full
                    # snapshot: whatever landed meanwhile, the server then diffs against it.
                    plan, matches = make_plan(
                        source,
                        state,
                        name=dataset_name,
                        mode=mode,
                        snapshot=problem is not None or state.unknown is not None,
                    )
                except InvalidSourceIdError:
                    if state.from_manifest and "" in state.examples.node_ids:
                        state = None  # the manifest does not know every node id; the server does
                        continue
                    raise
                if state.unknown is not None and plan.action == "none":
                    # What was read may not be what the server holds: never "up to date"
                    # on it. Write the whole source; the server diffs it against what it
                    # really holds (a mirror's update deletes the rest), and the dataset's
                    # versions prove the write.
                    plan = dataclasses.replace(
                        plan, action="update" if mode == "mirror" else "append"
                    )
                if dry_run:
                    return plan
                if plan.action == "none":
                    return self.finish(
                        wrote or plan,
                        state,
                        examples=None if state.from_manifest else state.examples,
                        proven_at=state.read_at,
                        attempts=writes,
                        concurrent=concurrent,
                    )
                conflict = isinstance(problem, ConcurrentWriteError)
                if writes >= (
                    max(self.max_attempts, CONFLICT_WRITES) if conflict else self.max_attempts
                ):
                    raise self.give_up(problem, writes)
                writes += 1
                wrote = plan
                full = state.unknown is not None
                if full:
                    logger.warning(
                        "dataset %r: %s; writing the whole source (%d examples) instead of "
                        "trusting that read",
                        dataset_name,
                        state.unknown,
                        len(source),
                    )
                result = self.write(plan, source, description, full=full)
                proven = self.prove(plan, result, state, source, matches, mode=mode)
                if isinstance(proven, tuple):
                    after, examples, proven_at = proven
                    return self.finish(
                        plan,
                        after,
                        examples=examples,
                        proven_at=proven_at,
                        attempts=writes,
                        concurrent=concurrent,
                    )
                concurrent = True
                problem = ConcurrentWriteError(
                    f"dataset {dataset_name!r} changed while syncing: {proven}"
                )
                delay = self.server.retry.delay(writes - 1, jitter="full")
                logger.warning(
                    "%s; reading it again and planning again in %.1f s (write %d of at most %d)",
                    problem,
                    delay,
                    writes,
                    self.max_attempts,
                )
                time.sleep(delay)
                state = None
            except (httpx.TransportError, ServerError) as exc:
                if isinstance(exc, ServerError) and exc.exhausted:
                    raise  # a read that was already retried as much as allowed
                status = exc.status_code if isinstance(exc, ServerError) else None
                if wrote is not None and wrote.action == "create" and status in (409, 500):
                    # Another writer created the dataset first: sync into theirs. (On
                    # PostgreSQL the loser of that race gets a 500, a unique-name violation,
                    # rather than a 409.) Nothing of this write landed.
                    wrote, concurrent = None, True
                    logger.info(
                        "creating dataset %r failed (HTTP %s), as when another writer creates it "
                        "at the same time; reading it again",
                        name,
                        status,
                    )
                elif not is_retryable(exc):
                    raise
                else:
                    delay = self.server.retry.delay(writes - 1, retry_after(exc))
                    logger.warning(
                        "sync of %r failed (%s); reading the dataset again and planning again "
                        "in %.1f s",
                        name or dataset_id,
                        describe(exc),
                        delay,
                    )
                    time.sleep(delay)
                problem = exc
                state = None

    def prove(
        self,
        plan: SyncPlan,
        result: dict[str, Any],
        state: State,
        source: Source,
        matches: Diff,
        *,
        mode: Mode,
    ) -> tuple[State, ServerExamples | None, datetime | None] | str:
        """Prove that the write ``result`` reports made the dataset hold the source: the
        state after it, the examples it holds and when that was seen; or why not.

        The server's counts must be the plan's. Then, for a source with splits (which
        Phoenix does not version), the dataset read back must need no write; for one
        without, the newest version must be this write's, right on the plan's base, with
        the versions below unchanged (``check_versions``)."""
        problem = self.check_counts(plan, result, counts=state.unknown is None)
        if problem is not None:
            return problem
        dataset_id = str(result.get("dataset_id") or state.dataset_id)
        if source.splits is not None:
            back = self.read_state(None, dataset_id, trust_manifest=False)
            if back.unknown is not None:
                return f"the dataset read back is not known: {back.unknown}"
            again, _ = make_plan(source, back, name=plan.dataset_name, mode=mode)
            if again.action != "none":
                return "the dataset read back differs from the source"
            return back, back.examples, back.read_at
        problem, versions = self.check_versions(plan, result, state, dataset_id)
        if problem is not None:
            return problem
        proven_at = self.server.clock
        info = self.server.get_dataset(dataset_id)
        after = State(info, versions, state_after(plan, state, source, matches))
        if state.unknown is not None:
            # Proven by the versions, but planned from a read that was not the server's
            # state: what the dataset holds is the source, not a manifest to keep.
            return after, None, proven_at
        return after, after.examples, proven_at

    def give_up(self, problem: BaseException | None, writes: int) -> BaseException:
        """The error that ends a sync whose last allowed write did not prove out."""
        if isinstance(problem, ConcurrentWriteError):
            return ConcurrentWriteError(
                f"{problem} — gave up after {writes} writes; the dataset may hold another "
                "writer's content: run the sync again"
            )
        if isinstance(problem, ServerError):
            problem.exhausted = True
            return problem
        return ServerError(f"sync failed after {writes} attempts: {problem}")

    def finish(
        self,
        plan: SyncPlan,
        state: State,
        *,
        examples: ServerExamples | None,
        proven_at: datetime | None,
        attempts: int,
        concurrent: bool,
    ) -> SyncResult:
        """Save the manifest for the state's version (if there is something new to save and
        the server's clock proves it, see ``_manifest``) and return the dataset there."""
        assert state.info is not None
        version = state.version
        if version is None:
            # A dataset without versions (created empty in the UI): nothing to pin.
            version = {"version_id": "", "created_at": None}
        elif (
            self.manifest_dir is not None
            and examples is not None
            and len(examples) == int(state.info.get("example_count") or 0)
        ):
            manifest.save(
                self.manifest_dir,
                self._fingerprint(state.info, state.versions),
                examples,
                proven_at=proven_at,
            )
        return SyncResult(
            dataset_info=state.info,
            version_id=str(version["version_id"]),
            plan=plan,
            attempts=max(attempts, 1),
            concurrent_writer=concurrent,
        )
