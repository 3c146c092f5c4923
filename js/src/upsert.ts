/**
 * `upsertDataset`: make a Phoenix dataset hold exactly the given examples, writing the least
 * — the sync engine of Python's `phoenix_upsert._engine.sync`, over the `@arizeai/phoenix-client`
 * client. The same plan, the same traffic, the same proof:
 *
 * 1. State: the dataset (by name or id), its latest versions and its examples, from Phoenix's
 *    JSONL export of the newest version, scanned by the core. (There is no local manifest as
 *    in Python: every sync reads the export.)
 * 2. Plan: `makePlan`, the core's diff plus the split changes.
 * 3. Write, in one request: nothing if nothing changed; `append` with the new and changed
 *    examples if nothing is deleted; `update` with the full snapshot if something is; `create`
 *    for a new dataset.
 * 4. Prove: the counts the server reports must be the plan's, and the newest version must be
 *    ours, right on the version the plan was made from (a source with splits: the dataset read
 *    back must plan empty). Otherwise read again and plan again (a mirror sync then writes the
 *    full snapshot), up to the retry budget, then `ConcurrentWriteError`.
 */

import { manifestRules } from "./core.js";
import { plan as planCore } from "./plan.js";
import {
  ConcurrentWriteError,
  EmptySourceError,
  InvalidInputError,
  InvalidSourceIdError,
  LoneSurrogateError,
  NullCharacterError,
  ServerError,
} from "./errors.js";
import type { PhoenixClient } from "@arizeai/phoenix-client";
import {
  RetryPolicy,
  Server,
  TransportError,
  describe,
  isRetryable,
  sleep,
  warn,
  type HttpClient,
  type Json,
} from "./server.js";
import { scanJsonl } from "./core.js";
import * as manifest from "./manifest.js";
import {
  hasIds,
  readSource,
  sourceLength,
  type ExamplesSource,
  type Source,
  type SourceIdKey,
} from "./source.js";

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
   * of a source without splits need not download the dataset while the server proves the
   * manifest current: `true` (default: `$PHOENIX_UPSERT_CACHE_DIR`, else
   * `~/.cache/phoenix-upsert`, shared with the Python client), a directory, or `false`.
   */
  manifest?: boolean | string;
}

interface ServerExamples {
  nodeIds: string[];
  externalIds: (string | null)[];
  hashes: string[];
  splits: string[][];
}

interface State {
  info: Json | null;
  versions: Json[];
  examples: ServerExamples;
  /** The examples came from the local manifest, not the server. */
  fromManifest?: boolean;
  /** The server's clock when it showed `examples` (set when they were downloaded). */
  readAt?: Date | null;
  /**
   * Why the examples read may not be what the dataset holds (`null`/absent: they are): the
   * export held another number of examples than the version has. A sync from such a state
   * writes the full source and proves it by the dataset's versions.
   */
  unknown?: string | null;
}

const EMPTY = (): ServerExamples => ({ nodeIds: [], externalIds: [], hashes: [], splits: [] });
/** Examples as the core's manifest rules take them, and back. */
const toColumns = (e: ServerExamples): manifest.ManifestExamples => ({
  node_ids: e.nodeIds,
  external_ids: e.externalIds,
  hashes: e.hashes,
  splits: e.splits,
});
const fromColumns = (c: manifest.ManifestExamples): ServerExamples => ({
  nodeIds: c.node_ids,
  externalIds: c.external_ids,
  hashes: c.hashes,
  splits: c.splits,
});
const datasetIdOf = (s: State): string | null => (s.info === null ? null : String(s.info.id));
const versionIdOf = (s: State): string | null =>
  s.versions[0] === undefined ? null : String(s.versions[0].version_id);

/** What the core's plan says beyond `SyncPlan` (see Python's `Planned`). */
interface Planned {
  /** Indices into the state's examples of the examples deleted. */
  deleted: number[];
  /** (source, previous) pairs the diff matched. */
  matched: [number, number][];
  /** The write carries every example of the source (a merge from an unknown state). */
  full: boolean;
}

/**
 * What it takes to make `state` hold `source` (pure: no I/O): the core's rule
 * (`rust/src/plan.rs`, shared with Python's engine), as a `SyncPlan`. `snapshot`: write any
 * change of a mirror as a full-snapshot update (after a conflict); a state whose read may not
 * be the server's (`state.unknown`) never plans "none".
 */
export function makePlan(
  source: Source,
  state: State,
  name: string,
  mode: Mode,
  snapshot = false,
): [SyncPlan, Planned] {
  const prev = state.examples;
  const p = planCore(
    toColumns(prev),
    {
      ids: source.ids.map((id) => id ?? null),
      hashes: source.hashes,
      splits: source.splits,
      lines: source.lines,
    },
    {
      merge: mode === "merge",
      exists: state.info !== null,
      snapshot,
      unknown: state.unknown != null,
    },
  );
  const ids = source.ids;
  const pick = (list: number[]) => list.map((i) => ids[i] ?? null);
  const plan: SyncPlan = {
    datasetName: name,
    datasetId: datasetIdOf(state),
    baseVersionId: versionIdOf(state),
    mode,
    action: p.action,
    added: pick(p.added),
    updated: pick(p.updated),
    splitChanges: pick(p.splitChanges),
    deleted: p.deleted.map((q) => prev.externalIds[q] ?? prev.nodeIds[q] ?? ""),
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
  return [plan, { deleted: p.deleted, matched: p.matched, full: p.full }];
}

/** Another writer wrote after this sync's write. */
const OVERTAKEN = "another writer wrote after this sync's write";
/** Writes a sync may make while other writers keep changing the dataset (at least `retries`). */
const CONFLICT_WRITES = 8;
/** How many of a dataset's latest versions a sync reads, and checks again after writing. */
const VERSION_WINDOW = 10;

/** The upload body, as Python's `Engine.body` builds it (the same keys, in the same order). */
export function uploadBody(
  plan: SyncPlan,
  source: Source,
  indices: readonly number[],
  description: string | null,
): string {
  const head: Record<string, string> = { action: plan.action, name: plan.datasetName };
  if (description !== null && plan.action === "create") head.description = description;
  const out: string[] = [JSON.stringify(head).slice(0, -1)];
  (["inputs", "outputs", "metadata"] as const).forEach((key, part) => {
    out.push(`,"${key}":[`);
    out.push(source.parts(indices, part as 0 | 1 | 2));
    out.push("]");
  });
  if (hasIds(source))
    out.push(`,"example_ids":${JSON.stringify(indices.map((i) => source.ids[i] ?? null))}`);
  if (source.splits !== null) {
    const splits = source.splits;
    out.push(`,"splits":${JSON.stringify(indices.map((i) => splits[i] ?? []))}`);
  }
  if (source.spanIds !== null) {
    const spans = source.spanIds;
    out.push(`,"span_ids":${JSON.stringify(indices.map((i) => spans[i] ?? null))}`);
  }
  out.push("}");
  return out.join("");
}

class Engine {
  constructor(
    readonly server: Server,
    readonly maxAttempts: number,
    readonly signal: AbortSignal | undefined,
    readonly manifestDir: string | null,
  ) {}

  async readState(
    name: string | null,
    datasetId: string | null,
    trustManifest = false,
  ): Promise<State> {
    const info =
      datasetId !== null
        ? await this.server.getDataset(datasetId)
        : await this.server.findDataset(name ?? "");
    if (info === null) return { info: null, versions: [], examples: EMPTY() };
    const versions = await this.server.versions(String(info.id), VERSION_WINDOW);
    const newest = versions[0];
    if (newest === undefined) return { info, versions, examples: EMPTY() };
    if (trustManifest && this.manifestDir !== null && this.server.baseUrl !== null) {
      const cached = await manifest.load(this.manifestDir, this.fingerprint(info, versions));
      if (cached !== null) {
        return { info, versions, examples: fromColumns(cached), fromManifest: true };
      }
    }
    const examples = await this.download(info, newest);
    const readAt = this.server.clock;
    const unknown = await this.doubt(info, String(newest.version_id), examples);
    return { info, versions, examples, readAt, unknown };
  }

  /**
   * Why the export just read may not hold the version's examples (`null`: it does). The
   * dataset's `example_count` is the first witness; it is not exact (PostgreSQL's interleaving
   * writers can leave it off for good), so a disagreement is settled by the version's examples
   * as JSON (a document cut short does not parse): the export must hold as many.
   */
  async doubt(info: Json, versionId: string, examples: ServerExamples): Promise<string | null> {
    const count = Number(info.example_count ?? 0) || 0;
    const have = examples.hashes.length;
    if (have === count) return null;
    const listed = await this.server.examples(String(info.id), versionId, Math.max(count, have));
    if (listed.length === have) return null;
    return `the export of version ${versionId} holds ${String(have)} examples, the version's examples are ${String(listed.length)} and the dataset counts ${String(count)}`;
  }

  /** What the server says of the dataset's state, as the core's manifest rules take it. */
  fingerprint(info: Json, versions: Json[]): manifest.Fingerprint {
    // Python's str() of the same fields, so that both SDKs share manifests.
    const text = (v: unknown) => (v === undefined || v === null ? "None" : String(v));
    const [newest, previous] = versions;
    return {
      server: this.server.baseUrl ?? "", // a manifest is only used with one known
      dataset_id: String(info.id),
      dataset_created_at: text(info.created_at),
      version_id: String(newest?.version_id),
      version_created_at: text(newest?.created_at),
      previous_version_id: previous === undefined ? null : String(previous.version_id),
      previous_version_created_at: previous === undefined ? null : text(previous.created_at),
      version_ids: versions.slice(0, VERSION_WINDOW).map((v) => String(v.version_id)),
      example_count: Number(info.example_count ?? 0) || 0,
    };
  }

  async download(info: Json, version: Json): Promise<ServerExamples> {
    const count = Number(info.example_count ?? 0) || 0;
    const data = await this.server.exportJsonl(String(info.id), String(version.version_id), count);
    let scan;
    try {
      scan = scanJsonl(data, { idKey: "id", nodeIdKey: "node_id", splitsKey: "splits" });
    } catch (e) {
      if (e instanceof InvalidInputError) {
        throw new ServerError(
          `reading dataset ${JSON.stringify(info.name)}: the server's export is not Phoenix JSONL (${e.message}); is this a Phoenix server?`,
        );
      }
      throw e;
    }
    return {
      nodeIds: (scan.nodeIds ?? []).map((n) => n ?? ""),
      externalIds: scan.externalIds ?? [],
      hashes: scan.hashes,
      splits: (scan.splits ?? []).map((s) => s ?? []),
    };
  }

  async write(
    plan: SyncPlan,
    source: Source,
    description: string | null,
    full = false,
  ): Promise<Json> {
    const indices =
      full || plan.action === "create" || plan.action === "update"
        ? source.hashes.map((_, i) => i)
        : [...plan.addedIndices, ...plan.updatedIndices, ...plan.splitChangeIndices].sort(
            (a, b) => a - b,
          );
    const body = uploadBody(plan, source, indices, description);
    return this.server.upload(body, indices.length, sourceLength(source));
  }

  /** `counts = false`: only where the write went (a plan made from a read that was not the
   * server's state cannot predict what the server changed). */
  checkCounts(plan: SyncPlan, result: Json, counts = true): string | null {
    const s = plan.summary;
    const num = (k: string) => {
      const v = Number(result[k] ?? -1);
      return Number.isFinite(v) ? v : -1;
    };
    const got = [
      num("num_created_examples"),
      num("num_updated_examples"),
      num("num_deleted_examples"),
    ];
    const expected = [s.added, s.updated, s.deleted];
    if (counts && got.some((g, i) => g !== expected[i])) {
      return `the server reports ${String(got[0])} created, ${String(got[1])} updated, ${String(got[2])} deleted; the plan had ${String(expected[0])}, ${String(expected[1])}, ${String(expected[2])}`;
    }
    if (plan.datasetId !== null && result.dataset_id !== plan.datasetId) {
      return `the upload went to dataset ${JSON.stringify(result.dataset_id)}`;
    }
    return null;
  }

  async checkVersions(
    plan: SyncPlan,
    result: Json,
    state: State,
    datasetId: string,
  ): Promise<[string | null, Json[]]> {
    const ours = result.version_id;
    const versions = await this.server.versions(datasetId, VERSION_WINDOW + 1);
    const ids = versions.map((v) => v.version_id);
    const before = state.versions.map((v) => v.version_id);
    const zero = (k: string) => Number(result[k] ?? -1) === 0;
    if (
      zero("num_created_examples") &&
      zero("num_updated_examples") &&
      zero("num_deleted_examples")
    ) {
      // The server found nothing to change (a full write from a state that was not known) and
      // made no version; it then names its latest version by creation time, which ties within
      // a second on SQLite. The versions must be exactly those read.
      const k = Math.min(ids.length, before.length);
      const same = ids.slice(0, k).every((id, i) => id === before[i]);
      return [
        ids.length > 0 && same ? null : "another writer wrote while this sync wrote",
        versions,
      ];
    }
    if (ids.length === 0 || ids[0] !== ours) return [OVERTAKEN, versions];
    const below = ids.slice(1);
    if ((below[0] ?? null) !== plan.baseVersionId) {
      return ["another version was written between reading the dataset and writing it", versions];
    }
    const k = Math.min(below.length, before.length);
    for (let i = 0; i < k; i++) {
      if (below[i] !== before[i]) {
        return ["another writer's version appeared below the one the plan was made from", versions];
      }
    }
    return [null, versions];
  }

  /** The state after the write, or why the write is not proven. */
  async prove(
    plan: SyncPlan,
    result: Json,
    state: State,
    source: Source,
    mode: Mode,
    planned: Planned,
  ): Promise<State | string> {
    const unknown = state.unknown ?? null;
    const problem = this.checkCounts(plan, result, unknown === null);
    if (problem !== null) return problem;
    const datasetId = String(result.dataset_id ?? datasetIdOf(state));
    if (source.splits !== null) {
      const back = await this.readState(null, datasetId);
      if (back.unknown != null) return `the dataset read back is not known: ${back.unknown}`;
      const [again] = makePlan(source, back, plan.datasetName, mode);
      if (again.action !== "none") return "the dataset read back differs from the source";
      return back;
    }
    const [bad, versions] = await this.checkVersions(plan, result, state, datasetId);
    if (bad !== null) return bad;
    const provenAt = this.server.clock;
    const info = await this.server.getDataset(datasetId);
    const after = manifestRules.afterWrite(
      toColumns(state.examples),
      { ids: source.ids, hashes: source.hashes, splits: source.splits },
      planned.matched,
      mode === "merge",
    );
    const examples = fromColumns(after);
    // Proven by the versions, but planned from a read that was not the server's state: what
    // the dataset holds is the source, not a manifest to keep (no readAt: none is saved).
    if (unknown !== null) return { info, versions, examples };
    return { info, versions, examples, readAt: provenAt };
  }

  giveUp(problem: unknown, writes: number): unknown {
    if (problem instanceof ConcurrentWriteError) {
      return new ConcurrentWriteError(
        `${problem.message} — gave up after ${String(writes)} writes; the dataset may hold another writer's content: run the sync again`,
      );
    }
    if (problem instanceof ServerError) {
      problem.exhausted = true;
      return problem;
    }
    const message = problem instanceof Error ? problem.message : String(problem);
    return new ServerError(`sync failed after ${String(writes)} attempts: ${message}`);
  }

  /**
   * The result at the state's version; first the manifest of that state is saved, if the
   * examples were read from the server (and the core's rules say it may be).
   */
  async finish(
    plan: SyncPlan,
    state: State,
    attempts: number,
    concurrent: boolean,
  ): Promise<UpsertResult> {
    const info = state.info ?? {};
    if (
      this.manifestDir !== null &&
      this.server.baseUrl !== null &&
      state.info !== null &&
      state.versions.length > 0 &&
      state.readAt !== undefined &&
      state.fromManifest !== true &&
      state.examples.hashes.length === (Number(info.example_count ?? 0) || 0)
    ) {
      await manifest.save(
        this.manifestDir,
        this.fingerprint(state.info, state.versions),
        toColumns(state.examples),
        state.readAt,
      );
    }
    return {
      datasetId: String(info.id),
      datasetName: String(info.name),
      versionId: versionIdOf(state) ?? "",
      summary: plan.summary,
      plan,
      action: plan.action,
      attempts: Math.max(attempts, 1),
      concurrentWriter: concurrent,
      dryRun: false,
    };
  }

  /** Read, plan, write, prove; again after a failure or another writer's change. */
  async run(
    source: Source,
    name: string | null,
    datasetId: string | null,
    mode: Mode,
    dryRun: boolean,
    description: string | null,
  ): Promise<UpsertResult | DryRunResult> {
    let state: State | null = null;
    let wrote: SyncPlan | null = null;
    let writes = 0;
    let concurrent = false;
    let problem: unknown = null;
    // A manifest proves content, not split assignments (Phoenix does not version them); and a
    // second read is after a failure: then ask the server.
    let trustManifest = source.splits === null;
    for (;;) {
      try {
        if (state === null) {
          state = await this.readState(name, datasetId, trustManifest);
          trustManifest = false;
        }
        const datasetName = state.info !== null ? String(state.info.name) : (name ?? "");
        let plan: SyncPlan;
        let planned: Planned;
        try {
          [plan, planned] = makePlan(source, state, datasetName, mode, problem !== null);
        } catch (e) {
          // A manifest written after this client's own write does not know the node ids of
          // the examples it created; a source naming one by its node id needs the server's.
          if (e instanceof InvalidSourceIdError && state.fromManifest === true) {
            if (state.examples.nodeIds.includes("")) {
              state = null;
              continue;
            }
          }
          throw e;
        }
        if (dryRun) {
          return {
            datasetId: plan.datasetId,
            datasetName,
            versionId: plan.baseVersionId,
            summary: plan.summary,
            plan,
            action: plan.action,
            dryRun: true,
          };
        }
        if (plan.action === "none") {
          return await this.finish(wrote ?? plan, state, writes, concurrent);
        }
        const conflict = problem instanceof ConcurrentWriteError;
        if (writes >= (conflict ? Math.max(this.maxAttempts, CONFLICT_WRITES) : this.maxAttempts)) {
          throw this.giveUp(problem, writes);
        }
        writes += 1;
        wrote = plan;
        if (state.unknown != null) {
          warn(
            `dataset ${JSON.stringify(datasetName)}: ${state.unknown}; writing the whole source (${String(sourceLength(source))} examples) instead of trusting that read`,
          );
        }
        const result = await this.write(plan, source, description, planned.full);
        const proven = await this.prove(plan, result, state, source, mode, planned);
        if (typeof proven !== "string") return await this.finish(plan, proven, writes, concurrent);
        concurrent = true;
        problem = new ConcurrentWriteError(
          `dataset ${JSON.stringify(datasetName)} changed while syncing: ${proven}`,
        );
        const delay = this.server.retry.delay(writes - 1, null, "full");
        warn(
          `${(problem as Error).message}; reading it again and planning again in ${delay.toFixed(1)} s (write ${String(writes)} of at most ${String(this.maxAttempts)})`,
        );
        await sleep(delay, this.signal);
        state = null;
      } catch (e) {
        if (!(e instanceof TransportError || e instanceof ServerError)) throw e;
        if (e instanceof ServerError && e.exhausted) throw e;
        const status = e instanceof ServerError ? e.statusCode : null;
        if (wrote !== null && wrote.action === "create" && (status === 409 || status === 500)) {
          // Another writer created the dataset first (PostgreSQL answers 500 for the
          // unique-name violation): sync into theirs. Nothing of this write landed.
          wrote = null;
          concurrent = true;
        } else if (!isRetryable(e)) {
          throw e;
        } else {
          const retryAfter = e instanceof ServerError ? e.retryAfter : null;
          const delay = this.server.retry.delay(writes - 1, retryAfter);
          warn(
            `sync of ${JSON.stringify(name ?? datasetId)} failed (${describe(e)}); reading the dataset again and planning again in ${delay.toFixed(1)} s`,
          );
          await sleep(delay, this.signal);
        }
        problem = e;
        state = null;
      }
    }
  }
}

/**
 * Refuse, before anything is sent, a name, id or description no server stores as given: one
 * holding U+0000 (PostgreSQL cannot store it; Phoenix answers HTTP 500) or a lone surrogate
 * (not Unicode text).
 */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

function checkText(values: Record<string, unknown>): void {
  for (const [what, value] of Object.entries(values)) {
    if (typeof value !== "string") continue;
    if (value.includes("\u0000")) {
      throw new NullCharacterError(
        `${what} ${JSON.stringify(value)} contains U+0000 (NUL), which Phoenix cannot store; nothing was sent`,
      );
    }
    if (LONE_SURROGATE.test(value)) {
      throw new LoneSurrogateError(
        `${what} ${JSON.stringify(value)} contains a lone surrogate: not valid Unicode text; nothing was sent`,
      );
    }
  }
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
  if (hasName && (typeof sel.datasetName !== "string" || !sel.datasetName.trim())) {
    throw new TypeError("dataset.datasetName must be a non-empty name");
  }
  if (hasId && (typeof sel.datasetId !== "string" || !sel.datasetId)) {
    throw new TypeError("dataset.datasetId must be a non-empty id");
  }
  checkText({
    "dataset name": sel.datasetName,
    "dataset id": sel.datasetId,
    datasetDescription: options.datasetDescription,
  });
  const mode = options.mode ?? "mirror";
  if (mode !== "mirror" && mode !== "merge") {
    throw new RangeError(`mode must be "mirror" or "merge", not ${JSON.stringify(mode)}`);
  }
  const retries = options.retries ?? 4;
  if (!Number.isInteger(retries) || retries < 1)
    throw new RangeError("retries must be an integer of at least 1");
  const timeoutMs = options.timeoutMs ?? null;
  if (timeoutMs !== null && !(typeof timeoutMs === "number" && timeoutMs > 0)) {
    throw new RangeError("timeoutMs must be a positive number of milliseconds");
  }
  const source = await readSource(examples, {
    sourceIdKey: options.sourceIdKey,
    splitsKey: options.splitsKey === undefined ? "splits" : options.splitsKey,
    spanIdKey: options.spanIdKey,
  });
  if (sourceLength(source) === 0 && mode === "mirror" && !options.allowEmpty) {
    throw new EmptySourceError(
      `${source.name}: the source has no examples; a mirror sync would delete every example of the dataset (pass allowEmpty: true if that is what you want)`,
    );
  }
  options.signal?.throwIfAborted();
  const server = new Server(
    http as HttpClient,
    new RetryPolicy(retries),
    timeoutMs,
    options.signal,
  );
  const keep = options.manifest ?? true;
  if (typeof keep !== "boolean" && (typeof keep !== "string" || keep === "")) {
    throw new TypeError("manifest must be true, false or the path of a directory");
  }
  const manifestDir = keep === true ? manifest.defaultDirectory() : keep === false ? null : keep;
  await server.requireVersion();
  const engine = new Engine(server, retries, options.signal, manifestDir);
  return engine.run(
    source,
    hasName ? (sel.datasetName as string) : null,
    hasId ? (sel.datasetId as string) : null,
    mode,
    options.dryRun ?? false,
    options.datasetDescription ?? null,
  );
}
