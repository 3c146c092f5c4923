/**
 * Sources: what a sync makes the dataset look like, read once before any request — per
 * example its source id, content hash (the core's), split names and span id, and the JSON of
 * its input, output and metadata for an upload. As Python's `_sources/source.py`.
 */

import { readFile } from "node:fs/promises";

import { scanExampleTexts, scanJsonl, type Scan } from "./core.js";
import {
  InvalidSourceIdError,
  SourceAccessError,
  SourceNotFoundError,
  SourceReadError,
} from "./errors.js";
import { toJsonText } from "./values.js";

/**
 * How to find an example's source id: a key of the example (a field of a JSONL line), a
 * function that returns it, or `null` to match by content only.
 */
export type SourceIdKey = string | ((example: Record<string, unknown>) => unknown) | null;

/** Examples: an array, any iterable or async iterable of examples, or the path of a JSONL file. */
export type ExamplesSource = Iterable<unknown> | AsyncIterable<unknown> | string | URL;

/** A validated source: parallel lists, one entry per example, in source order. */
export interface Source {
  ids: (string | null)[];
  hashes: string[];
  /** Normalized split names per example, or `null` if the source says nothing of splits. */
  splits: string[][] | null;
  spanIds: (string | null)[] | null;
  /** JSON text of one part (0 input, 1 output, 2 metadata) of example `index`. */
  part(index: number, part: 0 | 1 | 2): string;
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
  sourceIdKey: SourceIdKey;
  splitsKey: string | null;
  spanIdKey: string | null;
}

const PARTS = ["input", "output", "metadata"] as const;

function fromScan(
  scan: Scan,
  part: (index: number, part: 0 | 1 | 2) => string,
  lines: number[] | null,
  name: string,
): Source {
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
    part,
    lines,
    name,
  };
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
export function fromExamples(items: readonly unknown[], options: SourceOptions): Source {
  const key = options.sourceIdKey;
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
  const scan = scanExampleTexts(texts, {
    sourceIdKey: idKey,
    splitsKey: options.splitsKey,
    spanIdKey: options.spanIdKey,
    storable: true,
  });
  const part = (index: number, p: 0 | 1 | 2): string => fieldText(texts[index] ?? "", PARTS[p]);
  return fromScan(scan, part, null, "examples");
}

/** A JSONL file, scanned by the core; an upload sends the parts of its lines as written. */
export async function fromJsonl(path: string | URL, options: SourceOptions): Promise<Source> {
  if (typeof options.sourceIdKey === "function") {
    throw new TypeError("sourceIdKey must be a key (string) or null for a JSONL file");
  }
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (e) {
    const code = (e as { code?: unknown }).code;
    const message = `${String(path)}: ${e instanceof Error ? e.message : String(e)}`;
    if (code === "ENOENT") throw new SourceNotFoundError(message);
    if (code === "EACCES" || code === "EPERM") throw new SourceAccessError(message);
    throw new SourceReadError(message);
  }
  const scan = scanJsonl(bytes, {
    idKey: options.sourceIdKey,
    splitsKey: options.splitsKey,
    spanIdKey: options.spanIdKey,
    storable: true,
  });
  const decoder = new TextDecoder();
  const part = (index: number, p: 0 | 1 | 2): string => {
    const offset = scan.offsets[index] ?? 0;
    const line = decoder.decode(bytes.subarray(offset, offset + (scan.lengths[index] ?? 0)));
    return fieldText(line, PARTS[p]);
  };
  return fromScan(scan, part, scan.lineNumbers, String(path));
}

/**
 * The JSON text of one top-level field of an example's JSON text (already read by the core:
 * valid JSON, an object), as written there — key order, numbers and escapes kept; the last
 * one if the key repeats (as the core reads it). `metadata` is `{}` when absent.
 */
export function fieldText(text: string, name: string): string {
  let found: string | null = null;
  let i = 0;
  const n = text.length;
  const space = () => {
    while (i < n) {
      const c = text.charCodeAt(i);
      if (c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d || c === 0xfeff) i++;
      else break;
    }
  };
  const string = () => {
    i++; // the opening quote
    while (i < n) {
      const c = text.charCodeAt(i);
      if (c === 0x5c) i += 2;
      else if (c === 0x22) {
        i++;
        return;
      } else i++;
    }
  };
  const value = () => {
    const c = text.charCodeAt(i);
    if (c === 0x22) return string();
    if (c === 0x7b || c === 0x5b) {
      let depth = 0;
      while (i < n) {
        const d = text.charCodeAt(i);
        if (d === 0x22) {
          string();
          continue;
        }
        if (d === 0x7b || d === 0x5b) depth++;
        else if (d === 0x7d || d === 0x5d) depth--;
        i++;
        if (depth === 0) return;
      }
      return;
    }
    while (i < n) {
      const d = text.charCodeAt(i);
      if (d === 0x2c || d === 0x7d || d === 0x5d || d <= 0x20) return;
      i++;
    }
  };
  space();
  i++; // {
  space();
  while (i < n && text.charCodeAt(i) === 0x22) {
    const keyStart = i;
    string();
    const key = JSON.parse(text.slice(keyStart, i)) as string;
    space();
    i++; // :
    space();
    const start = i;
    value();
    if (key === name) found = text.slice(start, i);
    space();
    if (text.charCodeAt(i) !== 0x2c) break;
    i++;
    space();
  }
  if (found === null) {
    if (name === "metadata") return "{}";
    throw new TypeError(`an example read by the core has no ${name}`);
  }
  return found;
}
