/**
 * The Rust core of phoenix-upsert, compiled to WebAssembly: canonical JSON (RFC 8785),
 * Phoenix's content hashes, the example schema, JSONL scans and the keyed diff — the same code
 * as Python's `phoenix_upsert._native`, so both SDKs hash and plan byte for byte alike.
 *
 * The module is instantiated synchronously when this file is imported (from the bytes of the
 * `.wasm` beside the glue). Errors are the typed errors of `./errors.js`; a panic of the core
 * (a bug) is an `InternalError` with the panic's message, and the module is instantiated
 * afresh after it.
 */

import * as crypto from "node:crypto";
import { readFileSync } from "node:fs";

import * as native from "../wasm/phoenix_upsert_native.js";
import { fromNative, InternalError, LoneSurrogateError, JSONEncodingError } from "./errors.js";
import { toJsonText } from "./values.js";

native.initSync({
  module: readFileSync(new URL("../wasm/phoenix_upsert_native_bg.wasm", import.meta.url)),
});

/** Run a call into the module: native errors become typed errors, a trap an InternalError. */
export function call<T>(f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof WebAssembly.RuntimeError) {
      let message: string | undefined;
      try {
        message = native.takePanicMessage();
      } catch {
        message = undefined;
      }
      native.__wbg_reset_state();
      throw new InternalError(
        message ?? `bug in phoenix-upsert's native core (please report it): ${String(e)}`,
      );
    }
    throw fromNative(e);
  }
}

/** The version of the Rust core inside. */
export const CORE_VERSION: string = native.coreVersion();

/** Deepest nesting of arrays and objects accepted inside an example's input/output/metadata. */
export const MAX_DEPTH: number = native.maxDepth();

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** UTF-8 of a JSON or JSONL text; a string holding a lone surrogate has none. */
function utf8(text: string | Uint8Array, what: "text" | "lines"): Uint8Array {
  if (typeof text !== "string") return text;
  // String.prototype.isWellFormed (Node 20+) is the fast check; the regex finds the place.
  const wellFormed = (text as { isWellFormed?: () => boolean }).isWellFormed;
  if (typeof wellFormed === "function" && wellFormed.call(text)) {
    return new TextEncoder().encode(text);
  }
  const match = LONE_SURROGATE.exec(text);
  if (match !== null) {
    const before = text.slice(0, match.index);
    const line = what === "lines" ? before.split("\n").length : null;
    const place = line === null ? "" : `line ${line}: `;
    throw new LoneSurrogateError(
      `${place}${what === "text" ? "text" : "line"} contains a lone surrogate, which is not valid Unicode text`,
      { line },
    );
  }
  return new TextEncoder().encode(text);
}

/**
 * RFC 8785 canonical JSON of a JavaScript value, byte-identical to Phoenix's (and to Python's
 * `phoenix_upsert.canonicalize`). The value is read by the rule of `./values.ts`: what JSON
 * cannot carry exactly is a typed error.
 */
export function canonicalize(value: unknown): string {
  const text = toJsonText(value, null);
  return call(() => native.canonicalize(text));
}

/** RFC 8785 canonical JSON of a JSON text (a string, or its UTF-8 bytes). */
export function canonicalizeJson(text: string | Uint8Array): string {
  if (typeof text === "string") {
    utf8(text, "text");
    return call(() => native.canonicalize(text));
  }
  let decoded: string;
  try {
    decoded = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(text);
  } catch {
    throw new JSONEncodingError("text is not valid UTF-8");
  }
  return call(() => native.canonicalize(decoded));
}

/** An example: `input` and `output` objects, `metadata` (an object, `{}` when absent). */
export interface ExampleContent {
  input: unknown;
  output: unknown;
  metadata?: unknown;
}

/** Phoenix's content hash (32 hex characters) of one example's input, output and metadata. */
export function contentHash(example: ExampleContent): string {
  const text = toJsonText(
    { input: example.input, output: example.output, metadata: example.metadata ?? {} },
    null,
  );
  return call(() => native.contentHash(text));
}

/**
 * The result of a scan, per example in source order. A column that was not asked for is
 * `null`; line positions are empty for examples given as values.
 */
export interface Scan {
  /** Content hashes (32 hex characters each). */
  hashes: string[];
  /** Source ids under the id key (integers as decimal text), `null` where absent. */
  ids: (string | null)[] | null;
  /** Values under the node id key (Phoenix's exports). */
  nodeIds: (string | null)[] | null;
  /**
   * Of an export scanned with an id key and a node id key: each example's external id — its
   * id, unless that is its node id (Phoenix's way of saying it has none). The core's rule.
   */
  externalIds?: (string | null)[] | null;
  /** Span ids under the span id key (stripped). */
  spanIds: (string | null)[] | null;
  /** Split names under the splits key: stripped, sorted, de-duplicated; `null` where absent. */
  splits: (string[] | null)[] | null;
  /** 1-based line numbers (JSONL). */
  lineNumbers: number[];
  /** Byte offsets of the lines (JSONL). */
  offsets: number[];
  /** Byte lengths of the lines, without the newline (JSONL). */
  lengths: number[];
}

/** Options of `scanJsonl`, as Python's `scan_jsonl`. */
export interface ScanJsonlOptions {
  idKey?: string | null;
  splitsKey?: string | null;
  spanIdKey?: string | null;
  nodeIdKey?: string | null;
  /** Longest line accepted, in bytes (default 64 MiB). */
  maxLineBytes?: number;
  /**
   * Read the lines as a sync's source: reject what Phoenix cannot store, and with an id key,
   * require a source id on every example and no id twice.
   */
  storable?: boolean;
}

/** Scan JSONL (UTF-8 bytes, or a string): hashes, the fields asked for, line positions. */
export function scanJsonl(data: string | Uint8Array, options: ScanJsonlOptions = {}): Scan {
  const bytes = utf8(data, "lines");
  const json = call(() =>
    native.scanJsonl(
      bytes,
      options.idKey ?? undefined,
      options.splitsKey ?? undefined,
      options.spanIdKey ?? undefined,
      options.nodeIdKey ?? undefined,
      options.maxLineBytes,
      options.storable ?? false,
    ),
  );
  return JSON.parse(json) as Scan;
}

/** Options of `scanExamples`: the keys of the example schema, camelCased as in `upsertDataset`. */
export interface ScanExamplesOptions {
  /** Key of the source id in each example (`null`: examples have none). */
  sourceIdKey?: string | null;
  splitsKey?: string | null;
  spanIdKey?: string | null;
  /** As for `scanJsonl`; a sync's examples are scanned with `true` (the default here). */
  storable?: boolean;
}

/**
 * Scan JavaScript examples: each is written as JSON by the rule of `./values.ts` (errors name
 * the example's index and the JSON path), then read by the core's example schema.
 */
export function scanExamples(examples: Iterable<unknown>, options: ScanExamplesOptions = {}): Scan {
  const texts: string[] = [];
  for (const example of examples) texts.push(toJsonText(example, texts.length));
  return scanExampleTexts(texts, options);
}

/**
 * `scanExamples` over the JSON texts `toJsonText` wrote for the examples (one per example, in
 * order): what `upsertDataset` hashes, and then sends.
 */
export function scanExampleTexts(
  texts: readonly string[],
  options: ScanExamplesOptions = {},
): Scan {
  // The joined text goes to the core as a string: wasm-bindgen encodes it straight into the
  // module's memory (no UTF-8 copy in JavaScript first).
  const text = texts.join("\n");
  return hashCanonical(
    call(() =>
      native.scanExamplesText(
        text,
        texts.length,
        options.sourceIdKey ?? undefined,
        options.splitsKey ?? undefined,
        options.spanIdKey ?? undefined,
        options.storable ?? true,
        true,
      ),
    ),
  );
}

/** `crypto.hash` (Node 20.12 and 21.7 on): one call for a one-shot digest. */
const oneShot = (
  crypto as { hash?: (algorithm: string, data: Uint8Array, encoding: "hex") => string }
).hash;

/** Lowercase hex SHA-256 of `data`, by Node (which uses the CPU's SHA instructions). */
const sha256Hex: (data: Uint8Array) => string =
  typeof oneShot === "function"
    ? (data) => oneShot("sha256", data, "hex")
    : (data) => crypto.createHash("sha256").update(data).digest("hex");

/** `scanExampleTexts` over the UTF-8 of the texts joined by newlines (`count` of them). */
export function scanExampleBytes(
  bytes: Uint8Array,
  count: number,
  options: ScanExamplesOptions = {},
): Scan {
  return hashCanonical(
    call(() =>
      native.scanExamples(
        bytes,
        count,
        options.sourceIdKey ?? undefined,
        options.splitsKey ?? undefined,
        options.spanIdKey ?? undefined,
        options.storable ?? true,
        true,
      ),
    ),
  );
}

/**
 * A scan whose canonical texts the core wrote instead of hashing them: Node hashes them
 * (Phoenix's content hash: the first 16 bytes of their SHA-256, in hex).
 */
function hashCanonical(json: string): Scan {
  const scan = JSON.parse(json) as Scan & { canonicalEnds?: number[] };
  const canonical = native.takeCanonical();
  const ends = scan.canonicalEnds ?? [];
  delete scan.canonicalEnds;
  const hashes = new Array<string>(ends.length);
  let start = 0;
  for (let i = 0; i < ends.length; i++) {
    const end = ends[i] as number;
    hashes[i] = sha256Hex(canonical.subarray(start, end)).slice(0, 32);
    start = end;
  }
  scan.hashes = hashes;
  return scan;
}

/** Where the examples an upload sends are in the bytes that were scanned, and their hashes. */
export interface UploadLines {
  /** Index of each example in the source (named in errors). */
  indices: readonly number[];
  offsets: readonly number[];
  lengths: readonly number[];
  /** 1-based line numbers, or 0 where the source has none. */
  lines: readonly number[];
  /** Content hashes as scanned. */
  hashes: readonly string[];
}

/**
 * Part `part` (0 input, 1 output, 2 metadata) of chosen examples, as the JSON texts an upload
 * sends, joined by commas: read again from `data` by the core, checked to hash as scanned
 * (else a `SourceChangedError` with `changed` as its message) and written by the core's upload
 * writer — the same writer, and so the same bytes, as Python's uploads.
 */
export function uploadParts(
  data: Uint8Array,
  where: UploadLines,
  part: 0 | 1 | 2,
  changed: string,
): string {
  return call(() =>
    native.uploadParts(
      data,
      Float64Array.from(where.indices),
      Float64Array.from(where.offsets),
      Float64Array.from(where.lengths),
      Float64Array.from(where.lines),
      where.hashes.join(""),
      part,
      changed,
    ),
  );
}

/** A previous example: `[nodeId, externalId | null, hash]`. */
export type PreviousExample = readonly [nodeId: string, externalId: string | null, hash: string];
/** An incoming example: `[sourceId | null, hash]`. */
export type IncomingExample = readonly [sourceId: string | null, hash: string];

/** What `diff` found: indices into the two inputs, each list in input order. */
export interface Diff {
  /** Incoming indices of examples to create. */
  added: number[];
  /** `[incoming, previous]` index pairs whose content changed. */
  updated: [number, number][];
  /** `[incoming, previous]` index pairs whose content is the same. */
  unchanged: [number, number][];
  /** Previous indices of examples to delete (empty when merging). */
  deleted: number[];
  /** Incoming indices whose id is a node id of no previous example (Phoenix rejects these). */
  unknownNodeIds: number[];
}

/**
 * Phoenix's matching rules (the core's diff, as Python's `_native.diff`). `previous` is a scan
 * of Phoenix's export (with `idKey` and `nodeIdKey`) or tuples; `incoming` a scan or tuples.
 */
export function diff(
  previous: Scan | readonly PreviousExample[],
  incoming: Scan | readonly IncomingExample[],
  options: { merge?: boolean } = {},
): Diff {
  const side = (v: Scan | readonly unknown[]) =>
    JSON.stringify(
      Array.isArray(v)
        ? v
        : { hashes: (v as Scan).hashes, ids: (v as Scan).ids, nodeIds: (v as Scan).nodeIds },
    );
  const prev = side(previous);
  const inc = side(incoming);
  const json = call(() => native.diff(prev, inc, options.merge ?? false));
  return JSON.parse(json) as Diff;
}

/** For the tests: make the core panic, to see the panic become an InternalError. */
export function panicForTests(message: string): void {
  call(() => native.__panicForTests(message));
}
