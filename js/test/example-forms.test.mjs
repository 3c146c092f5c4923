// phoenix-client's own `Example` as `upsertDataset` reads it, without a server: `output` and
// `metadata` missing or null are `{}` (as `createDataset` sends them), `spanId` is the span id
// (and `span_id`; both given and different: a typed error), the caller's objects untouched; a
// dataset name with U+0000 or a lone surrogate is refused before any request.
import assert from "node:assert/strict";
import { test } from "node:test";

import * as pu from "phoenix-upsert";
import { readSource } from "../dist/source.js";

const read = (examples, options = {}) =>
  readSource(examples, {
    sourceIdKey: "id",
    splitsKey: "splits",
    spanIdKey: undefined,
    ...options,
  });

test("output and metadata missing or null hash as {}", async () => {
  const full = await readSource([{ id: "a", input: { q: 1 }, output: {}, metadata: {} }], {
    sourceIdKey: "id",
    splitsKey: null,
    spanIdKey: null,
  });
  for (const example of [
    { id: "a", input: { q: 1 } },
    { id: "a", input: { q: 1 }, output: null, metadata: null },
    { id: "a", input: { q: 1 }, output: undefined, metadata: {} },
    { id: "a", input: { q: 1 }, output: {}, metadata: null },
  ]) {
    const frozen = Object.freeze({ ...example });
    const s = await read([frozen]);
    assert.deepEqual(s.hashes, full.hashes, JSON.stringify(example));
    assert.equal(s.parts([0], 1), "{}");
    assert.equal(s.parts([0], 2), "{}");
  }
  assert.equal(full.hashes[0], pu.contentHash({ input: { q: 1 }, output: {}, metadata: {} }));
});

test("spanId is read by default, span_id too; both and different is a typed error", async () => {
  const s = await read([
    { id: "a", input: {}, spanId: "0123456789abcdef" },
    { id: "b", input: {}, span_id: "fedcba9876543210" },
    { id: "c", input: {}, spanId: "1111111111111111", span_id: "1111111111111111" },
    { id: "d", input: {}, spanId: null },
  ]);
  assert.deepEqual(s.spanIds, ["0123456789abcdef", "fedcba9876543210", "1111111111111111", null]);
  await assert.rejects(
    read([
      { id: "a", input: {} },
      { id: "b", input: {}, spanId: "x1", span_id: "x2" },
    ]),
    (e) => {
      assert.ok(e instanceof pu.InvalidExampleError, String(e));
      assert.equal(e.index, 1);
      assert.match(e.message, /example 1: spanId "x1" and span_id "x2" differ/);
      return true;
    },
  );
  // An explicit spanIdKey reads that key only.
  const only = await read([{ id: "a", input: {}, spanId: "x1", span_id: "x2" }], {
    spanIdKey: "span_id",
  });
  assert.deepEqual(only.spanIds, ["x2"]);
  const none = await read([{ id: "a", input: {}, spanId: "x1" }], { spanIdKey: null });
  assert.equal(none.spanIds, null);
});

test("a name, id or description with U+0000 or a lone surrogate is refused before sending", async () => {
  const requests = [];
  const client = {
    GET: async (path) => {
      requests.push(path);
      throw new Error("no request may be sent");
    },
    POST: async (path) => {
      requests.push(path);
      throw new Error("no request may be sent");
    },
    use() {},
  };
  const examples = [{ id: "a", input: {} }];
  for (const [dataset, extra, kind] of [
    [{ datasetName: "bad\u0000name" }, {}, pu.NullCharacterError],
    [{ datasetId: "RGF0YXNldDox\u0000" }, {}, pu.NullCharacterError],
    [{ datasetName: "ok" }, { datasetDescription: "d\u0000" }, pu.NullCharacterError],
    [{ datasetName: "lone \ud800 surrogate" }, {}, pu.LoneSurrogateError],
  ]) {
    await assert.rejects(upsert(client, dataset, examples, extra), (e) => {
      assert.ok(e instanceof kind, String(e));
      assert.ok(e instanceof pu.InvalidInputError);
      assert.match(e.message, /nothing was sent/);
      return true;
    });
  }
  assert.deepEqual(requests, []);
});

const upsert = (client, dataset, examples, extra) =>
  pu.upsertDataset({ client, dataset, examples, manifest: false, ...extra });

test("HTTP 403 keeps the server's reason beside the hint", async () => {
  // A scripted server answering as Phoenix answers a viewer's key (the Python tests use a
  // real viewer's key against Phoenix with authentication on).
  const { createServer } = await import("node:http");
  const { createClient } = await import("@arizeai/phoenix-client");
  const server = createServer((req, res) => {
    res.writeHead(403, { "content-type": "application/json" });
    res.end(JSON.stringify({ detail: "Viewers cannot perform this action." }));
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  try {
    const client = createClient({
      options: { baseUrl: `http://127.0.0.1:${server.address().port}` },
    });
    await assert.rejects(
      upsert(client, { datasetName: "v" }, [{ id: "a", input: {} }], { retries: 1 }),
      (e) => {
        assert.ok(e instanceof pu.AuthenticationError, String(e));
        assert.equal(e.statusCode, 403);
        assert.match(e.message, /HTTP 403: Viewers cannot perform this action\./);
        assert.match(e.message, /PHOENIX_API_KEY/);
        return true;
      },
    );
  } finally {
    await new Promise((resolve) => server.close(resolve));
  }
});
