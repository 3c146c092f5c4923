"""``client.experiments.run_experiment(reuse_runs_from=...)`` against a real Phoenix (SQLite
and PostgreSQL): the task runs exactly for the changed and new examples, the evaluators only
on their runs; every unchanged example's run carries the earlier output and evaluation (read
back from the server); a changed task reuses nothing; an unchanged dataset runs nothing; a
new evaluator runs on every run; an interrupted experiment converges when run again."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest

from phoenix_upsert import AsyncClient, Client
from phoenix_upsert.experiments import ReusedExperiment
from phoenix_upsert.testing import LocalPhoenix


class Calls:
    """What the task and evaluators were called with (an object: fingerprints count it by
    its type, not its contents)."""

    def __init__(self) -> None:
        self.task: list[str] = []
        self.evals: dict[str, list[str]] = {}
        self.fail: set[str] = set()

    def clear(self) -> None:
        self.task.clear()
        self.evals.clear()


CALLS = Calls()


def answer(input: dict[str, Any]) -> dict[str, Any]:
    q = str(input["q"])
    CALLS.task.append(q)
    if q in CALLS.fail:
        raise RuntimeError(f"the model is down for {q}")
    return {"text": q.upper()}


def answer_v2(input: dict[str, Any]) -> dict[str, Any]:
    q = str(input["q"])
    CALLS.task.append(q)
    return {"text": q.upper() + "!"}


def exact(output: dict[str, Any], expected: dict[str, Any]) -> float:
    CALLS.evals.setdefault("exact", []).append(str(output))
    return float(output["text"] == expected["a"])


def length(output: dict[str, Any]) -> int:
    CALLS.evals.setdefault("length", []).append(str(output))
    return len(output["text"])


def rows(n: int) -> list[dict[str, Any]]:
    return [
        {"id": f"e{i}", "input": {"q": f"q{i}"}, "output": {"a": f"Q{i}"}, "metadata": {}}
        for i in range(n)
    ]


def evolve(v1: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """e1's answer edited, e2's question edited, e3 deleted, e8 and e9 added."""
    v2 = [dict(r) for r in v1 if r["id"] != "e3"]
    v2[1] = {**v2[1], "output": {"a": "edited"}}
    v2[2] = {**v2[2], "input": {"q": "q2-edited"}}
    v2 += [{"id": f"e{i}", "input": {"q": f"q{i}"}, "output": {"a": f"Q{i}"}} for i in (8, 9)]
    return v2


def exported(client: Client, experiment_id: str) -> dict[str, dict[str, Any]]:
    response = client._client.get(f"v1/experiments/{experiment_id}/json")
    response.raise_for_status()
    return {r["input"]["q"]: r for r in json.loads(response.text)}


def metadata(client: Client, experiment_id: str) -> dict[str, Any]:
    response = client._client.get(f"v1/experiments/{experiment_id}")
    response.raise_for_status()
    meta: dict[str, Any] = response.json()["data"]["metadata"]["phoenix_upsert"]
    return meta


@pytest.fixture(autouse=True)
def _fresh_calls() -> None:
    CALLS.clear()
    CALLS.fail.clear()


def test_v2_runs_only_what_changed(client: Client, name: str) -> None:
    v1 = client.datasets.upsert_dataset(dataset=name, examples=rows(8), manifest=False)
    first = client.experiments.run_experiment(
        dataset=v1, task=answer, evaluators=[exact], print_summary=False
    )
    assert sorted(CALLS.task) == [f"q{i}" for i in range(8)]
    assert first["reuse"].reused_runs == 0 and first["reuse"].reason
    CALLS.clear()

    v2 = client.datasets.upsert_dataset(dataset=name, examples=evolve(rows(8)), manifest=False)
    second = client.experiments.run_experiment(
        dataset=v2, task=answer, evaluators=[exact], reuse_runs_from=first, print_summary=False
    )
    # the task ran for the changed (e1's answer, e2's question) and the new examples only
    assert sorted(CALLS.task) == ["q1", "q2-edited", "q8", "q9"]
    assert len(CALLS.evals["exact"]) == 4
    s = second["reuse"]
    assert (s.reused_runs, s.reused_evaluations, s.task_runs, s.evaluator_runs) == (5, 5, 4, 4)
    assert (s.changed, s.added, s.failed, s.reason) == (2, 2, 0, None)
    assert s.reused_from == first["experiment_id"]
    assert len(second["task_runs"]) == 9 and len(second["evaluation_runs"]) == 9

    before, after = (
        exported(client, first["experiment_id"]),
        exported(client, second["experiment_id"]),
    )
    assert len(after) == 9
    for q in ("q0", "q4", "q5", "q6", "q7"):  # unchanged: the earlier run and evaluation
        assert after[q]["output"] == before[q]["output"]
        assert after[q]["start_time"] == before[q]["start_time"]
        assert after[q]["end_time"] == before[q]["end_time"]
        (old,), (new,) = before[q]["annotations"], after[q]["annotations"]
        assert {k: new[k] for k in ("name", "score", "label", "start_time")} == {
            k: old[k] for k in ("name", "score", "label", "start_time")
        }
    for record in after.values():
        assert record["error"] is None and [a["name"] for a in record["annotations"]] == ["exact"]
    assert after["q1"]["annotations"][0]["score"] == 0.0  # evaluated against the new answer
    meta = metadata(client, second["experiment_id"])
    assert meta["reused_from"] == first["experiment_id"]
    assert (meta["reused_runs"], meta["reused_evaluations"], meta["task_runs"]) == (5, 5, 4)
    assert meta["task_fingerprint"].startswith("py1:") and set(meta["evaluators"]) == {"exact"}

    # an unchanged dataset runs nothing; its result still lists every run
    CALLS.clear()
    third = client.experiments.run_experiment(
        dataset=v2,
        task=answer,
        evaluators=[exact],
        reuse_runs_from=second["experiment_id"],
        print_summary=False,
    )
    assert CALLS.task == [] and CALLS.evals == {}
    assert third["reuse"].reused_runs == 9 and third["reuse"].reused_evaluations == 9
    assert len(third["task_runs"]) == 9 and len(exported(client, third["experiment_id"])) == 9

    # a new evaluator runs on every run; the unchanged one on none
    CALLS.clear()
    fourth = client.experiments.run_experiment(
        dataset=v2,
        task=answer,
        evaluators=[exact, length],
        reuse_runs_from=third,
        print_summary=False,
    )
    assert CALLS.task == [] and "exact" not in CALLS.evals and len(CALLS.evals["length"]) == 9
    assert fourth["reuse"].stale_evaluators == ("length",)
    for record in exported(client, fourth["experiment_id"]).values():
        assert sorted(a["name"] for a in record["annotations"]) == ["exact", "length"]


def test_a_changed_task_reuses_nothing(client: Client, name: str) -> None:
    v1 = client.datasets.upsert_dataset(dataset=name, examples=rows(4), manifest=False)
    first = client.experiments.run_experiment(dataset=v1, task=answer, print_summary=False)
    CALLS.clear()
    second = client.experiments.run_experiment(
        dataset=v1, task=answer_v2, reuse_runs_from=first, print_summary=False
    )
    assert len(CALLS.task) == 4
    assert second["reuse"].reused_runs == 0 and "code" in str(second["reuse"].reason)
    # so does another task_version, unless forced
    CALLS.clear()
    third = client.experiments.run_experiment(
        dataset=v1,
        task=answer,
        reuse_runs_from=first,
        task_version="prompt-2",
        print_summary=False,
    )
    assert len(CALLS.task) == 4 and "task_version" in str(third["reuse"].reason)
    CALLS.clear()
    forced = client.experiments.run_experiment(
        dataset=v1, task=answer_v2, reuse_runs_from=first, reuse="force", print_summary=False
    )
    assert CALLS.task == [] and forced["reuse"].reused_runs == 4
    # and an experiment phoenix-client ran alone has no fingerprints: nothing is reused
    from phoenix.client.resources.experiments import Experiments

    plain = Experiments(client._client).run_experiment(dataset=v1, task=answer, print_summary=False)
    CALLS.clear()
    fourth = client.experiments.run_experiment(
        dataset=v1, task=answer, reuse_runs_from=plain, print_summary=False
    )
    assert len(CALLS.task) == 4 and "fingerprints" in str(fourth["reuse"].reason)


def test_an_interrupted_experiment_converges(client: Client, name: str) -> None:
    v1 = client.datasets.upsert_dataset(dataset=name, examples=rows(6), manifest=False)
    first = client.experiments.run_experiment(
        dataset=v1, task=answer, evaluators=[exact], print_summary=False
    )
    v2 = client.datasets.upsert_dataset(dataset=name, examples=evolve(rows(6)), manifest=False)
    CALLS.clear()
    CALLS.fail.update({"q8", "q9"})
    broken = client.experiments.run_experiment(
        dataset=v2,
        task=answer,
        evaluators=[exact],
        reuse_runs_from=first,
        print_summary=False,
        retries=1,
    )
    assert sorted(set(CALLS.task)) == ["q1", "q2-edited", "q8", "q9"]
    failed = [r for r in broken["task_runs"] if r.get("error")]
    assert len(failed) == 2
    CALLS.clear()
    CALLS.fail.clear()
    healed = client.experiments.run_experiment(
        dataset=v2, task=answer, evaluators=[exact], reuse_runs_from=broken, print_summary=False
    )
    assert sorted(CALLS.task) == ["q8", "q9"] and len(CALLS.evals["exact"]) == 2
    assert healed["reuse"].failed == 2 and healed["reuse"].reused_runs == 5
    records = exported(client, healed["experiment_id"])
    assert len(records) == 7 and all(r["error"] is None for r in records.values())
    assert all(len(r["annotations"]) == 1 for r in records.values())


def test_splits_and_repetitions(client: Client, name: str) -> None:
    data = [{**r, "splits": ["a"] if i < 3 else ["b"]} for i, r in enumerate(rows(6))]
    client.datasets.upsert_dataset(dataset=name, examples=data, manifest=False)
    only_a = client.datasets.get_dataset(dataset=name, splits=["a"])
    first = client.experiments.run_experiment(
        dataset=only_a, task=answer, repetitions=2, print_summary=False
    )
    assert len(CALLS.task) == 6
    CALLS.clear()
    everything = client.datasets.get_dataset(dataset=name)
    second = client.experiments.run_experiment(
        dataset=everything,
        task=answer,
        repetitions=2,
        reuse_runs_from=first,
        print_summary=False,
    )
    # the three examples of split "a" are reused (both repetitions); the rest run
    assert sorted(CALLS.task) == sorted(["q3", "q4", "q5"] * 2)
    assert second["reuse"].reused_runs == 6 and second["reuse"].added == 3
    assert len(second["task_runs"]) == 12
    CALLS.clear()
    third = client.experiments.run_experiment(
        dataset=everything,
        task=answer,
        repetitions=1,
        reuse_runs_from=second,
        print_summary=False,
    )
    assert len(CALLS.task) == 6 and "repetitions" in str(third["reuse"].reason)


def test_async_client_reuses(phoenix: LocalPhoenix, name: str) -> None:
    async def main() -> tuple[ReusedExperiment, ReusedExperiment]:
        async with httpx.AsyncClient(base_url=phoenix.base_url) as http:
            client = AsyncClient(http_client=http)
            v1 = await client.datasets.upsert_dataset(
                dataset=name, examples=rows(6), manifest=False
            )
            first = await client.experiments.run_experiment(
                dataset=v1, task=answer, evaluators=[exact], print_summary=False
            )
            v2 = await client.datasets.upsert_dataset(
                dataset=name, examples=evolve(rows(6)), manifest=False
            )
            CALLS.clear()
            second = await client.experiments.run_experiment(
                dataset=v2,
                task=answer,
                evaluators=[exact],
                reuse_runs_from=first,
                print_summary=False,
                concurrency=4,
            )
            return first, second

    _, second = asyncio.run(main())
    assert sorted(CALLS.task) == ["q1", "q2-edited", "q8", "q9"]
    assert len(CALLS.evals["exact"]) == 4
    assert second["reuse"].reused_runs == 3 and second["reuse"].reused_evaluations == 3
    assert len(second["task_runs"]) == 7
