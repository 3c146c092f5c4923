"""The phoenix-upsert loop: upsert v1 → run_experiment → evolve the data → upsert v2 → re-run,
reusing v1's runs for the examples that did not change.

    python examples/quickstart.py                     # against PHOENIX_COLLECTOR_ENDPOINT
    python examples/quickstart.py --endpoint URL      # against a given server
    python examples/quickstart.py --local             # starts a local Phoenix of its own

The dataset lives in data/support_v1.jsonl and data/support_v2.jsonl (as it would in git);
the "model" is a tiny lookup table, so the demo needs no LLM and no network.
"""

from __future__ import annotations

import argparse
import logging
import tempfile
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from phoenix_upsert import Client, UpsertedDataset
from phoenix_upsert.experiments import ReusedExperiment

DATA = Path(__file__).resolve().parent / "data"
DATASET = "support-benchmark"

# The system under test: answers from a (slightly outdated) knowledge base.
KNOWLEDGE = {
    "refund": "30 days",
    "paid": "To the original payment method",
    "password": "Use 'Forgot password' on the sign-in page",
    "e-mail": "Yes, under Settings → Account",
    "shipping take": "3–5 business days",
    "internationally": "Yes, to 40 countries",
    "invoice": "Under Orders → Invoices",
    "languages": "English, Deutsch, Français, 日本語",
    "open": "Mon–Fri, 9:00–17:00 CET",
    "digital": "Within 14 days if not downloaded",
}


def answer(input: dict[str, Any]) -> str:
    question = str(input["question"]).lower()
    for key, reply in KNOWLEDGE.items():
        if key in question:
            return reply
    return "Please contact support."


def exact_match(output: str, expected: dict[str, Any]) -> float:
    return float(output == expected["answer"])


def show(step: str, ds: UpsertedDataset) -> None:
    s = ds.summary
    print(
        f"{step:<28} version {ds.version_id}  "
        f"+{s.added} ~{s.updated} -{s.deleted} ={s.unchanged}  ({ds.plan.action})"
    )


def experiment(
    client: Client, ds: UpsertedDataset, name: str, reuse_runs_from: ReusedExperiment | None = None
) -> ReusedExperiment:
    ran = client.experiments.run_experiment(
        dataset=ds,
        task=answer,
        evaluators=[exact_match],
        experiment_name=name,
        print_summary=False,
        reuse_runs_from=reuse_runs_from,  # copy the runs of unchanged examples from there
    )
    scores = [float(r.result.get("score") or 0) for r in ran["evaluation_runs"] if r.result]
    accuracy = sum(scores) / len(scores) if scores else 0.0
    reuse = ran["reuse"]
    print(
        f"{'experiment ' + name:<28} on version {ran['dataset_version_id']}: "
        f"{len(ran['task_runs'])} runs, exact match {accuracy:.0%}"
    )
    print(
        f"{'':<28} task ran {reuse.task_runs}x, {reuse.reused_runs} runs and "
        f"{reuse.reused_evaluations} evaluations reused"
        + (f" from {reuse.reused_from}" if reuse.reused_from else "")
    )
    return ran


def run(client: Client, *, manifest: Any = True) -> None:
    v1 = client.datasets.upsert_dataset(
        dataset=DATASET, examples=DATA / "support_v1.jsonl", manifest=manifest
    )
    show("upsert v1", v1)
    first = experiment(client, v1, "support-v1")

    v2 = client.datasets.upsert_dataset(
        dataset=DATASET, examples=DATA / "support_v2.jsonl", manifest=manifest
    )
    show("upsert v2 (evolved data)", v2)
    print(f"{'':<28} updated: {', '.join(str(i) for i in v2.plan.updated + v2.plan.split_changes)}")
    print(
        f"{'':<28} added: {', '.join(str(i) for i in v2.plan.added)}; "
        f"deleted: {', '.join(v2.plan.deleted)}"
    )

    again = client.datasets.upsert_dataset(
        dataset=DATASET, examples=DATA / "support_v2.jsonl", manifest=manifest
    )
    show("upsert v2 again (no-op)", again)
    assert again.version_id == v2.version_id, "a no-op sync must not make a new version"

    second = experiment(client, again, "support-v2", reuse_runs_from=first)
    changed = v2.summary.added + v2.summary.updated
    assert second["reuse"].task_runs <= changed, "only the changed and new examples run"
    versions = client.datasets.get_dataset_versions(dataset=DATASET)
    print(f"versions of {DATASET!r}, newest first: {[v['version_id'] for v in versions]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--endpoint", help="Phoenix base URL")
    parser.add_argument("--local", action="store_true", help="start a local Phoenix first")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    with ExitStack() as stack:
        endpoint = args.endpoint
        if args.local:
            from phoenix_upsert.testing import LocalPhoenix

            print("starting a local Phoenix server (SQLite, temporary directory)…")
            endpoint = stack.enter_context(LocalPhoenix()).base_url
            print(f"Phoenix is up at {endpoint}")
        client = Client(base_url=endpoint) if endpoint else Client()
        # A throwaway server gets a throwaway manifest directory, not the user's cache.
        manifest: Any = stack.enter_context(tempfile.TemporaryDirectory()) if args.local else True
        run(client, manifest=manifest)


if __name__ == "__main__":
    main()
