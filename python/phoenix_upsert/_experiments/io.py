"""The REST calls of a reusing experiment: reading the earlier experiment (its runs page by
page; its evaluations, when some may be reused, from ``GET /v1/experiments/{id}/json``,
Phoenix's only route that lists them), the earlier version's content hashes (its JSONL
export, hashed by the core), and copying runs and evaluations into the new experiment with
bounded concurrency. Copies are safe to repeat: a run that exists already answers 409 (its
id is read from the answer) and an evaluation is an upsert on (run, name)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar
from urllib.parse import quote

import httpx

from phoenix_upsert._engine.server import RetryPolicy, Server, _data, _json
from phoenix_upsert._experiments.plan import EarlierRun
from phoenix_upsert._native import hash_examples, scan_jsonl
from phoenix_upsert.errors import ServerError

T = TypeVar("T")
R = TypeVar("R")

RUNS_PAGE = 1000
_RUN_ID = re.compile(r"Experiment run (\S+) already exists")


class _NoProgress:
    def update(self, n: int) -> None:
        pass


class ExperimentIO:
    """The reads and writes of a reusing experiment over one httpx client."""

    def __init__(self, http: httpx.Client, *, concurrency: int, retries: int = 4) -> None:
        self.server = Server(http, retry=RetryPolicy(attempts=retries), timeout=None)
        self.http = http
        self.concurrency = max(1, concurrency)

    def experiment(self, experiment_id: str) -> dict[str, Any]:
        what = f"reading experiment {experiment_id}"
        try:
            body = self.server.get_json(f"v1/experiments/{quote(experiment_id, safe='')}", what)
        except ServerError as e:
            if e.status_code in (404, 422):
                raise ValueError(f"Experiment not found: {experiment_id}") from e
            raise
        return dict(_data(body, what))

    def runs(self, experiment_id: str) -> list[Any]:
        """All runs, page by page (without evaluations)."""
        out: list[dict[str, Any]] = []
        cursor: str | None = None
        path = f"v1/experiments/{quote(experiment_id, safe='')}/runs"
        while True:
            params: dict[str, Any] = {"limit": RUNS_PAGE}
            if cursor:
                params["cursor"] = cursor
            body = self.server.get_json(path, "reading experiment runs", params=params)
            out.extend(_data(body, "reading experiment runs"))
            cursor = body.get("next_cursor")
            if not cursor:
                return out

    def runs_with_evaluations(self, experiment_id: str, expected: int) -> list[dict[str, Any]]:
        """All runs with their evaluations (``annotations``), in one answer."""
        what = "reading experiment runs and evaluations"
        path = f"v1/experiments/{quote(experiment_id, safe='')}/json"

        def call() -> Any:
            response = self.http.get(path, timeout=60.0 + 0.01 * expected)
            if response.status_code == 404 and "no runs" in response.text:
                return []
            self.server._ok(response, what)
            return response.json()

        data = self.server.with_retries(what, call)
        if not isinstance(data, list):
            raise ServerError(f"{what}: the answer is not a list of runs")
        return data

    def version_hashes(self, dataset: Mapping[str, Any], version_id: str) -> dict[str, str]:
        """node id -> content hash of a version's examples (its JSONL export, scanned)."""
        data = self.server.export_jsonl(
            str(dataset["id"]),
            version_id,
            expected_examples=int(dataset.get("example_count") or 0),
            progress=_NoProgress(),
        )
        scan = scan_jsonl(data, id_key="id", node_id_key="node_id")
        return {str(n): h for n, h in zip(scan.node_ids or [], scan.hashes) if n}

    def copy_runs(
        self, experiment_id: str, runs: Sequence[EarlierRun]
    ) -> list[tuple[EarlierRun, str]]:
        """Make ``runs`` in the experiment; returns each with its new run id."""
        path = f"v1/experiments/{quote(experiment_id, safe='')}/runs"

        def one(run: EarlierRun) -> tuple[EarlierRun, str]:
            def call() -> str:
                response = self.http.post(path, json=run.body(), timeout=60.0)
                if response.status_code == 409:  # copied already (a repeated request)
                    match = _RUN_ID.search(response.text)
                    if match:
                        return match.group(1)
                body = _json(self.server._ok(response, "copying a run"), "copying a run", "")
                return str(_data(body, "copying a run")["id"])

            return run, self.server.with_retries("copying a run", call)

        return self.map(one, runs)

    def copy_evaluations(self, evaluations: Sequence[Mapping[str, Any]]) -> list[str]:
        """Upsert evaluations (``POST /v1/experiment_evaluations`` bodies); their ids."""

        def one(body: Mapping[str, Any]) -> str:
            def call() -> str:
                response = self.http.post("v1/experiment_evaluations", json=body, timeout=60.0)
                what = "copying an evaluation"
                return str(_data(_json(self.server._ok(response, what), what, ""), what)["id"])

            return self.server.with_retries("copying an evaluation", call)

        return self.map(one, evaluations)

    def patch_metadata(self, experiment_id: str, metadata: Mapping[str, Any]) -> None:
        path = f"v1/experiments/{quote(experiment_id, safe='')}"

        def call() -> None:
            response = self.http.patch(path, json={"metadata": dict(metadata)}, timeout=60.0)
            self.server._ok(response, "updating the experiment's metadata")

        self.server.with_retries("updating the experiment's metadata", call)

    def map(self, fn: Callable[[T], R], items: Iterable[T]) -> list[R]:
        """``fn`` over ``items`` with at most ``concurrency`` in flight, results in order;
        the first error propagates (after the requests in flight finish)."""
        items = list(items)
        if len(items) <= 1 or self.concurrency == 1:
            return [fn(item) for item in items]
        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            return list(pool.map(fn, items))


def example_hashes(examples: Sequence[Mapping[str, Any]]) -> list[tuple[str, str]]:
    """``(node id, content hash)`` of a dataset's examples, hashed by the core."""
    hashes = hash_examples(
        {"input": e["input"], "output": e["output"], "metadata": e.get("metadata") or {}}
        for e in examples
    )
    return [(str(e.get("node_id") or e["id"]), h) for e, h in zip(examples, hashes)]


def evaluation_body(run_id: str, name: str, annotation: Mapping[str, Any]) -> dict[str, Any]:
    """The upsert that copies an earlier evaluation (as ``…/json`` lists it) onto a run."""
    body: dict[str, Any] = {
        "experiment_run_id": run_id,
        "name": name,
        "annotator_kind": annotation.get("annotator_kind") or "CODE",
        "start_time": annotation["start_time"],
        "end_time": annotation["end_time"],
        "result": {
            "label": annotation.get("label"),
            "score": annotation.get("score"),
            "explanation": annotation.get("explanation"),
        },
        "metadata": annotation.get("metadata") or {},
    }
    if annotation.get("trace_id"):
        body["trace_id"] = annotation["trace_id"]
    return body
