// The wasm build reproduces the golden vectors (generated with JavaScript and the npm
// canonicalize package) and the RFC 8785 reference files.
import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import { test } from "node:test";

import {
  canonicalize,
  canonicalizeJson,
  contentHash,
  JSONSyntaxError,
  LoneSurrogateError,
  NumberOutOfRangeError,
  scanExamples,
  scanJsonl,
} from "phoenix-upsert";
import { golden } from "./helpers.mjs";

const vectors = JSON.parse(readFileSync(`${golden}vectors.json`, "utf8"));

test("values: canonical JSON of each JSON text", () => {
  assert.ok(vectors.values.length > 200);
  for (const v of vectors.values) {
    assert.equal(canonicalizeJson(v.json), v.canonical, v.name);
    assert.equal(canonicalizeJson(new TextEncoder().encode(v.json)), v.canonical, v.name);
  }
});

test("values: canonical JSON of the parsed value, where JavaScript can hold it", () => {
  for (const v of vectors.values) {
    const value = JSON.parse(v.json);
    assert.equal(canonicalize(value), v.canonical, v.name);
  }
});

test("examples: canonical JSON and content hash", () => {
  assert.ok(vectors.examples.length > 100);
  for (const v of vectors.examples) {
    const parsed = JSON.parse(v.json);
    const { input, output, metadata } = parsed;
    assert.equal(contentHash({ input, output, metadata }), v.content_hash, v.name);
    assert.equal(canonicalize({ input, output, metadata }), v.canonical, v.name);
    assert.equal(scanJsonl(v.json).hashes[0], v.content_hash, v.name);
    assert.equal(scanExamples([parsed], { storable: false }).hashes[0], v.content_hash, v.name);
  }
});

test("invalid JSON texts are typed errors", () => {
  const classes = {
    lone_surrogate: LoneSurrogateError,
    number_out_of_range: NumberOutOfRangeError,
    invalid_json: JSONSyntaxError,
  };
  for (const v of vectors.invalid) {
    assert.throws(() => canonicalizeJson(v.json), classes[v.error], v.name);
  }
});

test("RFC 8785 reference files", () => {
  const names = readdirSync(`${golden}jcs/input`).filter((n) => n.endsWith(".json"));
  assert.ok(names.length >= 6);
  for (const name of names) {
    const input = readFileSync(`${golden}jcs/input/${name}`);
    const expected = readFileSync(`${golden}jcs/output/${name}`, "utf8");
    assert.equal(canonicalizeJson(input), expected, name);
  }
});
