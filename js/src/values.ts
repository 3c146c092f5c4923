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

/** Deeper than this, a value is refused here, before `JSON.stringify` runs out of stack. */
const DEPTH_GUARD = 1000;

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** A JSON path written as the core writes it: `input.turns[3].score`, `metadata["a key"]`. */
export function formatPath(keys: readonly (string | number)[]): string {
  let out = "";
  for (const k of keys) {
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

type Location = { path: string; index: number | null };
type InputErrorClass = new (message: string, location: Location) => InvalidInputError;

/**
 * The JSON text of `value` by the rule above; `index` (the example's, or `null`) is named in
 * errors. The value is walked first as `JSON.stringify` walks it (own enumerable keys,
 * `toJSON`, boxed primitives), then written by `JSON.stringify` itself.
 */
export function toJsonText(value: unknown, index: number | null): string {
  const path: (string | number)[] = [];
  const ancestors: object[] = [];
  const fail = (cls: InputErrorClass, message: string): never => {
    const where = formatPath(path);
    throw new cls(placed(message, index, where), { path: where, index });
  };
  // `key` is the property name `toJSON` gets (an array index as a number: turned into a
  // string only when a `toJSON` is called).
  const walk = (v: unknown, key: string | number, inArray: boolean): void => {
    if ((typeof v === "object" && v !== null) || typeof v === "bigint") {
      const toJSON = (v as { toJSON?: unknown }).toJSON;
      if (typeof toJSON === "function") v = toJSON.call(v, String(key)) as unknown;
    }
    switch (typeof v) {
      case "string":
      case "boolean":
        return;
      case "number":
        if (!Number.isFinite(v)) fail(NonFiniteNumberError, `${v} is not a JSON number`);
        return;
      case "bigint":
        return fail(
          NonJSONTypeError,
          "BigInt is not a JSON value (convert it to a number or a string)",
        );
      case "undefined":
        if (inArray) {
          fail(
            NonJSONTypeError,
            "undefined in an array is not a JSON value (JSON.stringify would write null)",
          );
        }
        return;
      case "function":
      case "symbol":
        return fail(NonJSONTypeError, `a ${typeof v} is not a JSON value`);
      case "object": {
        if (v === null) return;
        const proto = Object.getPrototypeOf(v) as unknown;
        // Plain objects and arrays (the common case) are none of the special kinds below.
        if (proto !== Object.prototype && proto !== Array.prototype && proto !== null) {
          if (v instanceof String || v instanceof Boolean) return;
          if (v instanceof Number) {
            if (!Number.isFinite(v.valueOf())) {
              fail(NonFiniteNumberError, `${v.valueOf()} is not a JSON number`);
            }
            return;
          }
          for (const [name, test] of DROPPED) {
            if (test(v)) fail(NonJSONTypeError, `${name} is not a JSON value`);
          }
        }
        if (ancestors.includes(v)) fail(CircularReferenceError, `${describe(v)} contains itself`);
        if (ancestors.length >= DEPTH_GUARD) {
          fail(NestingTooDeepError, `nested deeper than ${DEPTH_GUARD} levels`);
        }
        ancestors.push(v);
        // Strings, booleans and finite numbers (most values) are fine as they are: checked
        // here, without a call.
        if (Array.isArray(v)) {
          const items = v as unknown[];
          for (let i = 0; i < items.length; i++) {
            const item = items[i];
            const t = typeof item;
            if (t === "string" || t === "boolean" || (t === "number" && isFinite(item as number))) {
              continue;
            }
            path.push(i);
            walk(item, i, true);
            path.pop();
          }
        } else {
          const record = v as Record<string, unknown>;
          const keys = Object.keys(record);
          for (let i = 0; i < keys.length; i++) {
            const k = keys[i] as string;
            const item = record[k];
            const t = typeof item;
            if (t === "string" || t === "boolean" || (t === "number" && isFinite(item as number))) {
              continue;
            }
            path.push(k);
            walk(item, k, false);
            path.pop();
          }
        }
        ancestors.pop();
        return;
      }
    }
  };
  walk(value, "", false);
  const text = JSON.stringify(value) as string | undefined;
  if (text === undefined) {
    const cls = index === null ? NonJSONTypeError : InvalidExampleError;
    throw new cls(placed(`${typeof value} is not a JSON value`, index, ""), { index });
  }
  return text;
}
