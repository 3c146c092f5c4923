/**
 * The driver of the sync engine: the core's state machine (`rust/src/sync`, as `SyncMachine`
 * of the wasm module) decides every request of a sync and reads every answer — the same
 * engine as Python's `_engine/driver.py`. This file only does what the core cannot: it sends
 * each request through the `@arizeai/phoenix-client` client's own `GET`/`POST` (its base URL,
 * headers and middleware) within the request's timeout and the caller's signal, reads and
 * writes the manifest file, sleeps and warns. Nothing here logs or repeats request headers.
 */

import { rm } from "node:fs/promises";
import { join } from "node:path";

import * as native from "../wasm/phoenix_upsert_native.js";
import { call } from "./core.js";
import * as manifest from "./manifest.js";
import { hasIds, type Source } from "./source.js";

/** A warning of the sync's (retries, a state it could not trust), as Node warnings go. */
export function warn(message: string): void {
  process.emitWarning(message, { code: "PHOENIX_UPSERT" });
}

interface FetchResult {
  data?: unknown;
  error?: unknown;
  response: Response;
}

/** The part of an openapi-fetch client (`createClient()` of `@arizeai/phoenix-client`) used. */
export interface HttpClient {
  GET(path: string, init?: Record<string, unknown>): Promise<FetchResult>;
  POST(path: string, init?: Record<string, unknown>): Promise<FetchResult>;
  config?: { baseUrl?: unknown };
}

/** The settings of one sync, as the core's `Config` takes them. */
export interface SyncConfig {
  name: string | null;
  dataset_id: string | null;
  merge: boolean;
  dry_run: boolean;
  description: string | null;
  allow_empty: boolean;
  retries: number;
  /** Seconds per request, or `null`: in proportion to its payload. */
  timeout: number | null;
}

/** The plan as the core reports it: source indices by class, deleted examples by id. */
export interface CorePlan {
  datasetName: string;
  datasetId: string | null;
  baseVersionId: string | null;
  merge: boolean;
  action: "none" | "create" | "append" | "update";
  added: number[];
  updated: number[];
  splitChanges: number[];
  deleted: string[];
  unchanged: number;
}

/** How a sync ended: its plan and, unless a dry run, where it left the dataset. */
export interface Outcome {
  plan: CorePlan;
  synced: {
    dataset: Record<string, unknown>;
    versionId: string;
    attempts: number;
    concurrentWriter: boolean;
    /** The versions the sync made, oldest first (several for a write in parts). */
    versions: string[];
  } | null;
  serverVersion: number[] | null;
}

type Pairs = [string, string][];

interface HttpStep {
  kind: "http";
  method: "GET" | "POST";
  path: string;
  query: Pairs;
  headers: Pairs;
  timeout: number;
  connectTimeout: number;
  purpose: "read" | "export" | "upload";
  examples: number;
  what: string;
  /** What a progress bar of it would say. */
  label: string;
  body: { segments: (Uint8Array | number)[]; indices: number[] } | null;
}

type Step =
  | HttpStep
  | { kind: "loadManifest"; file: string }
  | { kind: "saveManifest"; file: string; data: Uint8Array | null }
  | { kind: "sleep"; seconds: number }
  | { kind: "log"; level: "debug" | "info" | "warning"; message: string }
  | { kind: "done"; outcome: Outcome };

/** A connection closed under a request: the kept-alive socket the server had closed. */
const STALE_CONNECTION = /other side closed|ECONNRESET|socket hang up|UND_ERR_SOCKET/;

/** The server version each client's server said it was (asked once a client). */
const KNOWN_VERSIONS = new WeakMap<HttpClient, number[]>();

/** Wait, or stop at once with the signal's reason when it aborts. */
export function sleep(seconds: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason as Error);
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason as Error);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, seconds * 1000);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/** The client's base URL without credentials, query or trailing slash (`""` if unknown). */
export function serverOf(client: HttpClient): string {
  const base = client.config?.baseUrl;
  if (typeof base !== "string" || base === "") return "";
  try {
    const url = new URL(base);
    return url.origin + url.pathname.replace(/\/+$/, "");
  } catch {
    return "";
  }
}

/**
 * What one request got: an answer (any status; `body` undefined: fed to the engine chunk by
 * chunk), or why none came.
 */
type Answer =
  | { status: number; headers: string[]; body: Uint8Array | undefined }
  | { stale: boolean; message: string };

const ANSWER_HEADERS = ["date", "retry-after", "content-type"];

function answer(response: Response, body: Uint8Array | undefined): Answer {
  const headers: string[] = [];
  for (const name of ANSWER_HEADERS) {
    const value = response.headers.get(name);
    if (value !== null) headers.push(name, value);
  }
  return { status: response.status, headers, body };
}

/** The bytes openapi-fetch made of an unsuccessful answer's body (parsed JSON or text). */
function errorBytes(error: unknown): Uint8Array {
  if (error === undefined || error === null) return new Uint8Array();
  const text = typeof error === "string" ? error : JSON.stringify(error);
  return new TextEncoder().encode(text);
}

/** The engine failed to take a chunk of an answer: its error, not the network's. */
class FeedFailure {
  constructor(readonly error: unknown) {}
}

/** The body of an upload: its bytes and the rows of the source's parts, joined. */
function uploadBody(step: HttpStep, source: Source): string | undefined {
  if (step.body === null) return undefined;
  const { segments, indices } = step.body;
  const decoder = new TextDecoder();
  return segments
    .map((s) => (typeof s === "number" ? source.parts(indices, s as 0 | 1 | 2) : decoder.decode(s)))
    .join("");
}

/** Send one step's request, bounded by its timeout and the caller's signal. */
async function send(
  http: HttpClient,
  step: HttpStep,
  source: Source,
  signal: AbortSignal | undefined,
  feed: (chunk: Uint8Array) => void,
): Promise<Answer> {
  signal?.throwIfAborted();
  const body = uploadBody(step, source);
  const controller = new AbortController();
  const onAbort = () => controller.abort(signal?.reason);
  signal?.addEventListener("abort", onAbort, { once: true });
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort();
  }, step.timeout * 1000);
  const init: Record<string, unknown> = {
    params: { query: Object.fromEntries(step.query) },
    // A successful answer's body is fed to the engine as it comes: a large one (the
    // examples of a big dataset) is then held once, in the engine, not here too.
    parseAs: "stream",
    signal: controller.signal,
    headers: Object.fromEntries(step.headers),
  };
  if (body !== undefined) {
    init.body = body;
    init.bodySerializer = (b: unknown) => b;
  }
  const path = `/${step.path}`;
  try {
    const result = step.method === "GET" ? await http.GET(path, init) : await http.POST(path, init);
    const response = result.response;
    if (!response.ok) return answer(response, errorBytes(result.error));
    const stream = result.data as ReadableStream<Uint8Array> | null | undefined;
    if (stream) {
      const reader = stream.getReader();
      for (;;) {
        const chunk = await reader.read();
        if (chunk.done) break;
        try {
          feed(chunk.value);
        } catch (e) {
          throw new FeedFailure(e);
        }
      }
    }
    return answer(response, undefined);
  } catch (e) {
    if (e instanceof FeedFailure) throw e.error;
    if (signal?.aborted) throw signal.reason;
    // The phoenix-client's own middleware throws an HttpError, with the response, for a
    // non-2xx answer: the answer all the same.
    const response = (e as { response?: unknown } | null)?.response;
    if (response instanceof Response && !response.ok) {
      let bytes = new Uint8Array();
      try {
        bytes = new Uint8Array(await response.arrayBuffer());
      } catch {
        // the body is gone: the status says enough
      }
      return answer(response, bytes);
    }
    if (timedOut) return { stale: false, message: `no answer within ${String(step.timeout)} s` };
    const cause = e instanceof Error && e.cause instanceof Error ? ` (${e.cause.message})` : "";
    const message = `${e instanceof Error ? e.message : String(e)}${cause}`;
    return { stale: STALE_CONNECTION.test(message), message };
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener("abort", onAbort);
  }
}

/**
 * Run one sync to its end: the core's outcome, or its typed error. `manifestDir`: the
 * directory of the manifests, or `null` for none.
 */
export async function runSync(
  http: HttpClient,
  source: Source,
  config: SyncConfig,
  manifestDir: string | null,
  signal: AbortSignal | undefined,
): Promise<Outcome> {
  // A client without a base URL (not phoenix-client's own) keeps no manifest: its file is
  // named after the server.
  const server = serverOf(http);
  const settings = {
    ...config,
    server: server || "the server",
    manifest: manifestDir !== null && server !== "",
    server_version: KNOWN_VERSIONS.get(http) ?? null,
    credentials: "set PHOENIX_API_KEY (or the client's headers)",
    source_name: source.name,
    allow_empty_option: "allowEmpty: true",
    seed: Math.floor(Math.random() * 2 ** 53),
  };
  const machine = call(
    () =>
      new native.SyncMachine(
        JSON.stringify(settings),
        JSON.stringify(source.ids),
        source.hashes.join(""),
        source.splits === null ? undefined : JSON.stringify(source.splits),
        source.lines === null ? undefined : Float64Array.from(source.lines),
        hasIds(source),
        source.spanIds === null ? undefined : JSON.stringify(source.spanIds),
      ),
  );
  try {
    for (;;) {
      signal?.throwIfAborted();
      const step = call(() => machine.poll() as Step);
      switch (step.kind) {
        case "http": {
          const got = await send(http, step, source, signal, (chunk) =>
            call(() => machine.feed(chunk)),
          );
          if ("status" in got) {
            call(() => machine.handleResponse(got.status, got.headers, got.body));
          } else {
            call(() => machine.handleTransport(got.stale, got.message));
          }
          break;
        }
        case "loadManifest": {
          const data =
            manifestDir === null ? null : await manifest.read(join(manifestDir, step.file));
          call(() => machine.handleManifest(data ?? undefined));
          break;
        }
        case "saveManifest":
          if (manifestDir !== null) {
            const path = join(manifestDir, step.file);
            if (step.data === null) await rm(path, { force: true }).catch(() => undefined);
            else await manifest.write(manifestDir, path, step.data);
          }
          break;
        case "sleep":
          await sleep(step.seconds, signal);
          break;
        case "log":
          if (step.level === "warning") warn(step.message);
          break;
        case "done":
          if (step.outcome.serverVersion !== null) {
            KNOWN_VERSIONS.set(http, step.outcome.serverVersion);
          }
          return step.outcome;
      }
    }
  } finally {
    try {
      machine.free();
    } catch {
      // the module was instantiated afresh after a trap: nothing left to free
    }
  }
}
