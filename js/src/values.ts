/**
 * JavaScript values into the JSON text the core reads — the text an upload sends.
 *
 * The rule (one for Python and JavaScript): an example reaches the core as the JSON text that
 * `JSON.stringify` writes for it, and the core reads that text with the example schema of
 * Python's client (ids, splits, span ids, storable numbers, U+0000). The hash covers exactly
 * that text. What `JSON.stringify` would write differently from the value, or not at all, is
 * refused here with the example's index and the JSON path, before anything is hashed:
 *
 * - `NaN`, `Infinity`, `-Infinity` (stringify writes `null`): `NonFiniteNumberError`;
 * - `BigInt` (stringify throws), functions and symbols anywhere, `undefined` inside an array
 *   (stringify writes `null`), and objects whose data stringify drops (`Map`, `Set`,
 *   `WeakMap`, `WeakSet`, `ArrayBuffer`, typed arrays and `DataView`, `RegExp`, `Promise`):
 *   `NonJSONTypeError`;
 * - a value that contains itself: `CircularReferenceError`;
 * - lone surrogates in strings and keys: stringify escapes them (`"\ud800"`) and the core's
 *   parser refuses the escape: `LoneSurrogateError`.
 *
 * As with `JSON.stringify`, a property whose value is `undefined` is left out, and `toJSON`
 * is honoured (a `Date` is its ISO string). Class instances are their own enumerable
 * properties.
 */

import {
  CircularReferenceError,
  InvalidExampleError,
  InvalidInputError,
  NestingTooDeepError,
  NonFiniteNumberError,
  NonJSONTypeError,
} from "./errors.js";

/** One step of the path from the example to a container: its parent and its key there. */
interface Step {
  readonly parent: Step | null;
  readonly key: string | number;
  readonly value: object;
  readonly depth: number;
}

/** Deeper than this, a value is refused here, before `JSON.stringify` runs out of stack. */
const DEPTH_GUARD = 1000;

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** The JSON path of a key under a step, written as the core writes it. */
export function formatPath(step: Step | null, key?: string | number): string {
  const keys: (string | number)[] = [];
  if (key !== undefined) keys.push(key);
  for (let s = step; s !== null; s = s.parent) keys.push(s.key);
  let out = "";
  for (const k of keys.reverse()) {
    if (typeof k === "number") out += `[${k}]`;
    else if (IDENTIFIER.test(k)) out += out === "" ? k : `.${k}`;
    else out += `[${JSON.stringify(k)}]`;
  }
  return out;
}

/** The message of an error about a value, with its place: `example 3, input.a[2]: ...`. */
export function placed(message: string, index: number | null, path: string): string {
  const where = [index === null ? "" : `example ${index}`, path].filter((p) => p !== "");
  return where.length === 0 ? message : `${where.join(", ")}: ${message}`;
}

const DROPPED: [string, (v: object) => boolean][] = [
  ["Map", (v) => v instanceof Map],
  ["Set", (v) => v instanceof Set],
  ["WeakMap", (v) => v instanceof WeakMap],
  ["WeakSet", (v) => v instanceof WeakSet],
  ["ArrayBuffer", (v) => v instanceof ArrayBuffer || ArrayBuffer.isView(v)],
  ["RegExp", (v) => v instanceof RegExp],
  ["Promise", (v) => v instanceof Promise],
];

function describe(v: object): string {
  const name = (v.constructor as { name?: unknown } | undefined)?.name;
  return typeof name === "string" && name !== "" ? name : "object";
}

/**
 * The JSON text of `value` by the rule above; `index` (the example's, or `null`) is named in
 * errors.
 */
export function toJsonText(value: unknown, index: number | null): string {
  // The step of each container seen (null: the example itself, whose path is empty).
  const steps = new Map<object, Step | null>();
  let rootValue: unknown;
  let first = true;
  function fail(
    cls: new (
      message: string,
      location: { path: string; index: number | null },
    ) => InvalidInputError,
    message: string,
    path: string,
  ): never {
    throw new cls(placed(message, index, path), { path, index });
  }
  function replacer(this: unknown, key: string, v: unknown): unknown {
    const holder = this as object;
    const isRoot = first;
    first = false;
    const parent = isRoot ? null : (steps.get(holder) ?? null);
    const k: string | number = Array.isArray(holder) ? Number(key) : key;
    const path = () => (isRoot ? "" : formatPath(parent, k));
    switch (typeof v) {
      case "string":
      case "boolean":
        return v;
      case "number":
        if (!Number.isFinite(v)) fail(NonFiniteNumberError, `${v} is not a JSON number`, path());
        return v;
      case "bigint":
        return fail(
          NonJSONTypeError,
          "BigInt is not a JSON value (convert it to a number or a string)",
          path(),
        );
      case "undefined":
        if (Array.isArray(holder)) {
          fail(
            NonJSONTypeError,
            "undefined in an array is not a JSON value (JSON.stringify would write null)",
            path(),
          );
        }
        return v;
      case "function":
      case "symbol":
        return fail(NonJSONTypeError, `a ${typeof v} is not a JSON value`, path());
      case "object": {
        if (v === null) return v;
        if (v instanceof Number && !Number.isFinite(v.valueOf())) {
          fail(NonFiniteNumberError, `${v.valueOf()} is not a JSON number`, path());
        }
        for (const [name, test] of DROPPED) {
          if (test(v)) fail(NonJSONTypeError, `${name} is not a JSON value`, path());
        }
        if (isRoot) {
          rootValue = v;
          steps.set(v, null);
          return v;
        }
        if (v === rootValue) fail(CircularReferenceError, `${describe(v)} contains itself`, path());
        for (let s = parent; s !== null; s = s.parent) {
          if (s.value === v) fail(CircularReferenceError, `${describe(v)} contains itself`, path());
        }
        const depth = (parent?.depth ?? 0) + 1;
        if (depth > DEPTH_GUARD) {
          fail(NestingTooDeepError, `nested deeper than ${DEPTH_GUARD} levels`, path());
        }
        steps.set(v, { parent, key: k, value: v, depth });
        return v;
      }
    }
  }
  let text: string | undefined;
  try {
    text = JSON.stringify(value, replacer);
  } catch (e) {
    if (e instanceof InvalidInputError) throw e;
    if (e instanceof TypeError && /circular/i.test(e.message)) {
      throw new CircularReferenceError(placed("value contains itself", index, ""), { index });
    }
    if (e instanceof RangeError) {
      throw new NestingTooDeepError(placed("nested too deep", index, ""), { index });
    }
    throw e;
  }
  if (text === undefined) {
    throw new InvalidExampleError(placed(`${typeof value} is not a JSON value`, index, ""), {
      index,
    });
  }
  return text;
}
