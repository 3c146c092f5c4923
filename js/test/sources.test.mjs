// JSONL sources besides a local path: gzip (by its magic bytes), file: URLs and http(s) URLs
// served by a real local HTTP server; each read gives the scan of the plain file, and what
// cannot be read is its typed error.
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { gzipSync } from "node:zlib";
import { test } from "node:test";

import * as pu from "phoenix-upsert";
import { readSource } from "../dist/source.js";

const dir = mkdtempSync(join(tmpdir(), "pu-sources-"));
const lines =
  Array.from({ length: 50 }, (_, i) =>
    JSON.stringify({ id: `q${i}`, input: { q: `é\n${i}` }, output: { a: i }, split: "train" }),
  ).join("\n") + "\n";
const plain = join(dir, "plain.jsonl");
writeFileSync(plain, lines);
const gz = join(dir, "data.jsonl.gz");
writeFileSync(gz, gzipSync(Buffer.from(lines)));
const options = { sourceIdKey: "id", splitsKey: "split", spanIdKey: null };

async function summary(path) {
  const s = await readSource(path, options);
  return { ids: s.ids, hashes: s.hashes, splits: s.splits, body: s.parts([0, 7, 49], 0) };
}

test("gzip, file: URLs and http(s) URLs read as the plain file", async () => {
  const expected = await summary(plain);
  assert.equal(expected.hashes.length, 50);
  assert.deepEqual(await summary(gz), expected);
  assert.deepEqual(await summary(pathToFileURL(gz)), expected);
  const server = createServer((req, res) => {
    if (req.url === "/data.jsonl.gz") res.end(gzipSync(Buffer.from(lines)));
    else if (req.url === "/secret.jsonl") res.writeHead(403).end("no");
    else if (req.url === "/broken.jsonl.gz") res.end(Buffer.from([0x1f, 0x8b, 1, 2, 3]));
    else res.writeHead(404).end("not here");
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const base = `http://127.0.0.1:${server.address().port}`;
  try {
    assert.deepEqual(await summary(`${base}/data.jsonl.gz`), expected);
    assert.deepEqual(await summary(new URL(`${base}/data.jsonl.gz`)), expected);
    await assert.rejects(summary(`${base}/missing.jsonl`), pu.SourceNotFoundError);
    await assert.rejects(summary(`${base}/secret.jsonl`), pu.SourceAccessError);
    await assert.rejects(summary(`${base}/broken.jsonl.gz`), /not valid gzip/);
  } finally {
    await new Promise((resolve) => server.close(resolve));
  }
  // Nothing listens there any more: a network error, not bad input.
  await assert.rejects(summary(`${base}/data.jsonl.gz`), (e) => {
    assert.ok(e instanceof pu.SourceUnreachableError, String(e));
    assert.ok(e instanceof pu.SourceReadError);
    return true;
  });
  await assert.rejects(summary(join(dir, "nope.jsonl")), pu.SourceNotFoundError);
});
