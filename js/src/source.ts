/**
 * Sources: what a sync makes the dataset look like, read once before any request — per
 * example its source id, content hash (the core's), split names and span id, and the JSON of
 * its input, output and metadata for an upload. As Python's `_sources/source.py`.
 */

import { readFile } from "node:fs/promises";
import { gunzipSync } from "node:zlib";

import { scanExampleBytes, scanJsonl, uploadParts, type Scan } from "./core.js";
import type { Example } from "@arizeai/phoenix-client/types/datasets";

import {
  InvalidExampleError,
  InvalidSourceIdError,
  SourceAccessError,
  SourceNotFoundError,
  SourceReadError,
  SourceUnreachableError,
} from "./errors.js";
import { toJsonText } from "./values.js";

/**
 * How to find an example's source id: a key of the example (a field of a JSONL line), a
 * function that returns it, or `null` to match by content only.
 */
export type SourceIdKey = string | ((example: Record<string, unknown>) => unknown) | null;

/**
 * An example as `upsertDataset` takes it: `@arizeai/phoenix-client`'s own `Example` (`input`;
 * `output` and `metadata` optional or `null`, meaning `{}` as `createDataset` sends them;
 * `splits`, `spanId`, `id`), or an object of the same shape with keys of its own (a source id
 * under `sourceIdKey`, `span_id`, ...).
 */
export type UpsertExample =
  | Example
  | {
      input: Record<string, unknown>;
      output?: Record<string, unknown> | null;
      metadata?: Record<string, unknown> | null;
      [key: string]: unknown;
    };

/**
 * Examples: an array, any iterable or async iterable of examples (phoenix-client's `Example[]`
 * as it is), or a JSONL file — a local path, a `file:` URL or an http(s) URL, gzip-compressed
 * or not.
 */
export type ExamplesSource = Iterable<UpsertExample> | AsyncIterable<UpsertExample> | string | URL;

/** A validated source: parallel lists, one entry per example, in source order. */
export interface Source {
  ids: (string | null)[];
  hashes: string[];
  /** Normalized split names per example, or `null` if the source says nothing of splits. */
  splits: string[][] | null;
  spanIds: (string | null)[] | null;
  /**
   * JSON texts of one part (0 input, 1 output, 2 metadata) of the examples at `indices`,
   * joined by commas: written by the core from what it hashed (`uploadParts`).
   */
  parts(indices: readonly number[], part: 0 | 1 | 2): string;
  /** 1-based line numbers, for JSONL sources. */
  lines: number[] | null;
  name: string;
}

export function sourceLength(source: Source): number {
  return source.hashes.length;
}

export function hasIds(source: Source): boolean {
  return source.ids.some((i) => i !== null);
}

/** How to point a user at an example: `line 7 (id 'q3')` or `example 2`. */
export function where(source: Source, index: number): string {
  const place =
    source.lines !== null ? `line ${String(source.lines[index])}` : `example ${String(index)}`;
  const id = source.ids[index] ?? null;
  return id !== null ? `${place} (id ${JSON.stringify(id)})` : place;
}

export interface SourceOptions {
  /**
   * `undefined`: the default — `"id"`; for examples given as values, matching by content
   * when no example has an `id` (as `createDataset` sends no example ids then).
   */
  sourceIdKey: SourceIdKey | undefined;
  splitsKey: string | null;
  /**
   * The key of each example's span id; `undefined`: the default — `spanId` (phoenix-client's
   * `Example`) or `span_id` (Python's and JSONL's), which must agree where both are given.
   */
  spanIdKey: string | null | undefined;
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

/**
 * An example as `createDataset` of `@arizeai/phoenix-client` sends it: `output` and `metadata`
 * missing or `null` are `{}`; by default (`readSpanId`) its `spanId` is its span id, under
 * `span_id` where the core reads it. The example itself when nothing changes, else a shallow
 * copy (the caller's object is never modified). Anything else is left to the core's checks.
 */
function asSent(example: unknown, index: number, readSpanId: boolean): unknown {
  if (!isObject(example)) return example;
  const missing = (v: unknown): boolean => v === undefined || v === null;
  const output = missing(example.output);
  const metadata = missing(example.metadata);
  const spanId = readSpanId && !missing(example.spanId);
  if (!output && !metadata && !spanId) return example;
  const copy: Record<string, unknown> = { ...example };
  if (output) copy.output = {};
  if (metadata) copy.metadata = {};
  if (spanId) {
    if (!missing(example.span_id) && example.span_id !== example.spanId) {
      throw new InvalidExampleError(
        `example ${String(index)}: spanId ${JSON.stringify(example.spanId)} and span_id ${JSON.stringify(example.span_id)} differ; give one of them (or set spanIdKey to the one to read)`,
        { index, path: "spanId" },
      );
    }
    copy.span_id = example.spanId;
  }
  return copy;
}

/**
 * A source over `data`, the bytes the core scanned: each example's line at `offsets` and
 * `lengths` (with the line numbers of a file, or none for examples given as values).
 */
function fromScan(
  scan: Scan,
  data: Uint8Array,
  positions: { offsets: number[]; lengths: number[]; lines: number[] | null },
  name: string,
): Source {
  const changed = `${name} changed while syncing; nothing was written — run the sync again`;
  const parts = (indices: readonly number[], part: 0 | 1 | 2): string =>
    uploadParts(
      data,
      {
        indices,
        offsets: indices.map((i) => positions.offsets[i] ?? 0),
        lengths: indices.map((i) => positions.lengths[i] ?? 0),
        lines: indices.map((i) => positions.lines?.[i] ?? 0),
        hashes: indices.map((i) => scan.hashes[i] ?? ""),
      },
      part,
      changed,
    );
  let splits: string[][] | null = null;
  if (scan.splits !== null && scan.splits.some((s) => s !== null)) {
    splits = scan.splits.map((s) => s ?? []);
  }
  let spanIds = scan.spanIds;
  if (spanIds !== null && spanIds.every((s) => s === null)) spanIds = null;
  return {
    ids: scan.ids ?? scan.hashes.map(() => null),
    hashes: scan.hashes,
    splits,
    spanIds,
    parts,
    lines: positions.lines,
    name,
  };
}

/** Offsets and lengths of the lines of `data` (no blank lines, no trailing newline). */
function linePositions(data: Uint8Array, count: number): { offsets: number[]; lengths: number[] } {
  const offsets: number[] = [];
  const lengths: number[] = [];
  let start = 0;
  for (let k = 0; k < count; k++) {
    let end = data.indexOf(0x0a, start);
    if (end < 0) end = data.length;
    offsets.push(start);
    lengths.push(end - start);
    start = end + 1;
  }
  return { offsets, lengths };
}

/** Read any supported source: a JSONL path, or an (async) iterable of examples. */
export async function readSource(examples: unknown, options: SourceOptions): Promise<Source> {
  if (typeof examples === "string" || examples instanceof URL) {
    return fromJsonl(examples, options);
  }
  if (examples === null || typeof examples !== "object") {
    throw new TypeError(
      "examples: expected an array, an (async) iterable of examples or the path of a JSONL file",
    );
  }
  let items: unknown[];
  if (Array.isArray(examples)) items = examples;
  else if (Symbol.asyncIterator in examples) {
    items = [];
    for await (const e of examples as AsyncIterable<unknown>) items.push(e);
  } else if (Symbol.iterator in examples) items = Array.from(examples as Iterable<unknown>);
  else {
    throw new TypeError(
      "examples: expected an iterable of examples, got a single object (wrap it in an array)",
    );
  }
  return fromExamples(items, options);
}

/** A key for the source id of a function's answer, that the example does not have itself. */
function idField(example: object): string {
  let key = "__phoenix_upsert_source_id";
  while (Object.prototype.hasOwnProperty.call(example, key)) key += "_";
  return key;
}

/** A source of example objects with `input`, `output` and optional `metadata`. */
export function fromExamples(given: readonly unknown[], options: SourceOptions): Source {
  const readSpanId = options.spanIdKey === undefined;
  const items = given.map((example, i) => asSent(example, i, readSpanId));
  let key = options.sourceIdKey;
  if (key === undefined) {
    const anyId = items.some((e) => isObject(e) && e.id !== undefined && e.id !== null);
    key = anyId || items.length === 0 ? "id" : null;
  }
  const texts: string[] = [];
  let idKey: string | null = typeof key === "string" ? key : null;
  if (typeof key === "function") {
    // The function's answer is placed under a key of its own in the example's JSON text, and
    // the core applies the source-id rule to it (as Python's core does to a callable's).
    idKey = "__phoenix_upsert_source_id";
    for (const [i, example] of items.entries()) {
      let text = toJsonText(example, i);
      if (
        typeof example === "object" &&
        example !== null &&
        !Array.isArray(example) &&
        text.startsWith("{")
      ) {
        let id: unknown;
        try {
          id = key(example as Record<string, unknown>);
        } catch (e) {
          const kind = e instanceof Error ? e.name : typeof e;
          const message = e instanceof Error ? e.message : String(e);
          throw new InvalidSourceIdError(
            `example ${String(i)}: sourceIdKey threw ${kind}: ${message}`,
            { index: i },
          );
        }
        const field = idField(example);
        if (field !== idKey) {
          throw new InvalidSourceIdError(
            `example ${String(i)} has a key ${JSON.stringify(idKey)} of its own; use a key, not a function, for its source id`,
            { index: i },
          );
        }
        if (id !== undefined) {
          const idText = toJsonText(id, i);
          text = `{${JSON.stringify(field)}:${idText}${text === "{}" ? "" : ","}${text.slice(1)}`;
        }
      }
      texts.push(text);
    }
  } else {
    for (const [i, example] of items.entries()) texts.push(toJsonText(example, i));
  }
  // JSON.stringify writes no raw newline: one example per line.
  const data = new TextEncoder().encode(texts.join("\n"));
  const scan = scanExampleBytes(data, texts.length, {
    sourceIdKey: idKey,
    splitsKey: options.splitsKey,
    spanIdKey: options.spanIdKey === undefined ? "span_id" : options.spanIdKey,
    storable: true,
  });
  return fromScan(scan, data, { ...linePositions(data, texts.length), lines: null }, "examples");
}

/** A JSONL file, scanned by the core; an upload sends the parts the core writes from its lines. */
export async function fromJsonl(path: string | URL, options: SourceOptions): Promise<Source> {
  if (typeof options.sourceIdKey === "function") {
    throw new TypeError("sourceIdKey must be a key (string) or null for a JSONL file");
  }
  const bytes = decompress(await readBytes(path), String(path));
  const scan = scanJsonl(bytes, {
    idKey: options.sourceIdKey === undefined ? "id" : options.sourceIdKey,
    splitsKey: options.splitsKey,
    spanIdKey: options.spanIdKey === undefined ? "span_id" : options.spanIdKey,
    storable: true,
  });
  const positions = { offsets: scan.offsets, lengths: scan.lengths, lines: scan.lineNumbers };
  return fromScan(scan, bytes, positions, String(path));
}

/** An http(s) URL, given as a URL or as a string. */
function webUrl(path: string | URL): URL | null {
  const text = String(path);
  if (!/^https?:\/\//i.test(text)) return null;
  try {
    return new URL(text);
  } catch {
    return null;
  }
}

/** The bytes of a local path, a `file:` URL or an http(s) URL. */
async function readBytes(path: string | URL): Promise<Uint8Array> {
  const url = webUrl(path);
  if (url !== null) {
    let response: Response;
    try {
      response = await fetch(url);
    } catch (e) {
      const cause = (e as { cause?: unknown }).cause;
      const detail = cause instanceof Error ? cause.message : String(e);
      throw new SourceUnreachableError(`${url.href}: cannot be reached (${detail})`);
    }
    const message = `${url.href}: HTTP ${String(response.status)} ${response.statusText}`;
    if (response.status === 404 || response.status === 410) throw new SourceNotFoundError(message);
    if (response.status === 401 || response.status === 403) throw new SourceAccessError(message);
    if (!response.ok) throw new SourceReadError(message);
    return new Uint8Array(await response.arrayBuffer());
  }
  try {
    return await readFile(path);
  } catch (e) {
    const code = (e as { code?: unknown }).code;
    const message = `${String(path)}: ${e instanceof Error ? e.message : String(e)}`;
    if (code === "ENOENT") throw new SourceNotFoundError(message);
    if (code === "EACCES" || code === "EPERM") throw new SourceAccessError(message);
    throw new SourceReadError(message);
  }
}

/** JSONL compressed with gzip (by its magic bytes, whatever the name) is decompressed. */
function decompress(bytes: Uint8Array, name: string): Uint8Array {
  if (bytes[0] !== 0x1f || bytes[1] !== 0x8b) return bytes;
  try {
    return gunzipSync(bytes);
  } catch (e) {
    throw new SourceReadError(
      `${name}: not valid gzip (${e instanceof Error ? e.message : String(e)})`,
    );
  }
}
