"""Concurrent writers, for real: two or three processes sync different sources into one
dataset at the same moment, on Phoenix with SQLite and with PostgreSQL (where Phoenix takes
no lock, so uploads interleave). Each trial is drawn from a seeded ``random.Random``: the
base dataset (50-400 examples, with or without splits, or none at all: then the writers race
to create it), each writer's source (edits of input, output or metadata, deletions,
additions under ids other writers may add too, split reassignments, or only split changes;
with or without splits; a list or a JSONL file; without a manifest or with one that the
base version proves), and small start offsets.

What every trial must show:

1. Each writer reports success or raises ``ConcurrentWriteError`` (after its last allowed
   write), nothing else.
2. At least one writer succeeds.
3. The dataset ends as exactly one writer's source: ids, input, output, metadata, and split
   assignments where that source carries splits (the sources are drawn so that no final
   state can equal two of them).
4. Which writer is final is decided by versions, not by the clock. A success may be
   overtaken by a later write (legitimate: the other writer planned again on top of it), so
   "the last writer to report success wins" is not the invariant: the writer whose version
   is final can finish a few milliseconds before one it overtook (each sync does more work
   after its proof). The invariant is: the success that reports the dataset's newest
   version is the writer whose source the dataset holds (or one of them: writes that change
   only splits make no version, so several successes can report the same one), and if the
   final source's writer succeeded, it reported the newest version.
5. Each success's version V is a version of the dataset, and V holds (ids and content) the
   writer's source — every write lands whole. Split assignments are not versioned by
   Phoenix, so they are compared for the final state only. One exception, PostgreSQL only:
   a version allocated before V but committed after the sync had proven V changes what V
   holds after the fact (Phoenix reads a version as each example's newest revision at or
   below it). From outside, which versions a sync saw cannot be known, so on PostgreSQL a
   version that no longer holds its source is tolerated if some version below it was
   written during the trial (what such a late commit needs); the writer of that version
   then finds its version not the newest and plans again, which 3 and 4 check.

The exception in 5 is safe only because the other writer comes back: the last test here
has one that does not.

``PU_CONCURRENCY_SEED`` fixes the seed (otherwise a random one, printed with each trial and
in its failure report); ``PU_CONCURRENCY_TRIALS`` sets the number of trials per backend.
"""

from __future__ import annotations

import copy
import json
import multiprocessing
import os
import random
import secrets
import shutil
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from phoenix_upsert import Client, ConcurrentWriteError
from phoenix_upsert._engine.driver import CONFLICT_WRITES
from phoenix_upsert.testing import LocalPhoenix

from . import concurrency_writer

SEED = os.environ.get("PU_CONCURRENCY_SEED") or secrets.token_hex(4)
TRIALS = int(os.environ.get("PU_CONCURRENCY_TRIALS", "16"))
RETRIES = 4  # the default of upsert_dataset
SPLITS = ("train", "test", "dev", "hard")


# -- the trials ------------------------------------------------------------------------------


@dataclass
class Writer:
    name: str
    examples: list[dict[str, Any]]
    kind: str  # "content": edits, deletions, additions; "splits": only split changes
    carries_splits: bool
    jsonl: bool
    manifest: bool
    offset: float

    def describe(self) -> str:
        return (
            f"{self.name}: {len(self.examples)} examples, {self.kind} changes, "
            f"{'with' if self.carries_splits else 'without'} splits, "
            f"{'JSONL file' if self.jsonl else 'list'}, "
            f"{'manifest' if self.manifest else 'no manifest'}, offset {self.offset:.3f} s"
        )


@dataclass
class Trial:
    seed: str
    base: list[dict[str, Any]]
    exists: bool  # False: no dataset yet; the writers race to create it
    writers: list[Writer] = field(default_factory=list)

    def describe(self) -> str:
        base = (
            f"base dataset of {len(self.base)} examples"
            f" ({'with' if any('splits' in e for e in self.base) else 'without'} splits)"
            if self.exists
            else f"no dataset yet (sources drawn from {len(self.base)} examples)"
        )
        return "\n".join([f"seed {self.seed!r}: {base}", *(w.describe() for w in self.writers)])


def _splits(rng: random.Random) -> list[str]:
    return rng.sample(SPLITS, k=rng.choice([0, 1, 1, 1, 2]))


def _content(e: dict[str, Any]) -> str:
    return json.dumps([e["input"], e["output"], e.get("metadata", {})], sort_keys=True)


def _distinguishable(a: Writer, b: Writer) -> bool:
    """Whether no dataset can hold both sources at once."""
    if {e["id"]: _content(e) for e in a.examples} != {e["id"]: _content(e) for e in b.examples}:
        return True
    if not (a.carries_splits and b.carries_splits):
        return False
    return {e["id"]: sorted(e["splits"]) for e in a.examples} != {
        e["id"]: sorted(e["splits"]) for e in b.examples
    }


def _writer(rng: random.Random, base: list[dict[str, Any]], name: str) -> Writer:
    kind = "splits" if rng.random() < 0.25 else "content"
    carries = kind == "splits" or rng.random() < 0.4
    edit = rng.uniform(0.0, 0.3) if kind == "content" else 0.0
    delete = rng.choice([0.0, 0.0, rng.uniform(0.0, 0.2)]) if kind == "content" else 0.0
    moved = rng.uniform(0.0, 0.3)
    out: list[dict[str, Any]] = []
    for e in copy.deepcopy(base):
        if rng.random() < delete:
            continue
        if rng.random() < edit:
            part = rng.choice(["input", "output", "metadata"])
            e[part] = {**e.get(part, {}), "by": name, "r": rng.randrange(10**6)}
        base_splits = e.pop("splits", [])
        if carries:
            e["splits"] = _splits(rng) if rng.random() < moved else base_splits
        out.append(e)
    if kind == "content":
        # At least one change of this writer's own, so that no other source equals this one.
        e = rng.choice(out)
        e["output"] = {**e["output"], "by": name, "r": rng.randrange(10**6)}
        taken = {e["id"] for e in out}
        for j in range(rng.choice([0, 0, rng.randint(1, 30)])):
            # half of them under ids another writer may add too, with other content
            new_id = f"new{rng.randrange(40)}" if rng.random() < 0.5 else f"{name}-new{j}"
            if new_id in taken:
                continue
            taken.add(new_id)
            added: dict[str, Any] = {
                "id": new_id,
                "input": {"q": new_id},
                "output": {"answer": f"{name}'s {new_id}"},
            }
            if rng.random() < 0.5:
                added["metadata"] = {"added_by": name}
            if carries:
                added["splits"] = _splits(rng)
            out.append(added)
    else:
        e = rng.choice(out)
        e["splits"] = [s for s in SPLITS if s not in e["splits"]][:1]  # at least one moves
    rng.shuffle(out)
    return Writer(
        name=name,
        examples=out,
        kind=kind,
        carries_splits=carries,
        jsonl=rng.random() < 0.5,
        manifest=rng.random() < 0.5,
        offset=rng.choice(
            [0.0, 0.0, rng.uniform(0.0, 0.03), rng.uniform(0.0, 0.15), rng.uniform(0.0, 0.4)]
        ),
    )


def make_trial(seed: str) -> Trial:
    rng = random.Random(seed)
    with_splits = rng.random() < 0.5
    base: list[dict[str, Any]] = []
    for i in range(rng.randint(50, 400)):
        e: dict[str, Any] = {
            "id": f"e{i}",
            "input": {"q": i, "text": f"question {i}"},
            "output": {"answer": f"a{i}"},
            "metadata": {"k": i % 5},
        }
        if with_splits:
            e["splits"] = _splits(rng)
        base.append(e)
    trial = Trial(seed=seed, base=base, exists=rng.random() < 0.85)
    for k in range(rng.choice([2, 2, 3])):
        while True:
            w = _writer(rng, base, f"w{k}")
            if all(_distinguishable(w, other) for other in trial.writers):
                break
        trial.writers.append(w)
    return trial


# -- reading the server -----------------------------------------------------------------------


def _dataset_id(http: httpx.Client, name: str) -> str | None:
    r = http.get("v1/datasets", params={"name": name})
    r.raise_for_status()
    data = r.json()["data"]
    return str(data[0]["id"]) if data else None


def _versions(http: httpx.Client, dataset_id: str) -> list[str]:
    """The dataset's version ids, newest first."""
    r = http.get(f"v1/datasets/{dataset_id}/versions", params={"limit": 1000})
    r.raise_for_status()
    return [str(v["version_id"]) for v in r.json()["data"]]


def _export(http: httpx.Client, dataset_id: str, version_id: str | None) -> list[dict[str, Any]]:
    params = {"version_id": version_id} if version_id else {}
    r = http.get(f"v1/datasets/{dataset_id}/jsonl", params=params)
    r.raise_for_status()
    # split on "\n" only: str.splitlines() also breaks at U+2028 inside strings
    return [json.loads(line) for line in r.text.split("\n") if line.strip()]


def differences(rows: list[dict[str, Any]], writer: Writer, *, splits: bool) -> list[str]:
    """How the exported ``rows`` differ from the writer's source (empty: they hold it)."""
    out: list[str] = []
    stored: dict[str, dict[str, Any]] = {}
    for r in rows:
        if r["id"] in stored:
            out.append(f"id {r['id']!r} twice")
        stored[r["id"]] = r
    want = {e["id"]: e for e in writer.examples}
    missing = sorted(set(want) - set(stored))
    extra = sorted(set(stored) - set(want))
    if missing:
        out.append(f"{len(missing)} missing ({', '.join(missing[:5])})")
    if extra:
        out.append(f"{len(extra)} extra ({', '.join(extra[:5])})")
    changed = [i for i in want if i in stored and _content(stored[i]) != _content(want[i])]
    if changed:
        out.append(f"{len(changed)} with other content ({', '.join(changed[:5])})")
    if splits and writer.carries_splits:
        moved = [
            i
            for i in want
            if i in stored and sorted(stored[i]["splits"]) != sorted(want[i]["splits"])
        ]
        if moved:
            out.append(f"{len(moved)} in other splits ({', '.join(moved[:5])})")
    return out


# -- running the writers ----------------------------------------------------------------------


@dataclass
class Outcome:
    writer: Writer
    result: dict[str, Any]
    log: str
    exitcode: int | None


def _create_base(phoenix: LocalPhoenix, trial: Trial, dataset: str, manifest: Path) -> None:
    """Create the base dataset, and a manifest of it that the server proves if a writer uses
    one (a second at most: on SQLite a manifest needs the server's clock past its version's
    second)."""
    client = Client(base_url=phoenix.base_url)
    if not any(w.manifest for w in trial.writers):
        client.datasets.upsert_dataset(
            dataset=dataset, examples=trial.base, manifest=False, progress=False
        )
        return
    deadline = time.monotonic() + 10
    while True:
        client.datasets.upsert_dataset(
            dataset=dataset, examples=trial.base, manifest=manifest, progress=False
        )
        if list(manifest.glob("*.json.gz")) or time.monotonic() > deadline:
            return
        time.sleep(0.2)


def _context() -> Any:
    """A fork server that has imported the writers' module: each writer is a fork of it."""
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload([concurrency_writer.__name__])
    return ctx


def run_trial(
    phoenix: LocalPhoenix,
    trial: Trial,
    dataset: str,
    work: Path,
    clock: dict[str, float],
    before: list[str],
) -> list[Outcome]:
    """Start the writers, create the base dataset meanwhile, start them all at once, and
    collect what each reports (``clock``: seconds spent in each phase; ``before``: the
    dataset's versions when the writers start)."""
    t = time.monotonic()
    ctx = _context()
    barrier = ctx.Barrier(len(trial.writers) + 1)
    seeded = work / "manifest-seed"
    procs: list[tuple[Writer, Any, dict[str, Any]]] = []
    try:
        for w in trial.writers:
            spec: dict[str, Any] = {
                "base_url": phoenix.base_url,
                "dataset": dataset,
                "retries": RETRIES,
                "offset": w.offset,
                "manifest": str(work / f"manifest-{w.name}") if w.manifest else False,
                "log": str(work / f"{w.name}.log"),
                "result": str(work / f"{w.name}.result.json"),
            }
            if w.jsonl:
                path = work / f"{w.name}.jsonl"
                path.write_text("".join(json.dumps(e) + "\n" for e in w.examples), "utf-8")
                spec["jsonl"] = str(path)
            else:
                spec["examples"] = w.examples
            spec_path = work / f"{w.name}.json"
            spec_path.write_text(json.dumps(spec), "utf-8")
            proc = ctx.Process(target=concurrency_writer.run, args=(str(spec_path), barrier))
            proc.start()
            procs.append((w, proc, spec))
        if trial.exists:
            _create_base(phoenix, trial, dataset, seeded)
            for w in trial.writers:
                if w.manifest and seeded.exists():
                    shutil.copytree(seeded, work / f"manifest-{w.name}")
        clock["base"] = time.monotonic() - t
        with httpx.Client(base_url=phoenix.base_url) as http:
            found = _dataset_id(http, dataset)
            before.extend(_versions(http, found) if found else [])
        barrier.wait(timeout=120)  # the start, for every writer at once
        clock["ready"] = time.monotonic() - t
        outcomes: list[Outcome] = []
        for w, proc, spec in procs:
            proc.join(timeout=300)
            result_path, log_path = Path(spec["result"]), Path(spec["log"])
            result = (
                json.loads(result_path.read_text("utf-8"))
                if result_path.exists()
                else {"outcome": "no result", "exitcode": proc.exitcode}
            )
            log = log_path.read_text("utf-8") if log_path.exists() else ""
            outcomes.append(Outcome(w, result, log, proc.exitcode))
        clock["race"] = time.monotonic() - t - clock["ready"]
        return outcomes
    finally:
        for _, proc, _ in procs:
            if proc.is_alive():
                proc.kill()
                proc.join()


def timeline(outcomes: list[Outcome], limit: int = 400) -> str:
    """The writers' logs merged by time (lines without a stamp stay with the one before)."""
    entries: list[tuple[float, str]] = []
    t0 = min((o.result.get("started", 0.0) for o in outcomes), default=0.0)
    for o in outcomes:
        stamp = t0
        for line in o.log.splitlines():
            head, _, rest = line.partition(" ")
            try:
                stamp = float(head)
            except ValueError:
                entries.append((stamp, f"{'':>9}  {o.writer.name}  {line}"))
            else:
                entries.append((stamp, f"{stamp - t0:9.3f}  {o.writer.name}  {rest}"))
    entries.sort(key=lambda e: e[0])
    lines = [text for _, text in entries]
    if len(lines) > limit:
        lines = [*lines[: limit // 2], f"... {len(lines) - limit} lines ...", *lines[-limit // 2 :]]
    return "\n".join(lines)


# -- the test ---------------------------------------------------------------------------------


def check_trial(
    phoenix: LocalPhoenix, dataset: str, outcomes: list[Outcome], before: list[str]
) -> tuple[list[str], list[str]]:
    """(problems, notes): what breaks the invariants of the module docstring, and what was
    seen and is allowed (a success overtaken, a version changed by a late commit).
    ``before``: the dataset's versions before the writers started."""
    problems: list[str] = []
    notes: list[str] = []
    successes = [o for o in outcomes if o.result.get("outcome") == "success"]
    for o in outcomes:
        r = o.result
        if r.get("outcome") == "concurrent":
            if "gave up after" not in r["message"]:
                problems.append(f"{o.writer.name}: ConcurrentWriteError early: {r['message']}")
        elif r.get("outcome") != "success":
            problems.append(
                f"{o.writer.name}: neither success nor ConcurrentWriteError: "
                f"{r.get('error')}: {r.get('message')}\n{r.get('trace', '')}"
            )
    if not successes:
        problems.append("no writer succeeded")
    with httpx.Client(base_url=phoenix.base_url, timeout=60) as http:
        dataset_id = _dataset_id(http, dataset)
        if dataset_id is None:
            problems.append("there is no dataset")
            return problems, notes
        versions = _versions(http, dataset_id)
        final = _export(http, dataset_id, None)
        diffs = {o.writer.name: differences(final, o.writer, splits=True) for o in outcomes}
        matches = [o.writer.name for o in outcomes if not diffs[o.writer.name]]
        if len(matches) != 1:
            problems.append(
                "the dataset holds "
                + ("none of the sources" if not matches else "more than one source")
                + ": "
                + "; ".join(f"{name}: {', '.join(d) or 'equal'}" for name, d in diffs.items())
            )
        newest = versions[0] if versions else None
        order = {v: i for i, v in enumerate(versions)}  # 0: newest
        # Several successes share a version when their writes changed only splits (Phoenix
        # makes no version for those): the final source is then one of them.
        at_newest = [o.writer.name for o in successes if o.result["version_id"] == newest]
        if at_newest and not set(at_newest) & set(matches):
            problems.append(
                f"{', '.join(at_newest)} succeeded with the newest version, yet the dataset "
                f"holds {', '.join(matches) or 'no source'}"
            )
        for o in successes:
            r, name = o.result, o.writer.name
            v = r["version_id"]
            if not 1 <= r["attempts"] <= max(RETRIES, CONFLICT_WRITES):
                problems.append(f"{name}: {r['attempts']} attempts")
            # More than one write: after another writer was seen, or after a write failed
            # (on PostgreSQL, two uploads that add the same ids can deadlock: HTTP 500).
            if r["attempts"] > 1 and not r["concurrent_writer"] and "failed (" not in o.log:
                problems.append(f"{name}: {r['attempts']} writes, concurrent_writer=False")
            if v not in order:
                problems.append(f"{name}: reported version {v}, not a version of the dataset")
                continue
            if name in matches and v != newest:
                problems.append(f"{name}: holds its source but reported an older version {v}")
            if name not in matches:
                notes.append(f"{name} overtaken")
            at_v = differences(_export(http, dataset_id, v), o.writer, splits=False)
            if at_v:
                below = [x for x in versions if order[x] > order[v] and x not in before]
                text = f"{name}: its version {v} does not hold its source: {', '.join(at_v)}"
                if phoenix.backend == "postgresql" and below:
                    notes.append(f"{text} (written during the trial below it: {', '.join(below)})")
                else:
                    problems.append(text)
    return problems, notes


def _report(
    phoenix: LocalPhoenix,
    trial: Trial,
    outcomes: list[Outcome],
    dataset: str,
    findings: list[str],
    before: list[str],
    work: Path,
) -> str:
    results = "\n".join(
        f"{o.writer.name} (exit code {o.exitcode}): {json.dumps(o.result)}" for o in outcomes
    )
    with httpx.Client(base_url=phoenix.base_url, timeout=60) as http:
        found = _dataset_id(http, dataset)
        versions = _versions(http, found) if found else []
    listed = ", ".join(v if v in before else f"{v}*" for v in versions)
    return (
        f"backend {phoenix.backend}, {trial.describe()}\n\n"
        + "\n".join(f"- {p}" for p in findings)
        + f"\n\nversions, newest first (*: written by the writers): {listed}"
        + f"\n\nresults:\n{results}\n\nlogs, merged ({work}):\n{timeline(outcomes)}"
    )


@pytest.mark.parametrize("trial", range(TRIALS))
def test_concurrent_writers_end_as_one_source(
    phoenix: LocalPhoenix, trial: int, tmp_path: Path
) -> None:
    seed = f"{SEED}-{trial}"
    spec = make_trial(seed)
    dataset = f"concurrency-{seed}"
    started = time.monotonic()
    clock: dict[str, float] = {}
    before: list[str] = []
    outcomes = run_trial(phoenix, spec, dataset, tmp_path, clock, before)
    checked = time.monotonic()
    problems, notes = check_trial(phoenix, dataset, outcomes, before)
    clock["check"] = time.monotonic() - checked
    findings = [*problems, *(f"(allowed) {n}" for n in notes)]
    report = _report(phoenix, spec, outcomes, dataset, findings, before, tmp_path)
    (tmp_path / "report.txt").write_text(report, "utf-8")
    summary = ", ".join(
        f"{o.writer.name} {o.result.get('outcome')}"
        + (f" {o.result['action']}x{o.result['attempts']}" if "action" in o.result else "")
        for o in outcomes
    )
    print(
        f"\n[{phoenix.backend} {seed}] {len(spec.writers)} writers, {summary}; "
        f"{time.monotonic() - started:.1f} s ("
        + ", ".join(f"{k} {v:.1f}" for k, v in clock.items())
        + ")"
        + "".join(f"\n  note: {n}" for n in notes)
    )
    assert not problems, report


# -- an upload in flight below our version --------------------------------------------------


def test_a_success_is_not_changed_by_an_upload_in_flight(phoenix: LocalPhoenix) -> None:
    """An upload that began before ours and commits after our proof. On PostgreSQL, Phoenix
    gives an upload its version when its transaction inserts it and shows it only at the
    commit, and reads a version as each example's newest revision at or below it: a sync
    that proves "newest version ours, right on our base" while such an upload is in flight
    reports a version that later holds the other upload's changes too. In the randomized
    trials the other writer notices and syncs again; here it does not come back (a client
    that does not verify, or a sync killed after sending). The sync must raise
    ``ConcurrentWriteError``, or its version must keep holding its source."""
    client = Client(base_url=phoenix.base_url)
    dataset = f"in-flight-{SEED}"
    base = [{"id": f"e{i}", "input": {"i": i}, "output": {"by": "base"}} for i in range(2000)]
    client.datasets.upsert_dataset(dataset=dataset, examples=base, manifest=False)
    theirs = {
        "action": "append",
        "name": dataset,
        "inputs": [e["input"] for e in base],
        "outputs": [{"by": "them"} for _ in base],
        "metadata": [{} for _ in base],
        "example_ids": [e["id"] for e in base],
    }

    def allocated() -> int:
        if phoenix.backend == "postgresql":  # a sequence: it moves before the commit
            return int(phoenix.sql("SELECT last_value FROM dataset_versions_id_seq")[0][0])
        return 0

    before = allocated()
    answers: list[httpx.Response] = []
    upload = threading.Thread(
        target=lambda: answers.append(
            httpx.post(
                f"{phoenix.base_url}/v1/datasets/upload",
                params={"sync": "true"},
                json=theirs,
                timeout=300,
            )
        )
    )
    upload.start()
    deadline = time.monotonic() + 60
    if phoenix.backend == "postgresql":
        while allocated() == before and time.monotonic() < deadline:
            time.sleep(0.005)
    else:
        time.sleep(0.2)  # SQLite: one writer at a time; ours waits for theirs
    ours = copy.deepcopy(base)
    ours[0]["output"] = {"by": "us"}
    sync_error: Exception | None = None
    try:
        ds = client.datasets.upsert_dataset(dataset=dataset, examples=ours, manifest=False)
    except ConcurrentWriteError as e:
        sync_error = e
    upload.join()
    assert answers and answers[0].status_code == 200, answers
    if sync_error is not None:
        return
    with httpx.Client(base_url=phoenix.base_url) as http:
        at_ours = _export(http, ds.id, ds.version_id)
        versions = _versions(http, ds.id)
    by: dict[str, int] = {}
    for row in at_ours:
        by[row["output"]["by"]] = by.get(row["output"]["by"], 0) + 1
    if by != {"us": 1, "base": 1999} and phoenix.backend == "postgresql":
        # Phoenix on PostgreSQL gives an upload its version id before it commits and takes
        # no lock: an upload that commits after our proof, with a lower version id, shows in
        # our version from then on. Nothing the API shows can reveal it before it commits
        # (one that commits before our proof is caught: see VERSION_WINDOW in _sync.py). A
        # sync of the other writer's would notice and sync again; a blind upload does not.
        pytest.xfail(
            "known limitation of Phoenix on PostgreSQL: an upload committing after our proof, "
            f"below our version, changes it (outputs now {by})"
        )
    assert by == {"us": 1, "base": 1999}, (
        f"{phoenix.backend}: the sync reported success (attempts={ds.attempts}, "
        f"concurrent_writer={ds.concurrent_writer}) at version {ds.version_id}, which now "
        f"holds outputs by {by}; the other upload's version {answers[0].json()['data']}; "
        f"the dataset's versions, newest first: {versions}"
    )
