/**
 * The few Phoenix REST calls a sync needs, over the `@arizeai/phoenix-client` client's own
 * `GET`/`POST` (its base URL, headers and middleware), with timeouts sized to the payload,
 * retries and typed errors — as Python's `_engine/server.py`.
 *
 * Reads are retried with backoff on connection errors, timeouts, 429 and 5xx. The upload is
 * never repeated blindly: the engine reads the server's state again and plans again instead,
 * so that a write whose answer was lost is not applied twice. Nothing here logs or repeats
 * request headers.
 */

import {
  AuthenticationError,
  DatasetNotFoundError,
  ServerError,
  ServerTooOldError,
} from "./errors.js";

/** A connection closed under a request: the kept-alive socket the server had closed. */
const STALE_CONNECTION = /other side closed|ECONNRESET|socket hang up|UND_ERR_SOCKET/;

/** A warning of the sync's (retries, a state it could not trust), as Node warnings go. */
export function warn(message: string): void {
  process.emitWarning(message, { code: "PHOENIX_UPSERT" });
}

/** A JSON object of the server's. */
export type Json = Record<string, unknown>;

interface FetchResult {
  data?: unknown;
  error?: unknown;
  response: Response;
}

/** The part of an openapi-fetch client (`createClient()` of `@arizeai/phoenix-client`) used. */
export interface HttpClient {
  GET(path: string, init?: Record<string, unknown>): Promise<FetchResult>;
  POST(path: string, init?: Record<string, unknown>): Promise<FetchResult>;
}

/** A request that got no answer (connection trouble, a timeout): worth another try later. */
export class TransportError extends Error {
  override name = "TransportError";
}

/** How often and how patiently to retry what is safe to retry. */
export class RetryPolicy {
  constructor(
    readonly attempts = 5,
    readonly backoff = 0.5,
    readonly maxBackoff = 15.0,
  ) {}

  /** Seconds to wait before try `attempt + 1` (jitter "full" for contending writers). */
  delay(
    attempt: number,
    retryAfter: number | null = null,
    jitter: "half" | "full" = "half",
  ): number {
    if (retryAfter !== null) return Math.min(Math.max(retryAfter, 0), 60);
    const base = Math.min(this.maxBackoff, this.backoff * 2 ** attempt);
    return jitter === "full" ? base * Math.random() : base * (0.5 + Math.random() / 2);
  }
}

/** Connection trouble, timeouts, 429 and 5xx: worth another try later. */
export function isRetryable(e: unknown): boolean {
  if (e instanceof TransportError) return true;
  if (
    e instanceof ServerError &&
    !(e instanceof AuthenticationError || e instanceof ServerTooOldError)
  ) {
    return e.statusCode !== null && (e.statusCode === 429 || e.statusCode >= 500);
  }
  return false;
}

export function describe(e: unknown): string {
  if (e instanceof ServerError)
    return e.statusCode !== null ? `HTTP ${String(e.statusCode)}` : e.message;
  if (e instanceof Error) return e.message ? `${e.name}: ${e.message}` : e.name;
  return String(e);
}

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

function detailOf(error: unknown): string {
  if (typeof error === "string") return error.trim().slice(0, 2000);
  if (error !== null && typeof error === "object" && "detail" in error) {
    const d = (error as { detail: unknown }).detail;
    return (typeof d === "string" ? d : JSON.stringify(d)).slice(0, 2000);
  }
  return error === undefined ? "" : JSON.stringify(error).slice(0, 2000);
}

/** A typed error for an unsuccessful response. */
function failure(response: Response, error: unknown, what: string): ServerError {
  const status = response.status;
  const detail = detailOf(error);
  let err: ServerError;
  if (status === 401 || status === 403) {
    // The server's own reason stays in the message (a viewer's key: "Viewers cannot perform
    // this action."), beside what to do about it.
    const reason = detail ? `: ${detail}` : "";
    const message =
      status === 403
        ? `${what}: the server refused the request (HTTP 403${reason}); the credentials are not allowed to do this: set PHOENIX_API_KEY (or the client's headers) to a key that is, e.g. a member's or an admin's for a write`
        : `${what}: the server refused the credentials (HTTP ${String(status)}${reason}); set PHOENIX_API_KEY or the client's headers`;
    err = new AuthenticationError(message, { statusCode: status, detail });
  } else if (
    status === 422 &&
    (detail.includes("Invalid dateset action") || detail.includes("Invalid dataset action"))
  ) {
    err = new ServerTooOldError(
      `${what}: this Phoenix server does not support declarative dataset updates; phoenix-upsert needs Phoenix >= 15.0.0`,
      { statusCode: status, detail },
    );
  } else {
    err = new ServerError(`${what}: HTTP ${String(status)}${detail ? `: ${detail}` : ""}`, {
      statusCode: status,
      detail,
    });
  }
  if (status === 429) {
    const after = Number.parseFloat(response.headers.get("retry-after") ?? "");
    if (Number.isFinite(after)) err.retryAfter = after;
  }
  return err;
}

function dataOf(body: Json, what: string): unknown {
  if (!("data" in body)) {
    throw new ServerError(`${what}: the answer has no 'data' (is this a Phoenix server?)`);
  }
  return body.data;
}

/**
 * Headers of every read: the answer must come from Phoenix, not from a cache in between (a
 * shared cache that served an old export or versions list would make a sync prove a state the
 * server no longer holds).
 */
const READ_HEADERS = {
  accept: "application/json",
  "cache-control": "no-cache",
  pragma: "no-cache",
};

/** `[type name, row id]` of a Phoenix GlobalID (`Type:<n>` in base64), or `null`. */
export function globalId(text: unknown): [string, number] | null {
  const raw = String(text).trim();
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(raw)) return null;
  let decoded: string;
  try {
    decoded = atob(raw + "=".repeat((4 - (raw.length % 4)) % 4));
  } catch {
    return null;
  }
  const at = decoded.indexOf(":");
  const n = Number(decoded.slice(at + 1));
  return at > 0 && Number.isSafeInteger(n) ? [decoded.slice(0, at), n] : null;
}

/** The row id behind a version's id, or -1: what Phoenix orders versions by. */
function versionNumber(version: Json): number {
  const id = globalId(version.version_id);
  return id !== null && id[0] === "DatasetVersion" ? id[1] : -1;
}

interface Call {
  method: "GET" | "POST";
  path: string;
  what: string;
  pathId?: string;
  query?: Record<string, string | number | boolean>;
  parseAs: "text" | "arrayBuffer";
  /** Default seconds (the caller's `timeoutMs` wins). */
  seconds: number;
  body?: string;
}

/** The server version each client's server said it was (asked once a client). */
const KNOWN_VERSIONS = new WeakMap<HttpClient, number[] | null>();

/** Phoenix's dataset endpoints over the client's own `GET`/`POST`. */
export class Server {
  /** The server's clock (`Date` header) at its latest successful answer. */
  clock: Date | null = null;
  /** The server's base URL (before `/v1/`), as its answers show it. */
  baseUrl: string | null = null;

  constructor(
    readonly http: HttpClient,
    readonly retry: RetryPolicy,
    readonly timeoutMs: number | null,
    readonly signal: AbortSignal | undefined,
  ) {}

  /** One request, bounded by its timeout and the caller's signal; a typed error for a non-2xx. */
  async send(call: Call): Promise<{ data: unknown; response: Response }> {
    const ms = this.timeoutMs ?? call.seconds * 1000;
    const controller = new AbortController();
    const signal = this.signal;
    signal?.throwIfAborted();
    const onAbort = () => controller.abort(signal?.reason);
    signal?.addEventListener("abort", onAbort, { once: true });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      controller.abort();
    }, ms);
    const init: Record<string, unknown> = {
      params: {
        ...(call.pathId !== undefined ? { path: { id: call.pathId } } : {}),
        ...(call.query !== undefined ? { query: call.query } : {}),
      },
      parseAs: call.parseAs,
      signal: controller.signal,
      headers: call.method === "GET" ? READ_HEADERS : { accept: "application/json" },
    };
    if (call.body !== undefined) {
      init.body = call.body;
      init.bodySerializer = (b: unknown) => b;
      init.headers = { accept: "application/json", "content-type": "application/json" };
    }
    let result: FetchResult;
    try {
      result =
        call.method === "GET"
          ? await this.http.GET(call.path, init)
          : await this.http.POST(call.path, init);
    } catch (e) {
      if (signal?.aborted) throw signal.reason;
      // The phoenix-client's own middleware throws an HttpError, with the response, for a
      // non-2xx answer: the same typed error as for one returned.
      const response = (e as { response?: unknown } | null)?.response;
      if (response instanceof Response && !response.ok) {
        let error: unknown;
        try {
          const text = await response.text();
          try {
            error = JSON.parse(text) as unknown;
          } catch {
            error = text;
          }
        } catch {
          error = undefined;
        }
        throw failure(response, error, call.what);
      }
      if (timedOut) {
        throw new TransportError(`${call.what}: no answer within ${String(ms / 1000)} s`);
      }
      const cause = e instanceof Error && e.cause instanceof Error ? ` (${e.cause.message})` : "";
      throw new TransportError(
        `${call.what}: ${e instanceof Error ? e.message : String(e)}${cause}`,
      );
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
    }
    if (!result.response.ok) throw failure(result.response, result.error, call.what);
    this.observe(result.response);
    return { data: result.data, response: result.response };
  }

  /** Note the server's clock and base URL from a successful answer. */
  private observe(response: Response): void {
    const date = Date.parse(response.headers.get("date") ?? "");
    if (Number.isFinite(date)) this.clock = new Date(date);
    try {
      const url = new URL(response.url);
      const at = url.pathname.indexOf("/v1/");
      this.baseUrl = url.origin + (at >= 0 ? url.pathname.slice(0, at) : "");
    } catch {
      // A response without a URL (a test double): keep what was known.
    }
  }

  /** A JSON object answer (a web page answering 200 is not Phoenix's REST API). */
  async json(call: Omit<Call, "parseAs">): Promise<Json> {
    const { data, response } = await this.send({ ...call, parseAs: "text" });
    let body: unknown;
    try {
      body = JSON.parse(typeof data === "string" ? data : "");
    } catch {
      body = undefined;
    }
    if (body === null || typeof body !== "object" || Array.isArray(body)) {
      const kind = (response.headers.get("content-type") ?? "no content type").split(";")[0];
      throw new ServerError(
        `${call.what}: the server is not a Phoenix REST API: ${new URL(response.url || "http://x/").pathname} answered HTTP ${String(response.status)} with ${String(kind)} instead of a JSON object (give the client the server's base URL, e.g. http://localhost:6006, without /v1)`,
        { statusCode: response.status },
      );
    }
    return body as Json;
  }

  /** Run a repeatable call, retrying what is worth retrying. */
  async withRetries<T>(what: string, call: () => Promise<T>): Promise<T> {
    let attempt = 0;
    let staleRetried = false;
    for (;;) {
      try {
        return await call();
      } catch (e) {
        if (!(e instanceof TransportError || e instanceof ServerError)) throw e;
        if (e instanceof TransportError && STALE_CONNECTION.test(e.message) && !staleRetried) {
          // A kept-alive connection the server closed meanwhile (Phoenix does after a 500):
          // repeat the read at once, on a new connection, without a warning.
          staleRetried = true;
          continue;
        }
        attempt += 1;
        if (!isRetryable(e) || attempt >= this.retry.attempts) {
          if (e instanceof ServerError) {
            e.exhausted = true;
            throw e;
          }
          const err = new ServerError(e.message);
          err.exhausted = true;
          throw err;
        }
        const retryAfter = e instanceof ServerError ? e.retryAfter : null;
        const delay = this.retry.delay(attempt - 1, retryAfter);
        warn(`${what} failed (${describe(e)}); retrying in ${delay.toFixed(1)} s`);
        await sleep(delay, this.signal);
      }
    }
  }

  getJson(call: Omit<Call, "parseAs" | "method">): Promise<Json> {
    return this.withRetries(call.what, () => this.json({ ...call, method: "GET" }));
  }

  async findDataset(name: string): Promise<Json | null> {
    const what = `looking up dataset ${JSON.stringify(name)}`;
    const body = await this.getJson({ path: "/v1/datasets", what, query: { name }, seconds: 30 });
    const list = dataOf(body, what);
    const match = Array.isArray(list)
      ? (list as Json[]).find((d) => d !== null && typeof d === "object" && d.name === name)
      : undefined;
    return match ?? null;
  }

  async getDataset(datasetId: string): Promise<Json> {
    const info = await this.readDataset(datasetId);
    const same = (a: [string, number] | null, b: [string, number] | null) =>
      a !== null && b !== null && a[0] === b[0] && a[1] === b[1];
    if (String(info.id) !== datasetId && !same(globalId(info.id), globalId(datasetId))) {
      // A proxy or cache answering for another dataset: writing on would overwrite it.
      throw new ServerError(
        `reading the dataset: asked for dataset ${JSON.stringify(datasetId)}, the server answered with dataset ${JSON.stringify(info.id)} (${JSON.stringify(info.name)}); is a cache or proxy in front of Phoenix answering for the wrong URL?`,
      );
    }
    return info;
  }

  private async readDataset(datasetId: string): Promise<Json> {
    const what = "reading the dataset";
    try {
      return await this.withRetries(what, async () => {
        try {
          const body = await this.json({
            method: "GET",
            path: "/v1/datasets/{id}",
            pathId: datasetId,
            what,
            seconds: 30,
          });
          return dataOf(body, what) as Json;
        } catch (e) {
          if (e instanceof ServerError && e.statusCode === 500) {
            // Phoenix answers 500 for a dataset that never had examples; its list has it.
            const listed = await this.findListed(datasetId);
            if (listed !== null) return listed;
          }
          throw e;
        }
      });
    } catch (e) {
      if (e instanceof ServerError && (e.statusCode === 404 || e.statusCode === 422)) {
        throw new DatasetNotFoundError(`no dataset with id ${JSON.stringify(datasetId)}`, {
          statusCode: e.statusCode,
          detail: e.detail,
        });
      }
      throw e;
    }
  }

  /** The dataset with this id from the list of all datasets (page by page). */
  private async findListed(datasetId: string): Promise<Json | null> {
    let cursor: string | null = null;
    for (;;) {
      const query: Record<string, string | number> = { limit: 100 };
      if (cursor) query.cursor = cursor;
      const body = await this.getJson({
        path: "/v1/datasets",
        what: "listing datasets",
        query,
        seconds: 30,
      });
      const list = dataOf(body, "listing datasets");
      for (const d of Array.isArray(list) ? (list as Json[]) : []) {
        if (d.id === datasetId) return d;
      }
      cursor = typeof body.next_cursor === "string" ? body.next_cursor : null;
      if (!cursor) return null;
    }
  }

  async versions(datasetId: string, limit: number): Promise<Json[]> {
    const what = "listing dataset versions";
    const body = await this.getJson({
      path: "/v1/datasets/{id}/versions",
      pathId: datasetId,
      what,
      query: { limit },
      seconds: 30,
    });
    const list = dataOf(body, what);
    // Newest first, as Phoenix lists them (by row id): never trust the order an intermediary
    // passed on.
    return (Array.isArray(list) ? (list as Json[]) : []).sort(
      (a, b) => versionNumber(b) - versionNumber(a),
    );
  }

  /** The version's examples as JSON (a document cut short does not parse). */
  async examples(
    datasetId: string,
    versionId: string,
    expectedExamples: number,
  ): Promise<unknown[]> {
    const what = "reading the dataset's examples";
    const body = await this.getJson({
      path: "/v1/datasets/{id}/examples",
      pathId: datasetId,
      what,
      query: { version_id: versionId },
      seconds: 60 + 0.005 * expectedExamples,
    });
    const data = dataOf(body, what) as Json | null;
    const list = data !== null && typeof data === "object" ? data.examples : undefined;
    if (!Array.isArray(list)) throw new ServerError(`${what}: the answer has no examples`);
    return list as unknown[];
  }

  /** The server's version (`[major, minor, patch]`), or `null` if it does not say. */
  async serverVersion(): Promise<number[] | null> {
    const what = "reading the server version";
    let text = "";
    try {
      const { data } = await this.withRetries(what, () =>
        this.send({
          method: "GET",
          path: "/arize_phoenix_version",
          what,
          parseAs: "text",
          seconds: 30,
        }),
      );
      text = typeof data === "string" ? data.trim() : "";
    } catch (e) {
      if (!(e instanceof ServerError && e.statusCode === 404)) throw e;
    }
    const parts: number[] = [];
    for (const piece of text.split(".").slice(0, 3)) {
      const digits = piece.replace(/\D/g, "");
      if (!digits) break;
      parts.push(Number(digits));
    }
    return parts.length > 0 ? parts : null;
  }

  /** Refuse a server older than Phoenix 15 before anything is written (asked once a client). */
  async requireVersion(): Promise<void> {
    let v = KNOWN_VERSIONS.get(this.http);
    if (v === undefined) {
      v = await this.serverVersion();
      KNOWN_VERSIONS.set(this.http, v);
    }
    if (v === null || v.length < 2) return;
    const [major = 0, minor = 0, patch = 0] = v;
    if (major < 15) {
      throw new ServerTooOldError(
        `Phoenix server ${[major, minor, patch].slice(0, v.length).join(".")} is too old: phoenix-upsert needs Phoenix >= 15.0.0 (dataset example ids and declarative updates)`,
      );
    }
  }

  /** The examples of one version as Phoenix's JSONL export (ids, node ids, splits). */
  exportJsonl(datasetId: string, versionId: string, expectedExamples: number): Promise<Uint8Array> {
    const what = "downloading the dataset";
    return this.withRetries(what, async () => {
      const { data } = await this.send({
        method: "GET",
        path: "/v1/datasets/{id}/jsonl",
        pathId: datasetId,
        query: { version_id: versionId },
        what,
        parseAs: "arrayBuffer",
        seconds: 60 + 0.005 * expectedExamples,
      });
      return data instanceof ArrayBuffer ? new Uint8Array(data) : new Uint8Array();
    });
  }

  /** POST one upload (never retried here). */
  async upload(body: string, examples: number, snapshot: number): Promise<Json> {
    // Phoenix inserts about 2 ms per example on SQLite and hashes every example of the
    // snapshot: give the request time in proportion.
    const what = "uploading examples";
    const answer = await this.json({
      method: "POST",
      path: "/v1/datasets/upload",
      query: { sync: true },
      what,
      body,
      seconds: 60 + 0.02 * examples + 0.002 * snapshot,
    });
    const data = dataOf(answer, what);
    if (data === null || typeof data !== "object" || Array.isArray(data)) {
      throw new ServerError(`${what}: the answer's 'data' is not the upload's report`);
    }
    return data as Json;
  }
}
