"""What an experiment may reuse from an earlier one: the rules, without I/O.

The experiment's metadata carries, under the key ``phoenix_upsert`` (the same in the
TypeScript package)::

    {"format": 1, "task_fingerprint": "py1:…", "task_version": "v3" | null,
     "evaluators": {"<name>": "py1:…"}, "repetitions": 1,
     "reused_from": "<experiment id>" | null, "reused_runs": 0, "reused_evaluations": 0,
     "task_runs": 0, "evaluator_runs": 0}

An example's runs are reused when (1) the earlier experiment is on the same dataset and
compatible (same task fingerprint, same ``task_version``, same repetitions — or
``reuse="force"``), (2) the example has the same node id and the same content hash in both
versions, and (3) every repetition of it succeeded in the earlier experiment. An evaluation
of a reused run is reused when its evaluator runs now under the same name with the same
fingerprint (or ``reuse="force"``) and it succeeded earlier.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

KEY = "phoenix_upsert"
FORMAT = 1
Reuse = Literal["auto", "force", "never"]


@dataclass(frozen=True)
class Fingerprints:
    """The current task's and evaluators' identity."""

    task: str
    task_version: str | None
    evaluators: Mapping[str, str]
    repetitions: int

    def metadata(self, reused_from: str | None) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "task_fingerprint": self.task,
            "task_version": self.task_version,
            "evaluators": dict(self.evaluators),
            "repetitions": self.repetitions,
            "reused_from": reused_from,
        }


@dataclass
class EarlierRun:
    """A successful run of the earlier experiment, with its successful evaluations."""

    example_id: str
    repetition: int
    output: Any
    start_time: str
    end_time: str
    trace_id: str | None
    evaluations: dict[str, dict[str, Any]] = field(default_factory=dict)

    def body(self) -> dict[str, Any]:
        """The POST body that makes this run in another experiment."""
        body: dict[str, Any] = {
            "dataset_example_id": self.example_id,
            "output": self.output,
            "repetition_number": self.repetition,
            "start_time": self.start_time,
            "end_time": self.end_time,
        }
        if self.trace_id:
            body["trace_id"] = self.trace_id
        return body


@dataclass
class Plan:
    """What to copy and what to run."""

    reason: str | None
    #: node ids of the examples whose runs are copied, with those runs (one per repetition)
    reuse: dict[str, list[EarlierRun]]
    #: evaluators whose earlier evaluations may be copied
    reusable_evaluators: frozenset[str]
    changed: int = 0
    added: int = 0
    failed: int = 0

    @property
    def reused_runs(self) -> int:
        return sum(len(runs) for runs in self.reuse.values())

    def copies(self, evaluators: Sequence[str]) -> list[tuple[EarlierRun, str]]:
        """The (run, evaluation name) pairs whose evaluation is copied."""
        wanted = [name for name in evaluators if name in self.reusable_evaluators]
        return [
            (run, name)
            for runs in self.reuse.values()
            for run in runs
            for name in wanted
            if name in run.evaluations
        ]


def nothing(reason: str) -> Plan:
    return Plan(reason=reason, reuse={}, reusable_evaluators=frozenset())


def compatibility(
    earlier: Mapping[str, Any], dataset_id: str, now: Fingerprints, reuse: Reuse
) -> tuple[str | None, frozenset[str]]:
    """Why the earlier experiment's runs cannot be reused (``None``: they can), and the
    evaluators whose evaluations can."""
    eid = earlier.get("id")
    if earlier.get("dataset_id") != dataset_id:
        return f"experiment {eid} is on another dataset", frozenset()
    meta = (earlier.get("metadata") or {}).get(KEY)
    if reuse == "force":
        return None, frozenset(now.evaluators)
    if not isinstance(meta, Mapping) or "task_fingerprint" not in meta:
        return (
            f"experiment {eid} has no phoenix-upsert fingerprints (it was not run by "
            "phoenix-upsert's run_experiment); pass reuse='force' to reuse it anyway",
            frozenset(),
        )
    if meta.get("task_fingerprint") != now.task:
        return (
            f"the task's code differs from the one that ran experiment {eid} (fingerprint "
            f"{meta.get('task_fingerprint')} then, {now.task} now)",
            frozenset(),
        )
    if meta.get("task_version") != now.task_version:
        return (
            f"task_version differs from experiment {eid}'s "
            f"({meta.get('task_version')!r} then, {now.task_version!r} now)",
            frozenset(),
        )
    reps = int(earlier.get("repetitions") or meta.get("repetitions") or 1)
    if reps != now.repetitions:
        return (
            f"experiment {eid} ran {reps} repetitions, this one runs {now.repetitions}",
            frozenset(),
        )
    earlier_evaluators = meta.get("evaluators") or {}
    same = frozenset(
        name for name, fp in now.evaluators.items() if earlier_evaluators.get(name) == fp
    )
    return None, same


def plan(
    *,
    examples: Sequence[tuple[str, str]],
    earlier_hashes: Mapping[str, str],
    runs: Sequence[Mapping[str, Any]],
    repetitions: int,
    reusable_evaluators: frozenset[str],
    experiment_id: str,
) -> Plan:
    """Which examples (``(node id, content hash)`` of the new version) reuse which of the
    earlier experiment's ``runs`` (as ``GET …/runs`` or ``…/json`` lists them)."""
    by_example: dict[str, dict[int, EarlierRun]] = {}
    failed_examples: set[str] = set()
    for r in runs:
        example_id = str(r.get("dataset_example_id") or r.get("example_id"))
        if r.get("error") is not None:
            failed_examples.add(example_id)
            continue
        evaluations = {
            str(a["name"]): dict(a)
            for a in r.get("annotations") or ()
            if a.get("error") is None and a.get("name") in reusable_evaluators
        }
        run = EarlierRun(
            example_id=example_id,
            repetition=int(r["repetition_number"]),
            output=r.get("output"),
            start_time=str(r["start_time"]),
            end_time=str(r["end_time"]),
            trace_id=r.get("trace_id") or None,
            evaluations=evaluations,
        )
        by_example.setdefault(example_id, {})[run.repetition] = run
    result = Plan(reason=None, reuse={}, reusable_evaluators=reusable_evaluators)
    for node_id, content in examples:
        before = earlier_hashes.get(node_id)
        if before is None:
            result.added += 1
            continue
        if before != content:
            result.changed += 1
            continue
        done = by_example.get(node_id, {})
        if all(rep in done for rep in range(1, repetitions + 1)):
            result.reuse[node_id] = [done[rep] for rep in range(1, repetitions + 1)]
        elif done or node_id in failed_examples:
            result.failed += 1
        else:
            result.added += 1  # the earlier experiment did not run it (another split)
    if not result.reuse:
        result.reason = (
            f"no example of this version has successful runs of unchanged content in "
            f"experiment {experiment_id}"
        )
    return result
