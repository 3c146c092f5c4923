"""An experiment on a new version: phoenix-upsert's ``run_experiment(reuse_runs_from=...)``
vs phoenix-client's ``run_experiment``, on one local Phoenix.

5,000 examples (``PU_BENCH_SCALE`` scales them), 1% of them edited between v1 and v2, a task
that takes 50 ms (a sleep: an LLM call's latency). Both sides use the synchronous client:
phoenix-client's executor runs the tasks one at a time on both sides; phoenix-upsert copies
the reused runs with 16 requests in flight (``copy_concurrency``). The v1 experiment (what
is reused) is run once, before the measurement, with the same task made instant (its latency
is an object's attribute, which the fingerprint does not see). ``extra_info["task_calls"]``
counts the task's calls of each side.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from phoenix.client.resources.experiments import Experiments

from phoenix_upsert import Client
from phoenix_upsert.experiments import ReusedExperiment
from phoenix_upsert.testing import Backend, LocalPhoenix

from .conftest import BACKENDS, scaled

N = scaled(5_000)
EDITED = max(1, N // 100)


class Latency:
    """The task's latency and its calls (an object: not part of the task's fingerprint)."""

    def __init__(self) -> None:
        self.seconds = 0.05
        self.calls = 0


LATENCY = Latency()


def task(input: dict[str, Any]) -> dict[str, Any]:
    LATENCY.calls += 1
    time.sleep(LATENCY.seconds)
    return {"answer": str(input["question"]).upper()}


def rows(edited: int = 0) -> list[dict[str, Any]]:
    out = []
    for i in range(N):
        answer = f"answer {i}" + (" (edited)" if i < edited else "")
        out.append({"id": f"q{i}", "input": {"question": f"q{i}"}, "output": {"answer": answer}})
    return out


@pytest.fixture(scope="module", params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> Backend:
    name: Backend = request.param
    return name


@pytest.fixture(scope="module")
def setup(backend: Backend) -> Iterator[tuple[Client, Any, ReusedExperiment]]:
    with LocalPhoenix(backend=backend) as server:
        http = httpx.Client(base_url=server.base_url, timeout=3600)
        client = Client(http_client=http)
        v1 = client.datasets.upsert_dataset(dataset="bench-exp", examples=rows(), manifest=False)
        LATENCY.seconds = 0.0
        first = client.experiments.run_experiment(dataset=v1, task=task, print_summary=False)
        LATENCY.seconds = 0.05
        v2 = client.datasets.upsert_dataset(
            dataset="bench-exp", examples=rows(EDITED), manifest=False
        )
        assert v2.summary.updated == EDITED
        yield client, v2, first
        http.close()


def test_reuse_runs(
    benchmark: Any, setup: tuple[Client, Any, ReusedExperiment], backend: str
) -> None:
    client, v2, first = setup
    benchmark.group = f"experiment on v2 ({backend}, {N} examples, {EDITED} edited)"
    benchmark.extra_info["role"] = "ours"
    LATENCY.calls = 0

    def run() -> ReusedExperiment:
        return client.experiments.run_experiment(
            dataset=v2, task=task, reuse_runs_from=first, print_summary=False
        )

    ran = benchmark.pedantic(run, rounds=1, iterations=1)
    benchmark.extra_info["task_calls"] = LATENCY.calls
    assert ran["reuse"].reused_runs == N - EDITED and ran["reuse"].task_runs == EDITED
    assert LATENCY.calls == EDITED and len(ran["task_runs"]) == N


def test_phoenix_client(
    benchmark: Any, setup: tuple[Client, Any, ReusedExperiment], backend: str
) -> None:
    client, v2, _ = setup
    benchmark.group = f"experiment on v2 ({backend}, {N} examples, {EDITED} edited)"
    benchmark.extra_info["role"] = "reference"
    LATENCY.calls = 0
    plain = Experiments(client._client)

    def run() -> Any:
        return plain.run_experiment(dataset=v2, task=task, print_summary=False)

    ran = benchmark.pedantic(run, rounds=1, iterations=1)
    benchmark.extra_info["task_calls"] = LATENCY.calls
    assert LATENCY.calls == N and len(ran["task_runs"]) == N
