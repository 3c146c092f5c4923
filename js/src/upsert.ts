/**
 * `upsertDataset`: make a Phoenix dataset hold exactly the given examples, writing the least,
 * over the `@arizeai/phoenix-client` client. The sync is the core's (`rust/src/sync`, the same
 * engine as Python's client: the same reads, plan, write and proof — see `docs/architecture.md`),
 * driven by `./driver.ts`; here the options are checked for what cannot cross into the core
 * faithfully (their types, lone surrogates), the source is read, and the core's outcome becomes
 * the public `SyncPlan` and results.
 */

import type { PhoenixClient } from "@arizeai/phoenix-client";

import { runSync, type HttpClient, type Outcome } from "./driver.js";
import { LoneSurrogateError } from "./errors.js";
import * as manifest from "./manifest.js";
import { readSource, type ExamplesSource, type Source, type SourceIdKey } from "./source.js";

export type { ExamplesSource, SourceIdKey, UpsertExample } from "./source.js";

/** `"mirror"`: the dataset becomes the source; `"merge"`: add and update, never delete. */
export type Mode = "mirror" | "merge";
/** What a sync writes: nothing, a new dataset, the changed examples, or the full snapshot. */
export type Action = "none" | "create" | "append" | "update";

/** How many examples fell in each class (`updated` includes split-only changes). */
export interface SyncSummary {
  added: number;
  updated: number;
  deleted: number;
  unchanged: number;
}

/**
 * What a sync does (or, in a dry run, would do), by source id: ids are the examples' source
 * ids (`null` for examples synced by content only); for deleted examples the external id on
 * the server, or the node id if it has none. `*Indices` are 0-based positions in the source.
 */
export interface SyncPlan {
  datasetName: string;
  datasetId: string | null;
  baseVersionId: string | null;
  mode: Mode;
  action: Action;
  added: (string | null)[];
  updated: (string | null)[];
  splitChanges: (string | null)[];
  deleted: string[];
  unchanged: number;
  addedIndices: number[];
  updatedIndices: number[];
  splitChangeIndices: number[];
  summary: SyncSummary;
}

/** Where a sync left the dataset. */
export interface UpsertResult {
  datasetId: string;
  datasetName: string;
  /** The dataset's version holding the source (the latest; `""` for a dataset without versions). */
  versionId: string;
  summary: SyncSummary;
  plan: SyncPlan;
  action: Action;
  /** Writes the sync made (at least 1; more after a failure or a race). */
  attempts: number;
  /** Whether another writer was seen changing the dataset during the sync. */
  concurrentWriter: boolean;
  /**
   * The versions the sync made, oldest first: one, or several for a sync that adds more than
   * 30,000 examples (written in parts: the server's per-request limits).
   */
  versions: string[];
  dryRun: false;
}

/** What a dry run found: the plan, nothing written. */
export interface DryRunResult {
  /** `null` if the dataset does not exist yet. */
  datasetId: string | null;
  datasetName: string;
  /** The version the plan was made from (`null`: no dataset or no version yet). */
  versionId: string | null;
  summary: SyncSummary;
  plan: SyncPlan;
  action: Action;
  dryRun: true;
}

/** The dataset: by name (created if absent) or by id. */
export type DatasetSelector = { datasetName: string } | { datasetId: string };

export interface UpsertDatasetOptions {
  /** A client of `@arizeai/phoenix-client` (`createClient()`): base URL, headers, middleware. */
  client: PhoenixClient;
  dataset: DatasetSelector;
  /**
   * An array or (async) iterable of examples — phoenix-client's `Example[]` as `createDataset`
   * takes it (`output`/`metadata` missing or `null` mean `{}`) — or a JSONL path or URL.
   */
  examples: ExamplesSource;
  /**
   * Key of the source id (default `"id"`; for an array or iterable in which no example has an
   * `id`, as phoenix-client's `Example` may not: match by content), a function of the
   * example, or `null` (match by content).
   */
  sourceIdKey?: SourceIdKey;
  mode?: Mode;
  /** Plan only: read the server, write nothing, return the plan. */
  dryRun?: boolean;
  /** Key of each example's split names (a string or an array of strings); default `"splits"`, `null` for none. */
  splitsKey?: string | null;
  /**
   * Key of each example's span id; by default `spanId` (phoenix-client's `Example`) or
   * `span_id` (an error if both are given and differ; JSONL: `span_id`), `null` for none.
   */
  spanIdKey?: string | null;
  /** Description of a dataset this sync creates. */
  datasetDescription?: string | null;
  /** Attempts for steps that are safe to repeat (reads, re-planning after a failed write); default 4. */
  retries?: number;
  /** Milliseconds per request; by default each request gets time in proportion to its payload. */
  timeoutMs?: number | null;
  /** Stops the sync (between and during requests) with the signal's reason. */
  signal?: AbortSignal;
  /** Allow a mirror sync of no examples (it deletes every example). */
  allowEmpty?: boolean;
  /**
   * Keep a local manifest of what the server holds (ids, hashes, split names), so that a sync
   * need not download the dataset while the server proves the manifest current (a source
   * with splits still reads its splits): `true` (default: `$PHOENIX_UPSERT_CACHE_DIR`, else
   * `~/.cache/phoenix-upsert`, shared with the Python client), a directory, or `false`.
   */
  manifest?: boolean | string;
}

/** A lone surrogate: not Unicode text, and not faithfully a Rust string. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Refuse, before anything is sent, a name, id or description holding a lone surrogate. */
function checkText(values: Record<string, unknown>): void {
  for (const [what, value] of Object.entries(values)) {
    if (typeof value === "string" && LONE_SURROGATE.test(value)) {
      throw new LoneSurrogateError(
        `${what} ${JSON.stringify(value)} contains a lone surrogate: not valid Unicode text; nothing was sent`,
      );
    }
  }
}

/** The core's plan as the public `SyncPlan`: source ids beside the indices. */
function syncPlan(outcome: Outcome, source: Source, mode: Mode): SyncPlan {
  const p = outcome.plan;
  const pick = (list: number[]) => list.map((i) => source.ids[i] ?? null);
  return {
    datasetName: p.datasetName,
    datasetId: p.datasetId,
    baseVersionId: p.baseVersionId,
    mode,
    action: p.action,
    added: pick(p.added),
    updated: pick(p.updated),
    splitChanges: pick(p.splitChanges),
    deleted: p.deleted,
    unchanged: p.unchanged,
    addedIndices: p.added,
    updatedIndices: p.updated,
    splitChangeIndices: p.splitChanges,
    summary: {
      added: p.added.length,
      updated: p.updated.length + p.splitChanges.length,
      deleted: p.deleted.length,
      unchanged: p.unchanged,
    },
  };
}

/**
 * Make a Phoenix dataset hold exactly `examples` (mode `"mirror"`), or add and update them
 * (`"merge"`), writing the least: nothing for a no-op, one new version otherwise. Bad input is
 * a typed error (`InvalidInputError` and its subclasses) before any request.
 */
export async function upsertDataset(
  options: UpsertDatasetOptions & { dryRun: true },
): Promise<DryRunResult>;
export async function upsertDataset(
  options: UpsertDatasetOptions & { dryRun?: false },
): Promise<UpsertResult>;
export async function upsertDataset(
  options: UpsertDatasetOptions,
): Promise<UpsertResult | DryRunResult>;
export async function upsertDataset(
  options: UpsertDatasetOptions,
): Promise<UpsertResult | DryRunResult> {
  const { client, dataset, examples } = options;
  const http = client as unknown as Partial<HttpClient> | null;
  if (
    http === null ||
    typeof http !== "object" ||
    typeof http.GET !== "function" ||
    typeof http.POST !== "function"
  ) {
    throw new TypeError("client must be a client of @arizeai/phoenix-client (createClient())");
  }
  const sel = (dataset ?? {}) as { datasetName?: unknown; datasetId?: unknown };
  const hasName = sel.datasetName !== undefined;
  const hasId = sel.datasetId !== undefined;
  if (hasName === hasId)
    throw new TypeError("dataset: give exactly one of { datasetName } or { datasetId }");
  if (hasName && typeof sel.datasetName !== "string") {
    throw new TypeError("dataset.datasetName must be a non-empty name");
  }
  if (hasId && typeof sel.datasetId !== "string") {
    throw new TypeError("dataset.datasetId must be a non-empty id");
  }
  const description = options.datasetDescription ?? null;
  if (description !== null && typeof description !== "string") {
    throw new TypeError("datasetDescription must be a string or null");
  }
  checkText({
    "dataset name": sel.datasetName,
    "dataset id": sel.datasetId,
    datasetDescription: description,
  });
  const mode = options.mode ?? "mirror";
  if (mode !== "mirror" && mode !== "merge") {
    throw new RangeError(`mode must be "mirror" or "merge", not ${JSON.stringify(mode)}`);
  }
  const retries = options.retries ?? 4;
  if (typeof retries !== "number" || !Number.isInteger(retries))
    throw new RangeError("retries must be an integer of at least 1");
  const timeoutMs = options.timeoutMs ?? null;
  // JSON carries no NaN or Infinity to the core: checked here.
  if (
    timeoutMs !== null &&
    !(typeof timeoutMs === "number" && timeoutMs > 0 && timeoutMs < Infinity)
  ) {
    throw new RangeError("timeoutMs must be a positive number of milliseconds");
  }
  const keep = options.manifest ?? true;
  if (typeof keep !== "boolean" && (typeof keep !== "string" || keep === "")) {
    throw new TypeError("manifest must be true, false or the path of a directory");
  }
  const source = await readSource(examples, {
    sourceIdKey: options.sourceIdKey,
    splitsKey: options.splitsKey === undefined ? "splits" : options.splitsKey,
    spanIdKey: options.spanIdKey,
  });
  options.signal?.throwIfAborted();
  const manifestDir = keep === true ? manifest.defaultDirectory() : keep === false ? null : keep;
  const dryRun = options.dryRun ?? false;
  const outcome = await runSync(
    http as HttpClient,
    source,
    {
      name: hasName ? (sel.datasetName as string) : null,
      dataset_id: hasId ? (sel.datasetId as string) : null,
      merge: mode === "merge",
      dry_run: dryRun,
      description,
      allow_empty: Boolean(options.allowEmpty),
      retries,
      timeout: timeoutMs === null ? null : timeoutMs / 1000,
    },
    manifestDir,
    options.signal,
  );
  const plan = syncPlan(outcome, source, mode);
  const synced = outcome.synced;
  if (synced === null) {
    return {
      datasetId: plan.datasetId,
      datasetName: plan.datasetName,
      versionId: plan.baseVersionId,
      summary: plan.summary,
      plan,
      action: plan.action,
      dryRun: true,
    };
  }
  return {
    datasetId: String(synced.dataset.id),
    datasetName: String(synced.dataset.name),
    versionId: synced.versionId,
    summary: plan.summary,
    plan,
    action: plan.action,
    attempts: synced.attempts,
    concurrentWriter: synced.concurrentWriter,
    versions: synced.versions,
    dryRun: false,
  };
}
