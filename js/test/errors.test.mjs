// Bad input: each kind JavaScript or the core refuses is its typed error, naming the example
// (index) and the JSON path; a panic of the core is an InternalError and the module goes on.
import assert from "node:assert/strict";
import { test } from "node:test";

import * as pu from "phoenix-upsert";
import { panicForTests } from "../dist/core.js";

const ok = () => ({ id: "ok", input: {}, output: {} });

/** Scan [ok, bad] and return the error, checked to be of `cls` at example 1 and `path`. */
function refused(bad, cls, path, options = { sourceIdKey: "id" }) {
  let error;
  assert.throws(
    () => pu.scanExamples([ok(), bad], options),
    (e) => {
      error = e;
      return true;
    },
  );
  assert.ok(error instanceof cls, `${error?.constructor?.name}: ${error?.message}`);
  assert.ok(error instanceof pu.InvalidInputError);
  assert.ok(error instanceof pu.PhoenixUpsertError);
  assert.equal(error.name, cls.name);
  assert.equal(error.index, 1, error.message);
  assert.equal(error.path, path, error.message);
  assert.equal(error.line, null);
  assert.ok(error.message.startsWith(`example 1`), error.message);
  return error;
}

const ex = (input, extra = {}) => ({ id: "b", input, output: {}, ...extra });

test("what JSON cannot carry exactly is refused before hashing", () => {
  refused(ex({ a: { b: NaN } }), pu.NonFiniteNumberError, "input.a.b");
  refused(ex({ xs: [1, Infinity] }), pu.NonFiniteNumberError, "input.xs[1]");
  refused(ex({ n: -Infinity }), pu.NonFiniteNumberError, "input.n");
  refused(ex({ n: new Number(NaN) }), pu.NonFiniteNumberError, "input.n");
  refused(ex({ big: 12n }), pu.NonJSONTypeError, "input.big");
  refused(ex({ xs: [undefined] }), pu.NonJSONTypeError, "input.xs[0]");
  refused(ex({ f: () => 1 }), pu.NonJSONTypeError, "input.f");
  refused(ex({ xs: [Symbol("s")] }), pu.NonJSONTypeError, "input.xs[0]");
  refused(ex({ m: new Map([[1, 2]]) }), pu.NonJSONTypeError, "input.m");
  refused(ex({ s: new Set([1]) }), pu.NonJSONTypeError, "input.s");
  refused(ex({ b: new Uint8Array(2) }), pu.NonJSONTypeError, "input.b");
  refused(ex({ "a key": { r: /x/ } }), pu.NonJSONTypeError, 'input["a key"].r');
  const cyclic = ex({ a: {} });
  cyclic.input.a.again = cyclic.input;
  refused(cyclic, pu.CircularReferenceError, "input.a.again");
  const selfish = ex({});
  selfish.output.me = selfish;
  refused(selfish, pu.CircularReferenceError, "output.me");
});

test("lone surrogates are escaped by stringify and refused by the core's parser", () => {
  refused(ex({ s: "x\ud800" }), pu.LoneSurrogateError, "input.s");
  refused(ex({ ["k\udc00"]: 1 }), pu.LoneSurrogateError, "input");
  assert.throws(() => pu.canonicalize("\udfff"), pu.LoneSurrogateError);
  assert.throws(() => pu.canonicalizeJson('"\ud800"'), pu.LoneSurrogateError);
  assert.throws(
    () => pu.scanJsonl('{"input": {"s": "\ud800"}, "output": {}}'),
    (e) => {
      assert.ok(e instanceof pu.LoneSurrogateError);
      assert.equal(e.line, 1);
      return true;
    },
  );
});

test("the example schema is the core's", () => {
  refused(ex([]), pu.InvalidExampleError, "input");
  refused({ id: "b", input: {} }, pu.InvalidExampleError, "");
  refused(ex({ s: "a\u0000" }), pu.NullCharacterError, "input.s");
  refused(ex({ n: 1e300 }), pu.NumberOutOfRangeError, "input.n");
  refused(ex({}, { id: 1.5 }), pu.InvalidSourceIdError, "");
  refused({ input: {}, output: {} }, pu.MissingSourceIdError, "");
  refused(ex({}, { splits: [1] }), pu.InvalidExampleError, "splits[0]", {
    sourceIdKey: "id",
    splitsKey: "splits",
  });
  let deep = {};
  for (let i = 0; i < 150; i++) deep = { d: deep };
  refused(ex(deep), pu.NestingTooDeepError, `input${".d".repeat(100)}`);
  for (const notAnObject of [1, "x", null, []]) {
    refused(notAnObject, pu.InvalidExampleError, "");
  }
  assert.throws(() => pu.scanExamples([ok(), undefined]), pu.InvalidExampleError);
});

test("undefined properties are left out, toJSON is honoured (what stringify sends)", () => {
  const a = pu.scanExamples([{ input: { x: 1, gone: undefined }, output: {} }]).hashes;
  const b = pu.scanExamples([{ input: { x: 1 }, output: {} }]).hashes;
  assert.deepEqual(a, b);
  const when = new Date(0);
  assert.equal(pu.canonicalize({ when }), '{"when":"1970-01-01T00:00:00.000Z"}');
});

test("duplicate source ids name the examples", () => {
  assert.throws(
    () => pu.scanExamples([ok(), ex({}), ok()], { sourceIdKey: "id" }),
    (e) => {
      assert.ok(e instanceof pu.DuplicateSourceIdError);
      assert.deepEqual(e.ids, ["ok"]);
      assert.match(e.message, /example 0, example 2/);
      return true;
    },
  );
});

test("JSONL errors name the line and column", () => {
  assert.throws(
    () => pu.scanJsonl('{"input": {}, "output": {}}\n\n{"input": {}, "output": nope}\n'),
    (e) => {
      assert.ok(e instanceof pu.JSONLSyntaxError);
      assert.ok(e instanceof pu.JSONSyntaxError);
      assert.equal(e.line, 3);
      assert.equal(typeof e.column, "number");
      return true;
    },
  );
  const bad = new Uint8Array([
    ...new TextEncoder().encode('{"input": {"a": "'),
    0xff,
    0x22,
    0x7d,
    0x7d,
  ]);
  assert.throws(() => pu.scanJsonl(bad), pu.JSONLEncodingError);
  assert.throws(
    () => pu.canonicalizeJson(new Uint8Array([0x22, 0xff, 0x22])),
    pu.JSONEncodingError,
  );
  assert.throws(
    () => pu.scanJsonl('{"input": {}, "output": {"a": "long"}}', { maxLineBytes: 10 }),
    pu.LineTooLongError,
  );
});

test("wrong arguments are TypeErrors and RangeErrors", () => {
  assert.throws(() => pu.diff([["n", null]], []), TypeError);
  assert.throws(() => pu.diff([], [[null, "not a hash"]]), TypeError);
  assert.throws(() => pu.scanJsonl("", { idKey: "input" }), RangeError);
  assert.throws(() => pu.scanJsonl("", { maxLineBytes: 0 }), RangeError);
});

test("a panic of the core is an InternalError, and the module works after it", () => {
  assert.throws(
    () => panicForTests("on purpose"),
    (e) => {
      assert.ok(e instanceof pu.InternalError);
      assert.ok(e instanceof pu.PhoenixUpsertError);
      assert.match(
        e.message,
        /^bug in phoenix-upsert's native core \(please report it\): on purpose/,
      );
      return true;
    },
  );
  for (let i = 0; i < 3; i++) {
    assert.throws(() => panicForTests(`again ${i}`), pu.InternalError);
  }
  assert.equal(pu.canonicalize({ b: 1, a: 2 }), '{"a":2,"b":1}');
  assert.equal(pu.scanExamples([ok()], { sourceIdKey: "id" }).ids[0], "ok");
});
