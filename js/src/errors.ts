/**
 * The errors of phoenix-upsert, the same classes as Python's `phoenix_upsert.errors`: the Rust
 * core names the class of each of its errors (`rust/src/wasm/errors.rs`), and values that
 * JSON cannot carry exactly are caught with the same classes before they reach it.
 */

/** Where an error is: the JSON path inside the example, and which example or line. */
export interface ErrorLocation {
  /** JSON path inside the value or example (`input.turns[3].score`); `""` at the root. */
  path?: string;
  /** 0-based index of the example in the caller's sequence. */
  index?: number | null;
  /** 1-based line number in JSONL. */
  line?: number | null;
  /** 1-based byte column in that line, where known. */
  column?: number | null;
  /** The example's source id, where known. */
  sourceId?: string | null;
  /** The duplicate ids, for `DuplicateSourceIdError`. */
  ids?: string[];
}

/** The base of every error of phoenix-upsert. */
export class PhoenixUpsertError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** Input that phoenix-upsert cannot hash or sync exactly; says where. */
export class InvalidInputError extends PhoenixUpsertError {
  readonly path: string;
  readonly index: number | null;
  readonly line: number | null;
  readonly column: number | null;
  readonly sourceId: string | null;
  readonly ids: string[];

  constructor(message: string, location: ErrorLocation = {}) {
    super(message);
    this.path = location.path ?? "";
    this.index = location.index ?? null;
    this.line = location.line ?? null;
    this.column = location.column ?? null;
    this.sourceId = location.sourceId ?? null;
    this.ids = location.ids ?? [];
  }
}

/** NaN, Infinity or -Infinity: not JSON numbers. */
export class NonFiniteNumberError extends InvalidInputError {}
/** A number outside what JSON carries exactly here, or what Phoenix can store. */
export class NumberOutOfRangeError extends InvalidInputError {}
/** A string or key holding an unpaired UTF-16 surrogate. */
export class LoneSurrogateError extends InvalidInputError {}
/** A string or key holding U+0000, which PostgreSQL cannot store (when syncing). */
export class NullCharacterError extends InvalidInputError {}
/** Arrays and objects nested too deep. */
export class NestingTooDeepError extends InvalidInputError {}
/** A value that contains itself. */
export class CircularReferenceError extends InvalidInputError {}
/** A value with no exact JSON meaning (BigInt, a function, a Map, `undefined` in an array...). */
export class NonJSONTypeError extends InvalidInputError {}
/** An object key that is not a string (from Python; JavaScript keys are strings). */
export class NonStringKeyError extends NonJSONTypeError {}
/** An example of the wrong shape (not an object; input/output missing or not objects...). */
export class InvalidExampleError extends InvalidInputError {}
/** A JSON text that is not valid JSON. */
export class JSONSyntaxError extends InvalidInputError {}
/** A JSON text that is not valid UTF-8. */
export class JSONEncodingError extends InvalidInputError {}
/** A JSONL line that is not valid JSON. */
export class JSONLSyntaxError extends JSONSyntaxError {}
/** A JSONL line that is not valid UTF-8. */
export class JSONLEncodingError extends JSONEncodingError {}
/** A JSONL line longer than the maximum. */
export class LineTooLongError extends InvalidInputError {}
/** A line read again for an upload no longer holds what was scanned. */
export class SourceChangedError extends InvalidInputError {}
/** With a source id key: an example without a source id (when syncing). */
export class MissingSourceIdError extends InvalidInputError {}
/** A source id that cannot be used (wrong type, a non-integer number, empty, U+0000). */
export class InvalidSourceIdError extends InvalidInputError {}
/** The same source id on more than one example. */
export class DuplicateSourceIdError extends InvalidInputError {}
/**
 * A merge that would add, without a source id, an example whose content the dataset already
 * holds: Phoenix matches examples without ids by content, so it keeps one copy (give the
 * examples ids, or remove the duplicate). `index` is the first such example.
 */
export class DuplicateContentError extends InvalidInputError {}

/**
 * A mirror sync of a source without examples: it would delete every example of the dataset
 * (a failed export, an empty file). Pass `allowEmpty: true` if that is meant.
 */
export class EmptySourceError extends InvalidInputError {}

/** The source file could not be read (the message names it); nothing was sent. */
export class SourceReadError extends InvalidInputError {}
/** The source file does not exist. */
export class SourceNotFoundError extends SourceReadError {}
/** The source file cannot be read with this process's permissions (or the server refused). */
export class SourceAccessError extends SourceReadError {}
/** The server holding the source (an http(s) URL) cannot be reached: a network error. */
export class SourceUnreachableError extends SourceReadError {}

/** A bug in phoenix-upsert (the native core panicked); never the input's fault. */
export class InternalError extends PhoenixUpsertError {}

/** The Phoenix server answered with an error, or could not be reached. */
export class ServerError extends PhoenixUpsertError {
  /** The HTTP status, or `null` if no response arrived. */
  readonly statusCode: number | null;
  /** The server's explanation, if it gave one. */
  readonly detail: string;
  /** Seconds the server asked to wait (HTTP 429 `Retry-After`), if it did. */
  retryAfter: number | null = null;
  /** Whether this error ended a series of retries. */
  exhausted = false;

  constructor(message: string, options: { statusCode?: number | null; detail?: string } = {}) {
    super(message);
    this.statusCode = options.statusCode ?? null;
    this.detail = options.detail ?? "";
  }
}

/** The server refused the credentials (HTTP 401/403): set `PHOENIX_API_KEY` or the client's headers. */
export class AuthenticationError extends ServerError {}
/** No dataset with the given id exists on the server. */
export class DatasetNotFoundError extends ServerError {}
/** The server is too old for phoenix-upsert (it needs `action=update` uploads with example ids). */
export class ServerTooOldError extends ServerError {}

/**
 * A write could not be proven to have made the dataset hold the source, and reading the
 * dataset again and writing again, as many times as allowed, did not prove it either.
 * Raised as `ConcurrentWriteError`, its one cause seen in practice.
 */
export class SyncVerificationError extends PhoenixUpsertError {}
/**
 * Another writer kept changing the dataset while this sync ran; the dataset may hold the
 * other writer's content. Run the sync again.
 */
export class ConcurrentWriteError extends SyncVerificationError {}

/** The classes the native core names, by name. */
const NATIVE_CLASSES = {
  NonFiniteNumberError,
  NumberOutOfRangeError,
  LoneSurrogateError,
  NullCharacterError,
  NestingTooDeepError,
  CircularReferenceError,
  NonJSONTypeError,
  NonStringKeyError,
  InvalidExampleError,
  JSONSyntaxError,
  JSONEncodingError,
  JSONLSyntaxError,
  JSONLEncodingError,
  LineTooLongError,
  SourceChangedError,
  MissingSourceIdError,
  InvalidSourceIdError,
  DuplicateSourceIdError,
  DuplicateContentError,
  EmptySourceError,
} as const;

/** The server side's classes the sync engine names (`rust/src/sync/wire.rs`), by name (and
 * `ConcurrentWriteError`). */
const SERVER_CLASSES = {
  ServerError,
  AuthenticationError,
  DatasetNotFoundError,
  ServerTooOldError,
} as const;

type NativeFields = {
  name?: unknown;
  message?: unknown;
  path?: unknown;
  index?: unknown;
  line?: unknown;
  column?: unknown;
  sourceId?: unknown;
  ids?: unknown;
  statusCode?: unknown;
  detail?: unknown;
  retryAfter?: unknown;
  exhausted?: unknown;
};

const num = (v: unknown): number | null => (typeof v === "number" ? v : null);

/**
 * The typed error for an error thrown by the wasm module: the class its `name` says, with its
 * location (an input error) or its status, detail, `Retry-After` and whether it ended a
 * series of retries (a server failure). TypeErrors and RangeErrors (wrong arguments) pass through as they are.
 */
export function fromNative(error: unknown): unknown {
  if (!(error instanceof Error)) return error;
  const e = error as Error & NativeFields;
  if (e.name === "InternalError") return new InternalError(e.message);
  if (e.name === "ConcurrentWriteError") return new ConcurrentWriteError(e.message);
  const server = SERVER_CLASSES[e.name as keyof typeof SERVER_CLASSES];
  if (server !== undefined) {
    const err = new server(e.message, {
      statusCode: num(e.statusCode),
      detail: typeof e.detail === "string" ? e.detail : "",
    });
    err.retryAfter = num(e.retryAfter);
    err.exhausted = e.exhausted === true;
    return err;
  }
  const cls = NATIVE_CLASSES[e.name as keyof typeof NATIVE_CLASSES];
  if (cls === undefined) return error;
  return new cls(e.message, {
    path: typeof e.path === "string" ? e.path : "",
    index: num(e.index),
    line: num(e.line),
    column: num(e.column),
    sourceId: typeof e.sourceId === "string" ? e.sourceId : null,
    ids: Array.isArray(e.ids) ? e.ids.filter((i): i is string => typeof i === "string") : [],
  });
}
