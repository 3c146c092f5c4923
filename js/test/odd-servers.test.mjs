// Odd and lying servers, from the same table of cases as Python's tests
// (tests/sync/odd_servers.py): a proxy in front of a real Phoenix cuts the export short at a
// line, duplicates a line, caches reads, reverses the versions, or answers with another
// dataset's record. Each backend in PU_TEST_BACKENDS; the dataset ends exactly as the source,
// or the sync fails with the error the case names having written nothing.
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { after, before, describe, test } from "node:test";

import { createClient } from "@arizeai/phoenix-client";
import * as pu from "phoenix-upsert";
import { python, repo } from "./helpers.mjs";
import { backends, exported, pastThisSecond, skipServer, startPhoenix } from "./phoenix.mjs";

const table = skipServer
  ? { cases: [] }
  : JSON.parse(
      execFileSync(python, ["-m", "tests.sync.odd_servers", "--list"], {
        cwd: repo,
        encoding: "utf8",
      }),
    );

/** Start the case's proxy in front of `port`: `{ url, stop }`. */
async function startProxy(name, port) {
  const child = spawn(python, ["-m", "tests.sync.odd_servers", name, String(port)], {
    cwd: repo,
    stdio: ["pipe", "pipe", "inherit"],
  });
  const lines = createInterface({ input: child.stdout });
  const proxyPort = await new Promise((resolve, reject) => {
    child.once("exit", (code) => reject(new Error(`proxy ${name} exited with ${code}`)));
    lines.once("line", resolve);
  });
  const exited = new Promise((resolve) => child.once("exit", resolve));
  return {
    url: `http://127.0.0.1:${proxyPort}`,
    async stop() {
      child.stdin.end();
      await exited;
    },
  };
}

async function versionCount(url, datasetId) {
  const response = await fetch(`${url}/v1/datasets/${datasetId}/versions?limit=1000`);
  return (await response.json()).data.length;
}

let counter = 0;
const sync = (client, examples, dataset) =>
  pu.upsertDataset({ client, dataset, examples: structuredClone(examples), manifest: false });

for (const backend of backends) {
  describe(`odd servers on ${backend}`, { skip: skipServer }, () => {
    let phoenix;
    before(async () => {
      phoenix = await startPhoenix(backend);
    });
    after(async () => {
      await phoenix?.stop();
    });

    test("a temp manifest left by a killed process is removed by the next save", async () => {
      const dir = mkdtempSync(join(tmpdir(), "pu-js-sweep-"));
      try {
        const old = join(dir, ".manifest-killed.tmp");
        const fresh = join(dir, ".manifest-writing.tmp");
        writeFileSync(old, "partial");
        writeFileSync(fresh, "partial");
        const twoHoursAgo = Date.now() / 1000 - 7200;
        utimesSync(old, twoHoursAgo, twoHoursAgo);
        const client = createClient({ options: { baseUrl: phoenix.url } });
        const dataset = { datasetName: `js-sweep-${process.pid}-${++counter}` };
        await pu.upsertDataset({ client, dataset, examples: table.seed, manifest: dir });
        await pastThisSecond(phoenix.url); // past the version's second
        await pu.upsertDataset({ client, dataset, examples: table.seed, manifest: dir });
        assert.ok(
          readdirSync(dir).some((f) => f.endsWith(".json.gz")),
          "no manifest saved",
        );
        assert.ok(!existsSync(old), "a stale temp file is left");
        assert.ok(existsSync(fresh), "a temp file another process may be writing was removed");
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });

    test("a repeated example without id is named at once in a merge, and written by a mirror", async () => {
      const client = createClient({ options: { baseUrl: phoenix.url } });
      const dataset = { datasetName: `js-copies-${process.pid}-${++counter}` };
      const a = { input: { q: 1 }, output: { a: 1 } };
      const b = { input: { q: 2 }, output: { a: 2 } };
      const run = (examples, mode) =>
        pu.upsertDataset({ client, dataset, examples, sourceIdKey: null, mode, manifest: false });
      const { datasetId } = await run([a], "merge");
      const versions = await versionCount(phoenix.url, datasetId);
      await assert.rejects(
        run([a, a, b], "merge"),
        (e) =>
          e instanceof pu.DuplicateContentError && e.index === 1 && /example 1/.test(e.message),
      );
      assert.equal(await versionCount(phoenix.url, datasetId), versions);
      const result = await run([a, a, b], "mirror");
      assert.equal(result.action, "update");
      assert.equal(result.attempts, 1);
      assert.equal((await exported(phoenix.url, datasetId)).length, 3);
      assert.equal((await run([a, a, b], "mirror")).action, "none");
    });

    for (const fault of table.faults ?? []) {
      test(`a transient fault is survived: ${fault}`, async () => {
        const direct = createClient({ options: { baseUrl: phoenix.url } });
        const proxy = await startProxy(`fault:${fault}`, new URL(phoenix.url).port);
        try {
          const proxied = createClient({ options: { baseUrl: proxy.url } });
          const dataset = { datasetName: `js-fault-${process.pid}-${++counter}` };
          const { datasetId } = await sync(direct, table.faultV1, dataset);
          const versions = await versionCount(phoenix.url, datasetId);
          const result = await sync(proxied, table.faultV2, dataset);
          assert.deepEqual(result.summary, { added: 1, updated: 1, deleted: 1, unchanged: 18 });
          const stored = new Map((await exported(phoenix.url, datasetId)).map((r) => [r.id, r]));
          assert.equal(stored.size, table.faultV2.length, "examples lost or duplicated");
          for (const row of table.faultV2) assert.deepEqual(stored.get(row.id).output, row.output);
          assert.equal(await versionCount(phoenix.url, datasetId), versions + 1);
          assert.equal((await sync(proxied, table.faultV2, dataset)).action, "none");
        } finally {
          await proxy.stop();
        }
      });
    }

    for (const c of table.cases ?? []) {
      test(`${c.name}: ${c.what}`, async () => {
        const direct = createClient({ options: { baseUrl: phoenix.url } });
        const proxy = await startProxy(c.name, new URL(phoenix.url).port);
        try {
          const proxied = createClient({ options: { baseUrl: proxy.url } });
          const name = `js-odd-${c.name}-${process.pid}-${++counter}`;
          const { datasetId } = await sync(direct, table.seed, { datasetName: name });
          if (c.expect === "exact") await sync(proxied, table.seed, { datasetId });
          // Another writer, directly: the first example edited, one example added.
          await sync(direct, [table.editedFirst, ...table.seed.slice(1), table.other], {
            datasetName: name,
          });
          const versions = await versionCount(phoenix.url, datasetId);
          if (c.expect === "exact") {
            const result = await sync(proxied, table.seed, { datasetId });
            assert.notEqual(
              result.action,
              "none",
              "reported up to date on another writer's content",
            );
            const stored = await exported(phoenix.url, datasetId);
            assert.deepEqual(stored.map((r) => r.id).sort(), table.seed.map((r) => r.id).sort());
            const byId = new Map(stored.map((r) => [r.id, r]));
            for (const row of table.seed) assert.deepEqual(byId.get(row.id).output, row.output);
            await sync(proxied, table.seed, { datasetId });
            assert.equal(await versionCount(phoenix.url, datasetId), versions + 1);
          } else {
            await assert.rejects(
              sync(proxied, table.seed, { datasetId }),
              (e) => e instanceof pu[c.expect] && new RegExp(c.message).test(e.message),
            );
            assert.equal(
              await versionCount(phoenix.url, datasetId),
              versions,
              "wrote despite the error",
            );
          }
        } finally {
          await proxy.stop();
        }
      });
    }
  });
}
