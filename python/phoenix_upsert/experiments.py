"""``client.experiments.run_experiment(..., reuse_runs_from=...)``: an experiment on a new
version of a dataset that copies, for every example whose content is unchanged, the earlier
experiment's runs and evaluations, and runs the task (and the evaluators) only for the rest.

The result is a normal Phoenix experiment — made by phoenix-client's own ``create``,
``run_experiment`` (on the examples left to run) and ``evaluate_experiment`` — whose metadata
records the task's and the evaluators' fingerprints and what was reused from where (see
``_experiments.plan`` and docs/guides/experiments.md).
"""

from __future__ import annotations

import copy
import inspect
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Union

from phoenix.client.resources.datasets import Dataset
from phoenix.client.resources.experiments import (
    DEFAULT_TIMEOUT_IN_SECONDS,
    AsyncExperiments,
    Experiments,
)
from phoenix.client.resources.experiments.evaluators import create_evaluator
from phoenix.client.resources.experiments.types import (
    Evaluator,
    ExperimentEvaluationRun,
    ExperimentEvaluators,
    ExperimentTask,
    RanExperiment,
    RateLimitErrors,
)

from phoenix_upsert._experiments import plan as _plan
from phoenix_upsert._experiments.fingerprint import fingerprint
from phoenix_upsert._experiments.io import (
    ExperimentIO,
    evaluation_body,
    example_hashes,
)
from phoenix_upsert._experiments.plan import KEY, Fingerprints, Plan, Reuse

__all__ = [
    "AsyncReuseExperiments",
    "ReuseExperiments",
    "ReuseSummary",
    "ReusedExperiment",
    "task_fingerprint",
]

#: Runs and evaluations copied at once (requests in flight).
COPY_CONCURRENCY = 16

ReuseSource = Union[RanExperiment, Mapping[str, Any], str, None]


@dataclass(frozen=True)
class ReuseSummary:
    """What an experiment reused and what it ran."""

    #: the experiment runs were reused from (``None``: none given)
    reused_from: str | None
    #: runs copied from it (one per repetition of each unchanged example)
    reused_runs: int
    #: evaluations copied onto those runs
    reused_evaluations: int
    #: (example, repetition) pairs the task ran for
    task_runs: int
    #: evaluator calls made (one per evaluator and run)
    evaluator_runs: int
    #: examples whose content changed since the earlier experiment's version
    changed: int = 0
    #: examples the earlier experiment did not run (new, or outside its splits)
    added: int = 0
    #: unchanged examples run again because a repetition of theirs failed earlier
    failed: int = 0
    #: evaluators that ran on every reused run (new, or their fingerprint changed)
    stale_evaluators: tuple[str, ...] = ()
    #: why nothing was reused (``None`` when something was)
    reason: str | None = None


class ReusedExperiment(RanExperiment):
    """phoenix-client's ``RanExperiment`` with the reuse summary added."""

    reuse: ReuseSummary


def task_fingerprint(task: Any) -> str:
    """The fingerprint run_experiment records for a task or an evaluator (``"py1:"`` and a
    SHA-256 of its code, defaults, closure values and the same-module functions and plain
    data it names)."""
    return fingerprint(task)


@dataclass
class _Prepared:
    """The state after planning, creating the experiment and copying."""

    experiment: Any
    plan: Plan
    fingerprints: Fingerprints
    metadata: dict[str, Any]
    to_run: list[Any]
    copied_runs: list[tuple[_plan.EarlierRun, str]] = field(default_factory=list)
    copied_evaluations: list[ExperimentEvaluationRun] = field(default_factory=list)
    evaluators: dict[str, Evaluator] = field(default_factory=dict)


def _evaluators(obj: ExperimentEvaluators | None) -> dict[str, tuple[Any, Evaluator]]:
    """name -> (what the user gave, the phoenix-client evaluator), named as phoenix-client
    names them."""
    out: dict[str, tuple[Any, Evaluator]] = {}
    if obj is None:
        return out
    if isinstance(obj, Mapping):
        items = [(v, create_evaluator(name=k)(v)) for k, v in obj.items()]
    elif isinstance(obj, Sequence):
        items = [(v, create_evaluator()(v)) for v in obj]
    else:
        items = [(obj, create_evaluator()(obj))]
    for original, evaluator in items:
        out[evaluator.name] = (original, evaluator)
    return out


def _source_id(source: ReuseSource) -> str | None:
    if source is None:
        return None
    if isinstance(source, str):
        return source
    if isinstance(source, Mapping) and isinstance(source.get("experiment_id"), str):
        return str(source["experiment_id"])
    if isinstance(source, Mapping) and isinstance(source.get("id"), str):
        return str(source.get("id"))
    raise TypeError(
        "reuse_runs_from must be an experiment id, the result of run_experiment, or None"
    )


def _check_reuse(reuse: str) -> Reuse:
    if reuse not in ("auto", "force", "never"):
        raise ValueError(f"reuse must be 'auto', 'force' or 'never', not {reuse!r}")
    return reuse  # type: ignore[return-value]


def _subset(dataset: Dataset, examples: list[Any]) -> Dataset:
    info = getattr(dataset, "_dataset_info", None) or {"id": dataset.id, "name": dataset.name}
    data = {
        "dataset_id": dataset.id,
        "version_id": dataset.version_id,
        "filtered_splits": dataset._filtered_split_names,
        "examples": examples,
    }
    return Dataset(dataset_info=info, examples_data=data)  # type: ignore[arg-type]


def _prepare(
    io: ExperimentIO,
    *,
    dataset: Dataset,
    task: ExperimentTask,
    evaluators: ExperimentEvaluators | None,
    experiment_name: str | None,
    experiment_description: str | None,
    experiment_metadata: Mapping[str, Any] | None,
    timeout: int | None,
    repetitions: int,
    reuse_runs_from: ReuseSource,
    task_version: str | None,
    reuse: Reuse,
) -> _Prepared:
    """Plan, create the experiment, copy the reusable runs and evaluations (synchronous;
    the async client runs it in a worker thread)."""
    examples = list(dataset.examples)
    named = _evaluators(evaluators)
    fps = Fingerprints(
        task=fingerprint(task),
        task_version=task_version,
        evaluators={name: fingerprint(original) for name, (original, _) in named.items()},
        repetitions=repetitions,
    )
    source = _source_id(reuse_runs_from)
    if source is None:
        the_plan = _plan.nothing("no earlier experiment given (reuse_runs_from=None)")
    elif reuse == "never":
        the_plan = _plan.nothing("reuse='never'")
    else:
        earlier = io.experiment(source)
        reason, reusable = _plan.compatibility(earlier, dataset.id, fps, reuse)
        if reason is not None:
            the_plan = _plan.nothing(reason)
        else:
            ours = example_hashes(examples)
            if earlier.get("dataset_version_id") == dataset.version_id:
                before = dict(ours)
            else:
                info = getattr(dataset, "_dataset_info", None) or {"id": dataset.id}
                before = io.version_hashes(info, str(earlier["dataset_version_id"]))
            expected = int(earlier.get("example_count") or 0) * repetitions
            if reusable:
                runs = io.runs_with_evaluations(source, expected)
            else:
                runs = io.runs(source)
            the_plan = _plan.plan(
                examples=ours,
                earlier_hashes=before,
                runs=runs,
                repetitions=repetitions,
                reusable_evaluators=reusable,
                experiment_id=source,
            )
    meta = fps.metadata(source if the_plan.reuse else None)
    meta.update(
        reused_runs=the_plan.reused_runs,
        reused_evaluations=0,
        task_runs=0,
        evaluator_runs=0,
    )
    metadata = {**(experiment_metadata or {}), KEY: meta}
    experiment = Experiments(io.http).create(
        dataset_id=dataset.id,
        dataset_version_id=dataset.version_id,
        experiment_name=experiment_name,
        experiment_description=experiment_description,
        experiment_metadata=metadata,
        splits=dataset._filtered_split_names,
        repetitions=repetitions,
        timeout=timeout,
    )
    to_run = [e for e in examples if str(e.get("node_id") or e["id"]) not in the_plan.reuse]
    prepared = _Prepared(
        experiment=experiment,
        plan=the_plan,
        fingerprints=fps,
        metadata=metadata,
        to_run=to_run,
        evaluators={name: ev for name, (_, ev) in named.items()},
    )
    reused = [run for runs in the_plan.reuse.values() for run in runs]
    prepared.copied_runs = io.copy_runs(experiment["id"], reused)
    new_ids = {id(run): run_id for run, run_id in prepared.copied_runs}
    copies = the_plan.copies(list(named))
    bodies = [
        evaluation_body(new_ids[id(run)], name, run.evaluations[name]) for run, name in copies
    ]
    ids = io.copy_evaluations(bodies)
    prepared.copied_evaluations = [_evaluation_run(b, i) for b, i in zip(bodies, ids)]
    return prepared


def _evaluation_run(body: Mapping[str, Any], evaluation_id: str) -> ExperimentEvaluationRun:
    from datetime import datetime

    result = {k: v for k, v in body["result"].items() if v is not None}
    return ExperimentEvaluationRun(
        experiment_run_id=body["experiment_run_id"],
        start_time=datetime.fromisoformat(body["start_time"]),
        end_time=datetime.fromisoformat(body["end_time"]),
        name=body["name"],
        annotator_kind=body["annotator_kind"],
        result=result,  # type: ignore[arg-type]
        id=evaluation_id,
        trace_id=body.get("trace_id"),
        metadata=body.get("metadata") or {},
    )


def _evaluation_groups(
    prepared: _Prepared, task_runs: Sequence[Any]
) -> list[tuple[list[str], list[Any]]]:
    """(evaluator names, runs) to evaluate: every evaluator on the runs made now; on a
    reused run, the evaluators whose evaluation was not copied."""
    names = list(prepared.evaluators)
    if not names:
        return []
    copied_ids = {run_id for _, run_id in prepared.copied_runs}
    done: dict[str, set[str]] = {}
    for ev in prepared.copied_evaluations:
        done.setdefault(ev.experiment_run_id, set()).add(ev.name)
    groups: dict[tuple[str, ...], list[Any]] = {}
    for run in task_runs:
        missing = tuple(n for n in names if n not in done.get(run["id"], set()))
        if run["id"] not in copied_ids:
            missing = tuple(names)
        if missing:
            groups.setdefault(missing, []).append(run)
    return [(list(k), v) for k, v in groups.items()]


def _finish(
    prepared: _Prepared,
    task_runs: list[Any],
    evaluation_runs: list[ExperimentEvaluationRun],
    evaluator_runs: int,
    dataset: Dataset,
    source: str | None,
) -> tuple[ReusedExperiment, dict[str, Any]]:
    the_plan = prepared.plan
    stale = (
        tuple(n for n in prepared.evaluators if n not in the_plan.reusable_evaluators)
        if the_plan.reuse
        else ()
    )
    summary = ReuseSummary(
        reused_from=source if the_plan.reuse else None,
        reused_runs=len(prepared.copied_runs),
        reused_evaluations=len(prepared.copied_evaluations),
        task_runs=len(prepared.to_run) * prepared.fingerprints.repetitions,
        evaluator_runs=evaluator_runs,
        changed=the_plan.changed,
        added=the_plan.added,
        failed=the_plan.failed,
        stale_evaluators=stale,
        reason=the_plan.reason,
    )
    metadata = dict(prepared.metadata)
    metadata[KEY] = {
        **metadata[KEY],
        "reused_runs": summary.reused_runs,
        "reused_evaluations": summary.reused_evaluations,
        "task_runs": summary.task_runs,
        "evaluator_runs": summary.evaluator_runs,
    }
    experiment = prepared.experiment
    result: ReusedExperiment = {
        "experiment_id": experiment["id"],
        "dataset_id": dataset.id,
        "dataset_version_id": dataset.version_id,
        "task_runs": task_runs,
        "evaluation_runs": prepared.copied_evaluations + evaluation_runs,
        "experiment_metadata": metadata,
        "project_name": experiment.get("project_name"),
        "reuse": summary,
    }
    return result, metadata


def _print_summary(result: ReusedExperiment) -> None:
    s = result["reuse"]
    evaluations = sum(1 for e in result["evaluation_runs"] if e.result is not None)
    print(
        f"Experiment completed: {len(result['task_runs'])} task runs ({s.reused_runs} reused, "
        f"{s.task_runs} run), {s.evaluator_runs} evaluator runs, {evaluations} evaluations "
        f"({s.reused_evaluations} reused)" + (f"; nothing reused: {s.reason}" if s.reason else "")
    )


class ReuseExperiments(Experiments):
    """phoenix-client's ``Experiments`` resource whose :meth:`run_experiment` can reuse the
    runs of an earlier experiment for the examples that did not change."""

    def run_experiment(
        self,
        *,
        dataset: Dataset,
        task: ExperimentTask,
        evaluators: ExperimentEvaluators | None = None,
        experiment_name: str | None = None,
        experiment_description: str | None = None,
        experiment_metadata: Mapping[str, Any] | None = None,
        rate_limit_errors: RateLimitErrors | None = None,
        dry_run: bool | int = False,
        print_summary: bool = True,
        timeout: int | None = DEFAULT_TIMEOUT_IN_SECONDS,
        repetitions: int = 1,
        retries: int = 3,
        reuse_runs_from: ReuseSource = None,
        task_version: str | None = None,
        reuse: Reuse = "auto",
        copy_concurrency: int = COPY_CONCURRENCY,
    ) -> ReusedExperiment:
        """phoenix-client's ``run_experiment`` (same parameters, same behavior, same result
        plus ``result["reuse"]``, a :class:`ReuseSummary`), reusing what it can.

        Args:
            reuse_runs_from: an earlier experiment — the result ``run_experiment``
                returned, or its id. For every example of ``dataset`` with the same node id
                and content hash as in that experiment's version, its successful runs (all
                repetitions) are copied, with their evaluations by evaluators given now with
                the same fingerprint; the task runs only for the other examples, and each
                evaluator only where no evaluation was copied.
            task_version: a label of your own for what the task's code cannot show (a
                prompt file, a model name); runs are reused only from an experiment with
                the same ``task_version``.
            reuse: ``"auto"`` reuses only from an experiment with the same task fingerprint,
                ``task_version`` and repetitions (and evaluations only of evaluators with
                the same fingerprint); ``"force"`` skips those checks (the content of the
                examples is still compared); ``"never"`` reuses nothing.
            copy_concurrency: runs and evaluations copied at once.

        Everything else is phoenix-client's ``run_experiment``. With ``dry_run``, nothing
        is reused (phoenix-client's dry run, as it is).
        """
        reuse = _check_reuse(reuse)
        passed = _passed(
            experiment_name,
            experiment_description,
            rate_limit_errors,
            timeout,
            repetitions,
            retries,
        )
        if dry_run:
            ran = super().run_experiment(
                dataset=dataset,
                task=task,
                evaluators=evaluators,
                experiment_metadata=experiment_metadata,
                dry_run=dry_run,
                print_summary=print_summary,
                **passed,
            )
            return {**ran, "reuse": _dry_summary()}
        _validate(task, dataset, repetitions)
        io = ExperimentIO(self._client, concurrency=copy_concurrency)
        prepared = _prepare(
            io,
            dataset=dataset,
            task=task,
            evaluators=evaluators,
            experiment_name=experiment_name,
            experiment_description=experiment_description,
            experiment_metadata=experiment_metadata,
            timeout=timeout,
            repetitions=repetitions,
            reuse_runs_from=reuse_runs_from,
            task_version=task_version,
            reuse=reuse,
        )
        experiment = prepared.experiment
        if prepared.to_run:
            runner = copy.copy(self)
            runner.__dict__["create"] = lambda **_: experiment
            ran = Experiments.run_experiment(
                runner,
                dataset=_subset(dataset, prepared.to_run),
                task=task,
                evaluators=None,
                experiment_metadata=prepared.metadata,
                print_summary=False,
                **passed,
            )
            task_runs = list(ran["task_runs"])
        else:
            task_runs = io.runs(experiment["id"])
        evaluation_runs: list[ExperimentEvaluationRun] = []
        evaluator_runs = 0
        for names, runs in _evaluation_groups(prepared, task_runs):
            evaluated = self.evaluate_experiment(
                experiment=_ran(prepared, dataset, runs),
                evaluators={n: prepared.evaluators[n] for n in names},
                print_summary=False,
                timeout=timeout,
                rate_limit_errors=rate_limit_errors,
                retries=retries,
            )
            evaluation_runs.extend(evaluated["evaluation_runs"])
            evaluator_runs += len(names) * len(runs)
        source = _source_id(reuse_runs_from)
        result, metadata = _finish(
            prepared, task_runs, evaluation_runs, evaluator_runs, dataset, source
        )
        io.patch_metadata(experiment["id"], metadata)
        if print_summary:
            _print_summary(result)
        return result


class AsyncReuseExperiments(AsyncExperiments):
    """phoenix-client's ``AsyncExperiments`` resource whose :meth:`run_experiment` can reuse
    the runs of an earlier experiment (see :meth:`ReuseExperiments.run_experiment`)."""

    async def run_experiment(
        self,
        *,
        dataset: Dataset,
        task: ExperimentTask,
        evaluators: ExperimentEvaluators | None = None,
        experiment_name: str | None = None,
        experiment_description: str | None = None,
        experiment_metadata: Mapping[str, Any] | None = None,
        rate_limit_errors: RateLimitErrors | None = None,
        dry_run: bool | int = False,
        print_summary: bool = True,
        concurrency: int = 3,
        timeout: int | None = DEFAULT_TIMEOUT_IN_SECONDS,
        repetitions: int = 1,
        retries: int = 3,
        reuse_runs_from: ReuseSource = None,
        task_version: str | None = None,
        reuse: Reuse = "auto",
        copy_concurrency: int = COPY_CONCURRENCY,
    ) -> ReusedExperiment:
        """phoenix-client's async ``run_experiment``, reusing what it can: the parameters,
        rules and result of :meth:`ReuseExperiments.run_experiment`. Planning and copying
        run in a worker thread (every request still goes through this client's
        ``httpx.AsyncClient`` on the loop); the task and evaluators run on the loop, as
        phoenix-client runs them."""
        reuse = _check_reuse(reuse)
        passed = _passed(
            experiment_name,
            experiment_description,
            rate_limit_errors,
            timeout,
            repetitions,
            retries,
        )
        if dry_run:
            ran = await super().run_experiment(
                dataset=dataset,
                task=task,
                evaluators=evaluators,
                experiment_metadata=experiment_metadata,
                dry_run=dry_run,
                print_summary=print_summary,
                concurrency=concurrency,
                **passed,
            )
            return {**ran, "reuse": _dry_summary()}
        _validate(task, dataset, repetitions)
        from phoenix_upsert.async_client import bridged, in_thread  # (imports this module)

        bridge, http = bridged(self._client)
        io = ExperimentIO(http, concurrency=copy_concurrency)

        try:
            prepared: _Prepared = await in_thread(
                bridge,
                lambda: _prepare(
                    io,
                    dataset=dataset,
                    task=task,
                    evaluators=evaluators,
                    experiment_name=experiment_name,
                    experiment_description=experiment_description,
                    experiment_metadata=experiment_metadata,
                    timeout=timeout,
                    repetitions=repetitions,
                    reuse_runs_from=reuse_runs_from,
                    task_version=task_version,
                    reuse=reuse,
                ),
            )
            experiment = prepared.experiment
            if prepared.to_run:
                runner = copy.copy(self)

                async def created(**_: Any) -> Any:
                    return experiment

                runner.__dict__["create"] = created
                ran = await AsyncExperiments.run_experiment(
                    runner,
                    dataset=_subset(dataset, prepared.to_run),
                    task=task,
                    evaluators=None,
                    experiment_metadata=prepared.metadata,
                    print_summary=False,
                    concurrency=concurrency,
                    **passed,
                )
                task_runs = list(ran["task_runs"])
            else:
                task_runs = await in_thread(bridge, lambda: io.runs(experiment["id"]))
            evaluation_runs: list[ExperimentEvaluationRun] = []
            evaluator_runs = 0
            for names, runs in _evaluation_groups(prepared, task_runs):
                evaluated = await self.evaluate_experiment(
                    experiment=_ran(prepared, dataset, runs),
                    evaluators={n: prepared.evaluators[n] for n in names},
                    print_summary=False,
                    timeout=timeout,
                    concurrency=concurrency,
                    rate_limit_errors=rate_limit_errors,
                    retries=retries,
                )
                evaluation_runs.extend(evaluated["evaluation_runs"])
                evaluator_runs += len(names) * len(runs)
            source = _source_id(reuse_runs_from)
            result, metadata = _finish(
                prepared, task_runs, evaluation_runs, evaluator_runs, dataset, source
            )
            await in_thread(bridge, lambda: io.patch_metadata(experiment["id"], metadata))
        finally:
            http.close()
        if print_summary:
            _print_summary(result)
        return result


def _passed(
    experiment_name: str | None,
    experiment_description: str | None,
    rate_limit_errors: RateLimitErrors | None,
    timeout: int | None,
    repetitions: int,
    retries: int,
) -> dict[str, Any]:
    """The arguments passed on to phoenix-client's ``run_experiment`` as they came."""
    return {
        "experiment_name": experiment_name,
        "experiment_description": experiment_description,
        "rate_limit_errors": rate_limit_errors,
        "timeout": timeout,
        "repetitions": repetitions,
        "retries": retries,
    }


def _ran(prepared: _Prepared, dataset: Dataset, runs: list[Any]) -> RanExperiment:
    experiment = prepared.experiment
    return {
        "experiment_id": experiment["id"],
        "dataset_id": dataset.id,
        "dataset_version_id": dataset.version_id,
        "task_runs": runs,
        "evaluation_runs": [],
        "experiment_metadata": prepared.metadata,
        "project_name": experiment.get("project_name"),
    }


def _dry_summary() -> ReuseSummary:
    return ReuseSummary(
        reused_from=None,
        reused_runs=0,
        reused_evaluations=0,
        task_runs=0,
        evaluator_runs=0,
        reason="a dry run reuses nothing",
    )


def _validate(task: ExperimentTask, dataset: Dataset, repetitions: int) -> None:
    """phoenix-client's checks, before anything is created."""
    from phoenix.client.resources.experiments import (  # the very checks it makes
        _validate_repetitions,
        _validate_task_signature,
    )

    _validate_task_signature(inspect.signature(task))
    if not dataset.examples:
        raise ValueError(f"Dataset has no examples: {dataset.id=}, {dataset.version_id=}")
    _validate_repetitions(repetitions)
