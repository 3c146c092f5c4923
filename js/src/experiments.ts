/**
 * `runExperiment` with `reuseRunsFrom`: an experiment on a new version of a dataset that
 * copies, for every example whose content is unchanged, the earlier experiment's runs and
 * evaluations, and runs the task (and the evaluators) only for the rest — the rules and the
 * experiment metadata of Python's `client.experiments.run_experiment(reuse_runs_from=...)`.
 *
 * It is made of phoenix-client's own pieces: `createExperiment`, the runs and evaluations
 * copied with `POST /v1/experiments/{id}/runs` and `POST /v1/experiment_evaluations`
 * (bounded concurrency; a 409 means "copied already"), then `resumeExperiment` (which runs
 * the task for exactly the (example, repetition) pairs without a successful run) and
 * `resumeEvaluation` (which runs each evaluator where its evaluation is missing).
 */

import { createHash } from "node:crypto";

import { scanExamples, scanJsonl } from "./core.js";

/** The metadata key (Python's too) under which an experiment records its fingerprints. */
export const REUSE_METADATA_KEY = "phoenix_upsert";
const FORMAT = 1;
/** Runs and evaluations copied at once, by default. */
export const COPY_CONCURRENCY = 16;
const RUNS_PAGE = 1000;

/** `"auto"`: reuse only what the same task (and evaluator) code made; `"force"`: skip those checks; `"never"`. */
export type Reuse = "auto" | "force" | "never";

/** What an experiment reused and what it ran. */
export interface ReuseSummary {
  /** The experiment runs were reused from (`null`: none). */
  reusedFrom: string | null;
  /** Runs copied (one per repetition of each unchanged example). */
  reusedRuns: number;
  /** Evaluations copied onto those runs. */
  reusedEvaluations: number;
  /** (example, repetition) pairs the task ran for. */
  taskRuns: number;
  /** Evaluations left to the evaluators (one per evaluator and run not copied). */
  evaluatorRuns: number;
  /** Examples whose content changed since the earlier experiment's version. */
  changed: number;
  /** Examples the earlier experiment did not run (new, or outside its splits). */
  added: number;
  /** Unchanged examples run again because a repetition of theirs failed earlier. */
  failed: number;
  /** Evaluators that ran on every reused run (new, or their fingerprint changed). */
  staleEvaluators: string[];
  /** Why nothing was reused (`null` when something was). */
  reason: string | null;
}

/** A dataset example as `@arizeai/phoenix-client` hands it to a task. */
export interface ExperimentExample {
  id: string;
  nodeId: string;
  input: Record<string, unknown>;
  output?: Record<string, unknown> | null;
  metadata?: Record<string, unknown> | null;
  [key: string]: unknown;
}

/** An evaluator as `@arizeai/phoenix-client` takes it. */
export interface ExperimentEvaluator {
  name: string;
  kind: string;
  evaluate: (...args: never[]) => unknown;
}

/**
 * `@arizeai/phoenix-client`'s `runExperiment` options (6.14), plus reuse. The client's own
 * types are not imported (they do not type-check without `skipLibCheck`); the options are
 * passed on to phoenix-client as they are.
 */
export interface RunExperimentWithReuseParams {
  /** The phoenix-client client (`createClient()` by default). */
  client?: unknown;
  /** `{ datasetId }` or `{ datasetName }`, with an optional `versionId` and `splits`. */
  dataset:
    | { datasetId: string; versionId?: string; splits?: string[] }
    | { datasetName: string; versionId?: string; splits?: string[] };
  /** The task: gets the dataset's example. */
  task: (example: ExperimentExample) => unknown;
  evaluators?: readonly ExperimentEvaluator[];
  experimentName?: string;
  experimentDescription?: string;
  experimentMetadata?: Record<string, unknown>;
  logger?: unknown;
  record?: boolean;
  concurrency?: number;
  dryRun?: number | boolean;
  setGlobalTracerProvider?: boolean;
  repetitions?: number;
  useBatchSpanProcessor?: boolean;
  diagLogLevel?: unknown;
  /** An earlier experiment: its id, or what `runExperiment` returned (`{ id }`). */
  reuseRunsFrom?: string | { id: string } | null;
  /** A label of yours for what the task's code cannot show (a prompt, a model name). */
  taskVersion?: string | null;
  /** `"auto"` (default), `"force"` or `"never"`. */
  reuse?: Reuse;
  /** Runs and evaluations copied at once (default 16). */
  copyConcurrency?: number;
}

/** phoenix-client's `RanExperiment` (as its `getExperiment` reads it) with the reuse summary. */
export interface ReusedExperiment {
  id: string;
  datasetId: string;
  datasetVersionId: string;
  metadata: Record<string, unknown>;
  /** The runs by id: `{ id, datasetExampleId, output, error, startTime, endTime, traceId }`. */
  runs: Record<string, Record<string, unknown>>;
  /** With evaluators: every evaluation, copied or made now (`{ name, result, error, … }`). */
  evaluationRuns?: Record<string, unknown>[];
  reuse: ReuseSummary;
  [key: string]: unknown;
}

interface PhoenixClientModules {
  createClient(): unknown;
  getDataset(params: Record<string, unknown>): Promise<{
    id: string;
    versionId: string;
    examples: ExperimentExample[];
  }>;
  createExperiment(params: Record<string, unknown>): Promise<{ id: string }>;
  getExperiment(params: Record<string, unknown>): Promise<ReusedExperiment>;
  resumeExperiment(params: Record<string, unknown>): Promise<void>;
  resumeEvaluation(params: Record<string, unknown>): Promise<void>;
  runExperiment(params: Record<string, unknown>): Promise<Record<string, unknown>>;
}

/** phoenix-client's modules, loaded at run time (a peer dependency). */
async function phoenixClient(): Promise<PhoenixClientModules> {
  const names = ["@arizeai/phoenix-client", "datasets", "experiments"];
  const [root, datasets, experiments] = (await Promise.all([
    import(names[0] as string),
    import(`${names[0] as string}/${names[1] as string}`),
    import(`${names[0] as string}/${names[2] as string}`),
  ])) as [Record<string, unknown>, Record<string, unknown>, Record<string, unknown>];
  return { ...root, ...datasets, ...experiments } as unknown as PhoenixClientModules;
}

type Json = Record<string, unknown>;

interface LooseClient {
  GET(
    path: string,
    init?: Record<string, unknown>,
  ): Promise<{ data?: unknown; response: Response }>;
  POST(
    path: string,
    init?: Record<string, unknown>,
  ): Promise<{ data?: unknown; response: Response }>;
  PATCH(
    path: string,
    init?: Record<string, unknown>,
  ): Promise<{ data?: unknown; response: Response }>;
}

/** The fingerprint recorded for a task: `"js1:"` and the SHA-256 of its source text. */
export function taskFingerprint(task: (...args: never[]) => unknown): string {
  return "js1:" + createHash("sha256").update(String(task)).digest("hex");
}

function evaluatorFingerprint(evaluator: {
  name: string;
  kind?: unknown;
  evaluate: unknown;
}): string {
  const text = `${evaluator.name}\u001f${String(evaluator.kind)}\u001f${String(evaluator.evaluate)}`;
  return "js1:" + createHash("sha256").update(text).digest("hex");
}

interface EarlierRun {
  exampleId: string;
  repetition: number;
  body: Json;
  evaluations: Map<string, Json>;
}

/** Every run of an experiment, page by page (`GET /v1/experiments/{id}/runs`). */
async function listRuns(http: LooseClient, experimentId: string): Promise<Json[]> {
  const runs: Json[] = [];
  let cursor: string | null = null;
  do {
    const page = ok(
      await request(http, "GET", "/v1/experiments/{experiment_id}/runs", {
        params: {
          path: { experiment_id: experimentId },
          query: { limit: RUNS_PAGE, ...(cursor ? { cursor } : {}) },
        },
      }),
      "reading runs",
    ) as Json;
    runs.push(...(page.data as Json[]));
    cursor = (page.next_cursor as string | null | undefined) ?? null;
  } while (cursor);
  return runs;
}

/** The evaluations of an experiment's runs, as phoenix-client's `evaluationRuns` lists them. */
async function evaluationRuns(http: LooseClient, experimentId: string): Promise<Json[]> {
  const runIds = new Map<string, string>();
  for (const run of await listRuns(http, experimentId)) {
    runIds.set(
      `${String(run.dataset_example_id)}/${String(run.repetition_number)}`,
      String(run.id),
    );
  }
  const answer = await request(http, "GET", "/v1/experiments/{experiment_id}/json", {
    params: { path: { experiment_id: experimentId } },
  });
  const records = answer.status === 404 ? [] : (ok(answer, "reading evaluations") as Json[]);
  return records.flatMap((record) =>
    ((record.annotations ?? []) as Json[]).map((a, i) => ({
      id: `${String(record.example_id)}/${String(record.repetition_number)}/${String(i)}`,
      experimentRunId:
        runIds.get(`${String(record.example_id)}/${String(record.repetition_number)}`) ?? "",
      startTime: new Date(String(a.start_time)),
      endTime: new Date(String(a.end_time)),
      name: a.name,
      annotatorKind: a.annotator_kind,
      error: a.error ?? null,
      result:
        a.error === null || a.error === undefined
          ? { score: a.score ?? null, label: a.label ?? null, explanation: a.explanation ?? null }
          : null,
      traceId: a.trace_id ?? null,
    })),
  );
}

/** A pool: `fn` over `items` with at most `limit` in flight; results in order. */
async function pool<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<R>,
): Promise<R[]> {
  const out: R[] = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  return out;
}

/** A request through the phoenix-client client; the status and body, also of a non-2xx answer. */
async function request(
  client: LooseClient,
  method: "GET" | "POST" | "PATCH",
  path: string,
  init: Record<string, unknown>,
  attempts = 4,
): Promise<{ status: number; data: unknown; text: string }> {
  for (let attempt = 1; ; attempt++) {
    let status: number;
    let text: string;
    try {
      const result = await client[method](path, { ...init, parseAs: "text" });
      status = result.response.status;
      text = typeof result.data === "string" ? result.data : "";
    } catch (e) {
      const response = (e as { response?: unknown } | null)?.response;
      if (!(response instanceof Response)) {
        if (attempt >= attempts) throw e;
        await new Promise((r) => setTimeout(r, 250 * 2 ** attempt));
        continue;
      }
      status = response.status;
      text = await response.text().catch(() => "");
    }
    if ((status === 429 || status >= 500) && attempt < attempts) {
      await new Promise((r) => setTimeout(r, 250 * 2 ** attempt));
      continue;
    }
    let data: unknown = undefined;
    try {
      data = JSON.parse(text) as unknown;
    } catch {
      data = undefined;
    }
    return { status, data, text };
  }
}

function ok(
  answer: { status: number; data: unknown; text: string },
  what: string,
): Json | unknown[] {
  if (answer.status < 200 || answer.status >= 300) {
    throw new Error(`${what}: HTTP ${String(answer.status)}: ${answer.text.slice(0, 500)}`);
  }
  return answer.data as Json | unknown[];
}

function compatibility(
  earlier: Json,
  datasetId: string,
  now: {
    task: string;
    taskVersion: string | null;
    evaluators: Record<string, string>;
    repetitions: number;
  },
  reuse: Reuse,
): { reason: string | null; reusable: Set<string> } {
  const eid = String(earlier.id);
  if (earlier.dataset_id !== datasetId) {
    return { reason: `experiment ${eid} is on another dataset`, reusable: new Set() };
  }
  if (reuse === "force") return { reason: null, reusable: new Set(Object.keys(now.evaluators)) };
  const meta = ((earlier.metadata ?? {}) as Json)[REUSE_METADATA_KEY] as Json | undefined;
  if (
    meta === undefined ||
    meta === null ||
    typeof meta !== "object" ||
    !("task_fingerprint" in meta)
  ) {
    return {
      reason: `experiment ${eid} has no phoenix-upsert fingerprints (it was not run by phoenix-upsert's runExperiment); pass reuse: "force" to reuse it anyway`,
      reusable: new Set(),
    };
  }
  if (meta.task_fingerprint !== now.task) {
    return {
      reason: `the task's code differs from the one that ran experiment ${eid} (fingerprint ${String(meta.task_fingerprint)} then, ${now.task} now)`,
      reusable: new Set(),
    };
  }
  if ((meta.task_version ?? null) !== now.taskVersion) {
    return {
      reason: `taskVersion differs from experiment ${eid}'s (${JSON.stringify(meta.task_version ?? null)} then, ${JSON.stringify(now.taskVersion)} now)`,
      reusable: new Set(),
    };
  }
  const reps = Number(earlier.repetitions ?? meta.repetitions ?? 1);
  if (reps !== now.repetitions) {
    return {
      reason: `experiment ${eid} ran ${String(reps)} repetitions, this one runs ${String(now.repetitions)}`,
      reusable: new Set(),
    };
  }
  const before = (meta.evaluators ?? {}) as Record<string, unknown>;
  return {
    reason: null,
    reusable: new Set(
      Object.entries(now.evaluators)
        .filter(([n, fp]) => before[n] === fp)
        .map(([n]) => n),
    ),
  };
}

/**
 * phoenix-client's `runExperiment` (the same options and result, plus `result.reuse`), reusing
 * the runs of `reuseRunsFrom` for every example whose node id and content hash are the same as
 * in that experiment's version. See docs/guides/experiments.md for the rules.
 */
export async function runExperiment(
  params: RunExperimentWithReuseParams,
): Promise<ReusedExperiment> {
  const {
    reuseRunsFrom = null,
    taskVersion = null,
    reuse = "auto",
    copyConcurrency = COPY_CONCURRENCY,
    ...options
  } = params;
  if (reuse !== "auto" && reuse !== "force" && reuse !== "never") {
    throw new TypeError(`reuse must be "auto", "force" or "never", not ${JSON.stringify(reuse)}`);
  }
  const nothingSummary = (reason: string): ReuseSummary => ({
    reusedFrom: null,
    reusedRuns: 0,
    reusedEvaluations: 0,
    taskRuns: 0,
    evaluatorRuns: 0,
    changed: 0,
    added: 0,
    failed: 0,
    staleEvaluators: [],
    reason,
  });
  const {
    createClient,
    getDataset,
    createExperiment,
    getExperiment,
    resumeExperiment,
    resumeEvaluation,
    runExperiment: phoenixRunExperiment,
  } = await phoenixClient();
  if (options.dryRun || options.record === false) {
    const ran = await phoenixRunExperiment(options as unknown as Record<string, unknown>);
    return {
      ...(ran as unknown as ReusedExperiment),
      reuse: nothingSummary("a dry run reuses nothing"),
    };
  }
  const client = options.client ?? createClient();
  const http = client as unknown as LooseClient;
  const repetitions = options.repetitions ?? 1;
  if (!Number.isInteger(repetitions) || repetitions < 1) {
    throw new TypeError("repetitions must be an integer greater than 0");
  }
  const dataset = await getDataset({ client, dataset: options.dataset });
  if (dataset.examples.length === 0) throw new Error("Dataset has no examples");
  const evaluators = options.evaluators ?? [];
  const fps = {
    task: taskFingerprint(options.task),
    taskVersion,
    evaluators: Object.fromEntries(evaluators.map((e) => [e.name, evaluatorFingerprint(e)])),
    repetitions,
  };
  const source =
    reuseRunsFrom === null
      ? null
      : typeof reuseRunsFrom === "string"
        ? reuseRunsFrom
        : reuseRunsFrom.id;
  let reason: string | null = null;
  let reusable = new Set<string>();
  const reuseByExample = new Map<string, EarlierRun[]>();
  let changed = 0;
  let added = 0;
  let failed = 0;
  if (source === null) reason = "no earlier experiment given (reuseRunsFrom: null)";
  else if (reuse === "never") reason = 'reuse: "never"';
  else {
    const earlier = ok(
      await request(http, "GET", "/v1/experiments/{experiment_id}", {
        params: { path: { experiment_id: source } },
      }),
      `reading experiment ${source}`,
    ) as Json;
    const info = earlier.data as Json;
    ({ reason, reusable } = compatibility(info, dataset.id, fps, reuse));
    if (reason === null) {
      const ours = scanExamples(
        dataset.examples.map((e) => ({
          input: e.input,
          output: e.output ?? {},
          metadata: e.metadata ?? {},
        })),
        { sourceIdKey: null, storable: false },
      ).hashes;
      const earlierVersion = String(info.dataset_version_id);
      const before = new Map<string, string>();
      if (earlierVersion === dataset.versionId) {
        dataset.examples.forEach((e, i) => before.set(e.nodeId, ours[i] as string));
      } else {
        const answer = await request(http, "GET", "/v1/datasets/{id}/jsonl", {
          params: { path: { id: dataset.id }, query: { version_id: earlierVersion } },
        });
        if (answer.status !== 200) ok(answer, "reading the earlier version");
        const scan = scanJsonl(answer.text, { idKey: "id", nodeIdKey: "node_id" });
        (scan.nodeIds ?? []).forEach((n, i) => {
          if (n) before.set(n, scan.hashes[i] as string);
        });
      }
      let runs: Json[];
      if (reusable.size > 0) {
        const answer = await request(http, "GET", "/v1/experiments/{experiment_id}/json", {
          params: { path: { experiment_id: source } },
        });
        runs =
          answer.status === 404 && answer.text.includes("no runs")
            ? []
            : (ok(answer, "reading runs") as Json[]);
      } else {
        runs = await listRuns(http, source);
      }
      const done = new Map<string, Map<number, EarlierRun>>();
      const failedExamples = new Set<string>();
      for (const r of runs) {
        const exampleId = String(r.dataset_example_id ?? r.example_id);
        if (r.error !== null && r.error !== undefined) {
          failedExamples.add(exampleId);
          continue;
        }
        const evaluations = new Map<string, Json>();
        for (const a of (r.annotations ?? []) as Json[]) {
          if ((a.error === null || a.error === undefined) && reusable.has(String(a.name))) {
            evaluations.set(String(a.name), a);
          }
        }
        const body: Json = {
          dataset_example_id: exampleId,
          output: r.output ?? null,
          repetition_number: Number(r.repetition_number),
          start_time: r.start_time,
          end_time: r.end_time,
          ...(r.trace_id ? { trace_id: r.trace_id } : {}),
        };
        const run: EarlierRun = {
          exampleId,
          repetition: Number(r.repetition_number),
          body,
          evaluations,
        };
        if (!done.has(exampleId)) done.set(exampleId, new Map());
        done.get(exampleId)?.set(run.repetition, run);
      }
      dataset.examples.forEach((e, i) => {
        const was = before.get(e.nodeId);
        if (was === undefined) added++;
        else if (was !== ours[i]) changed++;
        else {
          const reps = done.get(e.nodeId) ?? new Map<number, EarlierRun>();
          const all = Array.from({ length: repetitions }, (_, k) => reps.get(k + 1));
          if (all.every((r) => r !== undefined)) reuseByExample.set(e.nodeId, all as EarlierRun[]);
          else if (reps.size > 0 || failedExamples.has(e.nodeId)) failed++;
          else added++;
        }
      });
      if (reuseByExample.size === 0) {
        reason = `no example of this version has successful runs of unchanged content in experiment ${source}`;
      }
    }
  }
  const reusedFrom = reuseByExample.size > 0 ? source : null;
  const reusedRuns = [...reuseByExample.values()].flat();
  const names = evaluators.map((e) => e.name);
  const copies = reusedRuns.flatMap((run) =>
    names.filter((n) => reusable.has(n) && run.evaluations.has(n)).map((n) => ({ run, name: n })),
  );
  const toRun = dataset.examples.length - reuseByExample.size;
  const evaluatorRuns =
    toRun * repetitions * names.length + (reusedRuns.length * names.length - copies.length);
  const meta: Json = {
    format: FORMAT,
    task_fingerprint: fps.task,
    task_version: taskVersion,
    evaluators: fps.evaluators,
    repetitions,
    reused_from: reusedFrom,
    reused_runs: reusedRuns.length,
    reused_evaluations: copies.length,
    task_runs: toRun * repetitions,
    evaluator_runs: evaluatorRuns,
  };
  const metadata = { ...(options.experimentMetadata ?? {}), [REUSE_METADATA_KEY]: meta };
  const selector = options.dataset as { splits?: string[] };
  const experiment = await createExperiment({
    client,
    datasetId: dataset.id,
    datasetVersionId: dataset.versionId,
    ...(options.experimentName !== undefined ? { experimentName: options.experimentName } : {}),
    ...(options.experimentDescription !== undefined
      ? { experimentDescription: options.experimentDescription }
      : {}),
    experimentMetadata: metadata,
    ...(selector.splits ? { splits: selector.splits } : {}),
    repetitions,
  });
  const runIds = await pool(reusedRuns, copyConcurrency, async (run) => {
    const answer = await request(http, "POST", "/v1/experiments/{experiment_id}/runs", {
      params: { path: { experiment_id: experiment.id } },
      body: run.body,
    });
    if (answer.status === 409) {
      const match = /Experiment run (\S+) already exists/.exec(answer.text);
      if (match?.[1]) return match[1];
    }
    return String(((ok(answer, "copying a run") as Json).data as Json).id);
  });
  const newId = new Map(reusedRuns.map((run, i) => [run, runIds[i] as string]));
  await pool(copies, copyConcurrency, async ({ run, name }) => {
    const a = run.evaluations.get(name) as Json;
    ok(
      await request(http, "POST", "/v1/experiment_evaluations", {
        body: {
          experiment_run_id: newId.get(run),
          name,
          annotator_kind: a.annotator_kind ?? "CODE",
          start_time: a.start_time,
          end_time: a.end_time,
          result: {
            label: a.label ?? null,
            score: a.score ?? null,
            explanation: a.explanation ?? null,
          },
          metadata: a.metadata ?? {},
          ...(a.trace_id ? { trace_id: a.trace_id } : {}),
        },
      }),
      "copying an evaluation",
    );
  });
  const common = {
    client,
    experimentId: experiment.id,
    ...(options.logger !== undefined ? { logger: options.logger } : {}),
    ...(options.concurrency !== undefined ? { concurrency: options.concurrency } : {}),
    ...(options.setGlobalTracerProvider !== undefined
      ? { setGlobalTracerProvider: options.setGlobalTracerProvider }
      : {}),
    ...(options.useBatchSpanProcessor !== undefined
      ? { useBatchSpanProcessor: options.useBatchSpanProcessor }
      : {}),
    ...(options.diagLogLevel !== undefined ? { diagLogLevel: options.diagLogLevel } : {}),
  };
  if (toRun > 0) {
    // resumeExperiment hands the task the example as the server lists incomplete runs (its
    // id is the node id); the task gets the dataset's example, as runExperiment gives it.
    const byNode = new Map(dataset.examples.map((e) => [e.nodeId, e]));
    const task = options.task;
    const wrapped = (example: ExperimentExample) => task(byNode.get(example.id) ?? example);
    Object.defineProperty(wrapped, "name", { value: task.name });
    await resumeExperiment({ ...common, task: wrapped });
  }
  if (evaluators.length > 0 && evaluatorRuns > 0) {
    await resumeEvaluation({ ...common, evaluators: options.evaluators ?? [] });
  }
  ok(
    await request(http, "PATCH", "/v1/experiments/{experiment_id}", {
      params: { path: { experiment_id: experiment.id } },
      body: { metadata },
    }),
    "updating the experiment's metadata",
  );
  const ran = await getExperiment({ client, experimentId: experiment.id });
  if (evaluators.length > 0) {
    ran.evaluationRuns = await evaluationRuns(http, experiment.id);
  }
  const staleEvaluators = reusedFrom === null ? [] : names.filter((n) => !reusable.has(n));
  return {
    ...ran,
    reuse: {
      reusedFrom,
      reusedRuns: reusedRuns.length,
      reusedEvaluations: copies.length,
      taskRuns: toRun * repetitions,
      evaluatorRuns,
      changed,
      added,
      failed,
      staleEvaluators,
      reason,
    },
  };
}
