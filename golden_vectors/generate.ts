// Generates vectors.json: JSON inputs with their RFC 8785 canonical form, as computed by
// JavaScript itself (V8's number formatting and string escaping, through the npm
// `canonicalize` package), plus Phoenix content hashes of example documents.
//
// Run: npm ci && npm run generate   (CI regenerates and fails if the file changes)
// Output is deterministic: random values come from a seeded generator.

import { createHash } from "node:crypto";
import { writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import canonicalize from "canonicalize";

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

interface ValueVector {
  name: string;
  /** JSON text to parse (sometimes written unlike its canonical form, on purpose). */
  json: string;
  /** RFC 8785 canonical JSON of that text. */
  canonical: string;
}

interface ExampleVector extends ValueVector {
  /** First 16 bytes of SHA-256 over the canonical form, in hex: Phoenix's content_hash. */
  content_hash: string;
}

interface InvalidVector {
  name: string;
  json: string;
  /** Why a canonicalizer must reject it. */
  error: "lone_surrogate" | "number_out_of_range" | "invalid_json";
}

// splitmix64: small, well-known, and the same on every machine.
class Rng {
  private state: bigint;
  constructor(seed: bigint) {
    this.state = seed;
  }
  nextU64(): bigint {
    this.state = (this.state + 0x9e3779b97f4a7c15n) & 0xffffffffffffffffn;
    let z = this.state;
    z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & 0xffffffffffffffffn;
    z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & 0xffffffffffffffffn;
    return z ^ (z >> 31n);
  }
  /** Uniform in [0, 1). */
  float(): number {
    return Number(this.nextU64() >> 11n) / 2 ** 53;
  }
  int(n: number): number {
    return Math.floor(this.float() * n);
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)];
  }
  /** A double from 64 random bits (all exponents), never NaN or infinite. */
  anyDouble(): number {
    const view = new DataView(new ArrayBuffer(8));
    for (;;) {
      view.setBigUint64(0, this.nextU64());
      const d = view.getFloat64(0);
      if (Number.isFinite(d)) return d;
    }
  }
}

const rng = new Rng(20261122n);

function value(name: string, v: Json, json: string = JSON.stringify(v)): ValueVector {
  // The vector's input is parsed by JavaScript too, so the canonical form is of what the text says.
  return { name, json, canonical: canonicalize(JSON.parse(json)) as string };
}

function contentHash(canonical: string): string {
  return createHash("sha256").update(canonical, "utf8").digest("hex").slice(0, 32);
}

function example(name: string, input: Json, output: Json, metadata: Json): ExampleVector {
  const doc = { input, metadata, output };
  const json = JSON.stringify({ input, output, metadata });
  const canonical = canonicalize(doc) as string;
  return { name, json, canonical, content_hash: contentHash(canonical) };
}

const values: ValueVector[] = [];

// Literals and empty containers.
values.push(value("literals", [null, true, false]));
values.push(value("empty object", {}));
values.push(value("empty array", []));
values.push(value("empty containers nested", { a: {}, b: [], c: [{}, [], [[]]], d: { e: {} } }));
values.push(value("top-level string", "x"));
values.push(value("top-level number", 3.5));

// Key order: UTF-16 code units, not UTF-8 bytes nor code points, nor locale.
values.push(value("key order ascii", { b: 1, a: 2, B: 3, _: 4, "1": 5, "10": 6, "2": 7, "": 8 }));
values.push(value("key order prefix", { ab: 1, a: 2, abc: 3, "a\u0000": 4 }));
values.push(
  value("key order utf16 vs code points", {
    "\uff61": "BMP above surrogates",
    "\u{1f600}": "astral (D83D DE00)",
    "\ue000": "private use",
    "\u{10000}": "first astral",
    "\ud7ff": "below surrogates",
    z: "ascii",
  }),
);
values.push(value("key order latin", { péché: 1, peach: 2, pêche: 3, sin: 4, "\u00e9": 5, e: 6, E: 7 }));
values.push(value("key order astral keys", { "\u{1f602}": 1, "\u{1f601}": 2, "\u{20000}": 3, "\u{fb33}": 4 }));

// Nested objects and arrays.
values.push(
  value("nested", {
    z: { y: { x: [3, 2, 1, { c: null, b: [true, { a: "deep" }] }] } },
    a: [[1, [2, [3, [4, [5]]]]]],
    m: { b: { d: 1, c: 2 }, a: { f: 3, e: 4 } },
  }),
);
values.push(value("array order kept", [3, 1, 2, "b", "a", { b: 1, a: 0 }]));

// Strings: escapes RFC 8785 requires, and characters it leaves alone.
const controls = Array.from({ length: 32 }, (_, i) => String.fromCharCode(i)).join("");
values.push(value("control characters", { s: controls }));
values.push(value("quote and backslash", { s: 'a"b\\c/d' }));
values.push(value("del and line separators", { s: "\u007f\u0085\u2028\u2029\u00a0" }));
values.push(value("non-bmp text", { s: "\u{1f600}\u{1f468}\u200d\u{1f469}\u200d\u{1f467} \u{10348} \u{2070e}" }));
values.push(value("combining and scripts", { s: "A\u030a e\u0301 日本語 Привет العربية עברית ελληνικά" }));
values.push(value("escaped input text", null, '{"s":"\\u20ac\\/\\u0041\\t\\ud83d\\ude00","\\u00e9":1}'));
values.push(value("whitespace in input text", null, ' \n\t{ "b" : [ 1 , 2 ] ,\r\n "a" : { } }  '));

// Numbers: edge cases of ECMAScript formatting.
const edgeNumbers = [
  0, -0, 1, -1, 0.1, 0.2, 0.1 + 0.2, 1.5, -1.5, 100, 1e20, 1e21, 1e-6, 1e-7, 1.2345e-7, 123e-20,
  2 ** 53, 2 ** 53 - 1, -(2 ** 53), 2 ** 53 + 2, 2 ** 63, 2 ** 64, 2 ** 70, 1e300, -1e300,
  Number.MAX_VALUE, -Number.MAX_VALUE, Number.MIN_VALUE, -Number.MIN_VALUE, 2.2250738585072014e-308,
  333333333.3333333, 4.35, 0.000001, 0.0000001, 999999999999999900000, 1e16, 12345678901234567890,
  295147905179352830000, 5e-324, 1.7976931348623157e308, 9007199254740993,
];
values.push(value("edge numbers", edgeNumbers));
values.push(
  value("numbers written unlike their canonical form", null,
    "[1.0, 1E2, 1e+2, 100e-2, -0.0, 0.10, 1.5e300, 1e-400, " +
      "123456789012345678901234567890, 18446744073709551615, 18446744073709551616, -9223372036854775809, " +
      "9007199254740993, 0.000001000, 4.50, 2e-3, 0.000000000000000000000000001, 333333333.33333329]"),
);

// Thousands of random doubles, formatted by JavaScript.
for (let group = 0; group < 20; group++) {
  values.push(value(`random doubles (all exponents) ${group}`, Array.from({ length: 100 }, () => rng.anyDouble())));
}
for (let group = 0; group < 10; group++) {
  values.push(
    value(`random decimals ${group}`,
      Array.from({ length: 100 }, () => {
        const digits = 1 + rng.int(17);
        const exp = rng.int(60) - 30;
        return Number((rng.float() * 10).toFixed(digits)) * 10 ** exp * (rng.float() < 0.5 ? -1 : 1);
      }),
    ),
  );
}
for (let group = 0; group < 5; group++) {
  values.push(
    value(`random integers ${group}`,
      Array.from({ length: 100 }, () => {
        const bits = 1 + rng.int(70);
        return Math.floor(rng.float() * 2 ** bits) * (rng.float() < 0.5 ? -1 : 1);
      }),
    ),
  );
}

// Random documents: random keys (including astral and non-ASCII), values and nesting.
const keyAlphabet = ["a", "b", "Z", "_", "1", "é", "ß", "\uff61", "\u{1f600}", "\u{10000}", "日", " ", "\t", "\u2028"];
function randomKey(): string {
  return Array.from({ length: 1 + rng.int(4) }, () => rng.pick(keyAlphabet)).join("");
}
function randomString(): string {
  const pieces = ["hello", " ", "wörld", "\n", "\"", "\\", "\u0001", "\u2028", "\u{1f600}", "日本", "\u007f", "/"];
  return Array.from({ length: rng.int(6) }, () => rng.pick(pieces)).join("");
}
function randomValue(depth: number): Json {
  const r = rng.int(depth > 4 ? 6 : 8);
  switch (r) {
    case 0: return null;
    case 1: return rng.float() < 0.5;
    case 2: return rng.anyDouble();
    case 3: return rng.int(2000) - 1000;
    case 4: case 5: return randomString();
    case 6: return Array.from({ length: rng.int(4) }, () => randomValue(depth + 1));
    default: {
      const o: { [key: string]: Json } = {};
      for (let i = rng.int(5); i > 0; i--) o[randomKey()] = randomValue(depth + 1);
      return o;
    }
  }
}
for (let i = 0; i < 200; i++) values.push(value(`random document ${i}`, randomValue(0)));

// Example documents: Phoenix's content_hash over {"input","metadata","output"}.
const examples: ExampleVector[] = [
  example("empty example", {}, {}, {}),
  example("simple qa", { question: "What is 2+2?" }, { answer: "4" }, {}),
  example("metadata and floats", { q: "Größe?", turns: [{ role: "user", score: 0.1 + 0.2 }] }, { a: [1e21, -0, 2 ** 60] }, { tags: ["t", "\u{1f600}"], temperature: 0.7 }),
  example("unicode keys", { "\uff61": 1, "\u{1f600}": 2 }, { "\u2028": "\u2029" }, { "": null }),
];
for (let i = 0; i < 100; i++) {
  const obj = (): { [key: string]: Json } => {
    const v = randomValue(1);
    return v !== null && typeof v === "object" && !Array.isArray(v) ? v : { v };
  };
  examples.push(example(`random example ${i}`, obj(), obj(), obj()));
}

// Inputs every canonicalizer here must reject.
const invalid: InvalidVector[] = [
  { name: "lone high surrogate", json: '"\\ud800"', error: "lone_surrogate" },
  { name: "lone low surrogate", json: '{"a": "x\\udc00y"}', error: "lone_surrogate" },
  { name: "lone surrogate key", json: '{"\\udbff": 1}', error: "lone_surrogate" },
  { name: "reversed pair", json: '"\\ude00\\ud83d"', error: "lone_surrogate" },
  { name: "overflowing number", json: "[1e400]", error: "number_out_of_range" },
  { name: "overflowing integer", json: "1" + "0".repeat(400), error: "number_out_of_range" },
  { name: "NaN literal", json: "[NaN]", error: "invalid_json" },
  { name: "Infinity literal", json: "[Infinity]", error: "invalid_json" },
  { name: "trailing comma", json: "[1,]", error: "invalid_json" },
  { name: "truncated", json: '{"a": [1, 2', error: "invalid_json" },
  { name: "raw control character", json: '"a\u0001b"', error: "invalid_json" },
];

// No tool versions in the file: the vectors must not drift with them.
const out = { generator: "golden_vectors/generate.ts", values, examples, invalid };
const target = fileURLToPath(new URL("./vectors.json", import.meta.url));
writeFileSync(target, JSON.stringify(out, null, 1) + "\n");
console.log(`wrote ${values.length} value vectors, ${examples.length} example vectors, ${invalid.length} invalid inputs to ${target}`);
