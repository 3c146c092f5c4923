// upsertDataset against a real Phoenix (one per backend; the *.test.mjs files name it): the
// seed flow, no-op, dry run, merge, deletion, splits, JSONL files, bad input, faults, a race
// with another writer, and the cross-SDK no-ops with Python's client on the same server.
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, describe, test } from "node:test";
import { execFileSync } from "node:child_process";

import {
  DuplicateSourceIdError,
  EmptySourceError,
  InvalidSourceIdError,
  MissingSourceIdError,
  NonFiniteNumberError,
  ServerError,
  SourceNotFoundError,
  upsertDataset,
} from "phoenix-upsert";
import { runPython } from "./helpers.mjs";
import {
  exported,
  pastThisSecond,
  pythonClient,
  recordingClient,
  skipServer,
  startPhoenix,
} from "./phoenix.mjs";

let counter = 0;
const unique = (what) => `js-${what}-${process.pid}-${++counter}`;

/** `n` examples with ids q0..q{n-1}; the output of each depends on `version`. */
function examples(n, version = 1) {
  return Array.from({ length: n }, (_, i) => ({
    id: `q${i}`,
    input: { question: `what is ${i} + ${i}?`, nested: { z: 1, a: [i, "é", null] } },
    output: { answer: String(2 * i), version },
    metadata: { i },
  }));
}

const strip = ({ input, output, metadata }) => ({ input, output, metadata });

export function suite(backend) {
  describe(`upsertDataset on ${backend}`, { skip: skipServer }, () => {
    let phoenix;
    let url;
    let dir;
    before(async () => {
      phoenix = await startPhoenix(backend);
      url = phoenix.url;
      dir = mkdtempSync(join(tmpdir(), "phoenix-upsert-js-"));
    });
    after(async () => {
      await phoenix?.stop();
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    test("seed flow: create, then a no-op writes nothing and keeps the version", async () => {
      const { client, requests, writes } = recordingClient(url);
      const name = unique("seed");
      const v1 = await upsertDataset({
        client,
        dataset: { datasetName: name },
        examples: examples(5),
      });
      assert.equal(v1.action, "create");
      assert.deepEqual(v1.summary, { added: 5, updated: 0, deleted: 0, unchanged: 0 });
      assert.equal(v1.plan.baseVersionId, null);
      assert.equal(v1.datasetName, name);
      assert.ok(v1.versionId);
      assert.equal(writes().length, 1);
      const rows = await exported(url, v1.datasetId);
      assert.deepEqual(
        rows.map((r) => r.id),
        ["q0", "q1", "q2", "q3", "q4"],
      );
      assert.deepEqual(
        rows.map((r) => ({ input: r.input, output: r.output, metadata: r.metadata })),
        examples(5).map(strip),
      );
      // The key order of the source is the one stored (PostgreSQL's jsonb sorts keys).
      if (backend === "sqlite") assert.deepEqual(Object.keys(rows[0].input.nested), ["z", "a"]);

      requests.length = 0;
      const again = await upsertDataset({
        client,
        dataset: { datasetName: name },
        examples: examples(5),
      });
      assert.equal(again.action, "none");
      assert.equal(again.versionId, v1.versionId);
      assert.equal(again.datasetId, v1.datasetId);
      assert.deepEqual(again.summary, { added: 0, updated: 0, deleted: 0, unchanged: 5 });
      assert.deepEqual(writes(), []);
      // A version newer than the second the dataset's record was read in is checked against
      // the version's examples too (the count may predate it): right after our own write,
      // the server's Date header (whole seconds, refreshed once a second) may say so.
      const read = [
        "GET /v1/datasets",
        `GET /v1/datasets/${v1.datasetId}/versions`,
        `GET /v1/datasets/${v1.datasetId}/jsonl`,
      ];
      const checked = [...read, `GET /v1/datasets/${v1.datasetId}/examples`];
      assert.ok(
        JSON.stringify(requests) === JSON.stringify(read) ||
          JSON.stringify(requests) === JSON.stringify(checked),
        JSON.stringify(requests),
      );
    });

    test("append for new and changed examples, on the version it read; by id as well", async () => {
      const { client, writes } = recordingClient(url);
      const name = unique("append");
      const v1 = await upsertDataset({
        client,
        dataset: { datasetName: name },
        examples: examples(4),
      });
      const next = examples(5);
      next[1].output.answer = "changed";
      const v2 = await upsertDataset({
        client,
        dataset: { datasetId: v1.datasetId },
        examples: next,
      });
      assert.equal(v2.action, "append");
      assert.deepEqual(v2.summary, { added: 1, updated: 1, deleted: 0, unchanged: 3 });
      assert.deepEqual(v2.plan.added, ["q4"]);
      assert.deepEqual(v2.plan.updated, ["q1"]);
      assert.equal(v2.plan.baseVersionId, v1.versionId);
      assert.notEqual(v2.versionId, v1.versionId);
      assert.equal(v2.attempts, 1);
      assert.equal(v2.concurrentWriter, false);
      assert.equal(writes().length, 2);
      const rows = await exported(url, v1.datasetId);
      assert.deepEqual(rows.map(strip), next.map(strip));
    });

    test("a deletion is one update with the full snapshot", async () => {
      const { client, writes } = recordingClient(url);
      const name = unique("delete");
      const v1 = await upsertDataset({
        client,
        dataset: { datasetName: name },
        examples: examples(6),
      });
      const fewer = examples(6).filter((_, i) => i !== 2 && i !== 4);
      const v2 = await upsertDataset({ client, dataset: { datasetName: name }, examples: fewer });
      assert.equal(v2.action, "update");
      assert.deepEqual(v2.summary, { added: 0, updated: 0, deleted: 2, unchanged: 4 });
      assert.deepEqual(v2.plan.deleted.sort(), ["q2", "q4"]);
      assert.equal(writes().length, 2);
      const rows = await exported(url, v1.datasetId);
      assert.deepEqual(rows.map((r) => r.id).sort(), ["q0", "q1", "q3", "q5"]);
      const v3 = await upsertDataset({ client, dataset: { datasetName: name }, examples: fewer });
      assert.equal(v3.action, "none");
      assert.equal(v3.versionId, v2.versionId);
      assert.equal(writes().length, 2);
    });

    test("merge adds and updates, never deletes", async () => {
      const { client } = recordingClient(url);
      const name = unique("merge");
      await upsertDataset({ client, dataset: { datasetName: name }, examples: examples(4) });
      const some = [examples(6)[5], { ...examples(4)[0], output: { answer: "new" } }];
      const v2 = await upsertDataset({
        client,
        dataset: { datasetName: name },
        examples: some,
        mode: "merge",
      });
      assert.equal(v2.action, "append");
      assert.deepEqual(v2.summary, { added: 1, updated: 1, deleted: 0, unchanged: 0 });
      const rows = await exported(url, v2.datasetId);
      assert.deepEqual(rows.map((r) => r.id).sort(), ["q0", "q1", "q2", "q3", "q5"]);
      const v3 = await upsertDataset({
        client,
        dataset: { datasetName: name },
        examples: some,
        mode: "merge",
      });
      assert.equal(v3.action, "none");
      assert.equal(v3.versionId, v2.versionId);
    });

    test("dry run: the plan, nothing written", async () => {
      const { client, writes } = recordingClient(url);
      const name = unique("dry");
      const plan0 = await upsertDataset({
        client,
        dataset: { datasetName: name },
        examples: examples(3),
        dryRun: true,
      });
      assert.equal(plan0.dryRun, true);
      assert.equal(plan0.action, "create");
      assert.equal(plan0.datasetId, null);
      assert.equal(plan0.versionId, null);
      assert.deepEqual(plan0.summary, { added: 3, updated: 0, deleted: 0, unchanged: 0 });
      assert.deepEqual(writes(), []);
      const v1 = await upsertDataset({
        client,
        dataset: { datasetName: name },
        examples: examples(3),
      });
      assert.equal(v1.action, "create"); // the dry run created nothing
      const plan1 = await upsertDataset({
        client,
        dataset: { datasetName: name },
        examples: examples(2),
        dryRun: true,
      });
      assert.equal(plan1.action, "update");
      assert.deepEqual(plan1.plan.deleted, ["q2"]);
      assert.equal(plan1.versionId, v1.versionId);
      assert.equal(writes().length, 1);
      assert.equal((await exported(url, v1.datasetId)).length, 3);
    });

    test("splits: written, a split-only change is an update of that example, then a no-op", async () => {
      const { client, writes } = recordingClient(url);
      const name = unique("splits");
      const source = examples(4).map((e, i) => ({
        ...e,
        split: i % 2 ? ["test", " train "] : "train",
      }));
      const v1 = await upsertDataset({
        client,
        dataset: { datasetName: name },
        examples: source,
        splitsKey: "split",
      });
      assert.equal(v1.action, "create");
      let rows = await exported(url, v1.datasetId);
      assert.deepEqual(
        rows.map((r) => [...r.splits].sort()),
        [["train"], ["test", "train"], ["train"], ["test", "train"]],
      );
      source[0].split = ["dev"];
      const v2 = await upsertDataset({
        client,
        dataset: { datasetName: name },
        examples: source,
        splitsKey: "split",
      });
      assert.equal(v2.action, "append");
      assert.deepEqual(v2.plan.splitChanges, ["q0"]);
      assert.deepEqual(v2.summary, { added: 0, updated: 1, deleted: 0, unchanged: 3 });
      rows = await exported(url, v1.datasetId);
      assert.deepEqual(rows.find((r) => r.id === "q0").splits, ["dev"]);
      const v3 = await upsertDataset({
        client,
        dataset: { datasetName: name },
        examples: source,
        splitsKey: "split",
      });
      assert.equal(v3.action, "none");
      assert.equal(writes().length, 2);
      // Without a splits key, the server's splits stay as they are.
      const v4 = await upsertDataset({ client, dataset: { datasetName: name }, examples: source });
      assert.equal(v4.action, "none");
    });

    test("a JSONL file, an async iterable and a sourceIdKey function sync alike", async () => {
      const { client, writes } = recordingClient(url);
      const name = unique("jsonl");
      const path = join(dir, `${name}.jsonl`);
      // As written: key order, number forms and escapes (the upload sends the line's parts).
      const lines = examples(3).map((e) => JSON.stringify(e));
      lines[1] = lines[1].replace('"answer":"2"', '"answer":"\\u0032","f":1.50,"g":1e2');
      writeFileSync(path, lines.join("\r\n") + "\n");
      const v1 = await upsertDataset({ client, dataset: { datasetName: name }, examples: path });
      assert.equal(v1.action, "create");
      const rows = await exported(url, v1.datasetId);
      assert.deepEqual(rows[1].output, { answer: "2", version: 1, f: 1.5, g: 100 });
      async function* generate() {
        for (const line of lines) yield JSON.parse(line);
      }
      const v2 = await upsertDataset({
        client,
        dataset: { datasetName: name },
        examples: generate(),
      });
      assert.equal(v2.action, "none");
      const byFunction = lines.map((l) => {
        const { id, ...rest } = JSON.parse(l);
        return { ...rest, key: id.toUpperCase() };
      });
      const v3 = await upsertDataset({
        client,
        dataset: { datasetName: name },
        examples: byFunction,
        sourceIdKey: (e) => e.key.toLowerCase(),
      });
      assert.equal(v3.action, "none");
      assert.equal(v3.versionId, v1.versionId);
      assert.equal(writes().length, 1);
    });

    test("without source ids, examples are matched by content", async () => {
      const { client } = recordingClient(url);
      const name = unique("content");
      const source = examples(3).map(strip);
      await upsertDataset({
        client,
        dataset: { datasetName: name },
        examples: source,
        sourceIdKey: null,
      });
      const v2 = await upsertDataset({
        client,
        dataset: { datasetName: name },
        examples: [source[2], source[0], { input: { q: 1 }, output: { a: 2 } }],
        sourceIdKey: null,
      });
      assert.equal(v2.action, "update");
      assert.deepEqual(v2.summary, { added: 1, updated: 0, deleted: 1, unchanged: 2 });
    });

    test("bad input is a typed error before any request", async () => {
      const { client, requests } = recordingClient(url);
      const dataset = { datasetName: unique("bad") };
      const bad = [
        [{ examples: [{ id: "a", input: { x: NaN }, output: {} }] }, NonFiniteNumberError],
        [{ examples: [examples(1)[0], examples(1)[0]] }, DuplicateSourceIdError],
        // some examples with an id, some without (none with one: matched by content)
        [
          {
            examples: [
              { id: "a", input: {}, output: {} },
              { input: {}, output: {} },
            ],
          },
          MissingSourceIdError,
        ],
        [{ examples: [{ id: 1.5, input: {}, output: {} }] }, InvalidSourceIdError],
        [
          {
            examples: examples(2),
            sourceIdKey: () => {
              throw new Error("no id");
            },
          },
          InvalidSourceIdError,
        ],
        [{ examples: [] }, EmptySourceError],
        [{ examples: examples(1), mode: "replace" }, RangeError],
        [{ examples: examples(1), retries: 0 }, RangeError],
        [{ examples: { input: {}, output: {} } }, TypeError],
        [{ examples: join(dir, "no such file.jsonl") }, SourceNotFoundError],
      ];
      for (const [options, cls] of bad) {
        await assert.rejects(upsertDataset({ client, dataset, ...options }), cls);
      }
      await assert.rejects(
        upsertDataset({ client, dataset: {}, examples: examples(1) }),
        TypeError,
      );
      const e = await upsertDataset({
        client,
        dataset,
        examples: [
          ...examples(2),
          { id: "x", input: { turns: [{ score: Infinity }] }, output: {} },
        ],
      }).catch((err) => err);
      assert.ok(e instanceof NonFiniteNumberError);
      assert.equal(e.index, 2);
      assert.equal(e.path, "input.turns[0].score");
      assert.deepEqual(requests, []);
    });

    test("faults: an unknown dataset id, a timeout, an abort", async () => {
      const { client, writes } = recordingClient(url);
      await assert.rejects(
        upsertDataset({
          client,
          dataset: { datasetId: "RGF0YXNldDo5OTk5OTk=" },
          examples: examples(1),
        }),
        (e) => e instanceof ServerError && e.name === "DatasetNotFoundError",
      );
      await assert.rejects(
        upsertDataset({
          client,
          dataset: { datasetName: unique("timeout") },
          examples: examples(1),
          timeoutMs: 1,
          retries: 1,
        }),
        (e) => e instanceof ServerError && e.exhausted && /no answer within/.test(e.message),
      );
      const controller = new AbortController();
      controller.abort(new Error("stopped by the test"));
      await assert.rejects(
        upsertDataset({
          client,
          dataset: { datasetName: unique("abort") },
          examples: examples(1),
          signal: controller.signal,
        }),
        /stopped by the test/,
      );
      assert.deepEqual(writes(), []);
    });

    test("another writer's version between reading and writing: read again, plan again, proven", async () => {
      const { client, writes } = recordingClient(url);
      const name = unique("race");
      const v1 = await upsertDataset({
        client,
        dataset: { datasetName: name },
        examples: examples(3),
      });
      // Right before this sync's upload, another writer appends an example.
      let raced = false;
      client.use({
        async onRequest({ request }) {
          if (!raced && request.method === "POST") {
            raced = true;
            const other = await fetch(`${url}/v1/datasets/upload?sync=true`, {
              method: "POST",
              headers: { "content-type": "application/json" },
              body: JSON.stringify({
                action: "append",
                name,
                inputs: [{ other: 1 }],
                outputs: [{}],
                metadata: [{}],
                example_ids: ["other"],
              }),
            });
            assert.equal(other.status, 200);
          }
        },
      });
      const next = examples(4, 2);
      const v2 = await upsertDataset({ client, dataset: { datasetName: name }, examples: next });
      assert.equal(v2.concurrentWriter, true);
      assert.equal(v2.attempts, 2);
      assert.equal(v2.action, "update"); // after a conflict, a mirror sync writes the snapshot
      assert.equal(writes().length, 3);
      const rows = await exported(url, v1.datasetId);
      assert.deepEqual(rows.map(strip), next.map(strip));
      const v3 = await upsertDataset({ client, dataset: { datasetName: name }, examples: next });
      assert.equal(v3.action, "none");
      assert.equal(v3.versionId, v2.versionId);
    });

    test("manifest: a no-op reads no export once the server proves it, shared with Python; not for splits below 30,000 examples; a corrupt one is ignored", async (t) => {
      const cache = mkdtempSync(join(dir, "manifest-"));
      const name = unique("manifest");
      const source = examples(30);
      const sync = async (extra = {}) => {
        const { client, requests, writes } = recordingClient(url);
        const result = await upsertDataset({
          client,
          dataset: { datasetName: name },
          examples: source,
          manifest: cache,
          ...extra,
        });
        const exports = requests.filter((r) => r.endsWith("/jsonl")).length;
        return { result, exports, writes: writes().length };
      };
      const created = await sync();
      assert.equal(created.result.action, "create");
      // The manifest is written by a sync that read the dataset, once the server's clock has
      // passed the second of the version (a dataset re-created in that second could look the
      // same). That clock is its Date header, which can lag a second behind.
      await pastThisSecond(url);
      const read = await sync();
      assert.deepEqual([read.result.action, read.exports, read.writes], ["none", 1, 0]);
      const files = readdirSync(cache).filter((f) => f.endsWith(".json.gz"));
      assert.equal(files.length, 1);
      assert.equal(statSync(join(cache, files[0])).mode & 0o777, 0o600);
      const cached = await sync();
      assert.deepEqual([cached.result.action, cached.exports, cached.writes], ["none", 0, 0]);
      assert.equal(cached.result.versionId, created.result.versionId);
      // Python reads the same manifest: its no-op downloads nothing either.
      const path = join(dir, "manifest.jsonl");
      writeFileSync(path, source.map((e) => JSON.stringify(e)).join("\n") + "\n");
      const py = runPython(
        `
import json, logging, sys
from phoenix_upsert import Client
args = json.loads(sys.stdin.read())
seen = []
class Keep(logging.Handler):
    def emit(self, record):
        seen.append(record.getMessage())
logger = logging.getLogger("phoenix_upsert")
logger.addHandler(Keep())
logger.setLevel(logging.DEBUG)
d = Client(base_url=args["url"]).datasets.upsert_dataset(
    dataset=args["name"], examples=args["path"], manifest=args["cache"], progress=False)
print(json.dumps({"log": seen, "action": d.plan.action, "versionId": d.version_id}))
`,
        JSON.stringify({ url, name, path, cache }),
      );
      assert.ok(
        py.log.some((m) => m.includes("using the sync manifest")),
        py.log.join("\n"),
      );
      assert.deepEqual([py.action, py.versionId], ["none", created.result.versionId]);
      // A source with splits reads them from the server: Phoenix does not version them. Below
      // 30,000 examples the export has content and splits in one read (past it, the content
      // comes from the manifest and the members of each split are read).
      const { client: splitClient, requests: splitRequests } = recordingClient(url);
      await upsertDataset({
        client: splitClient,
        dataset: { datasetName: name },
        examples: source.map((e) => ({ ...e, split: "train" })),
        splitsKey: "split",
        manifest: cache,
        dryRun: true,
      });
      assert.equal(splitRequests.filter((r) => r.endsWith("/jsonl")).length, 1);
      // A change is planned from the manifest and written; the proof reads the versions, and
      // the manifest of the new version is written from the plan once it is provable (here:
      // the version before it is of an earlier second): the next no-op reads no export.
      source[0].output.answer = "changed";
      const changed = await sync();
      assert.deepEqual([changed.result.action, changed.exports], ["append", 0]);
      assert.deepEqual(changed.result.summary, { added: 0, updated: 1, deleted: 0, unchanged: 29 });
      await new Promise((r) => setTimeout(r, 1100)); // the next version in a later second
      source.push({ id: "new", input: { q: "new" }, output: { a: 1 } });
      const added = await sync();
      assert.deepEqual([added.result.action, added.exports], ["append", 0]);
      const after = await sync();
      assert.deepEqual([after.result.action, after.exports, after.writes], ["none", 0, 0]);
      assert.equal(after.result.versionId, added.result.versionId);
      // Its new example's node id is not known yet: a source naming it by its node id is
      // planned from the server's export.
      const [row] = (await exported(url, added.result.datasetId)).filter((r) => r.id === "new");
      const { client: nodeClient, requests: nodeRequests } = recordingClient(url);
      const byNode = await upsertDataset({
        client: nodeClient,
        dataset: { datasetName: name },
        examples: source.map((e) => (e.id === "new" ? { ...e, id: row.node_id } : e)),
        manifest: cache,
        dryRun: true,
      });
      assert.equal(byNode.action, "none");
      assert.equal(nodeRequests.filter((r) => r.endsWith("/jsonl")).length, 1);
      // A corrupt manifest is ignored, with a warning, and the dataset read.
      writeFileSync(join(cache, files[0]), "not gzip");
      const warnings = [];
      const onWarning = (w) => warnings.push(w.message);
      process.on("warning", onWarning);
      t.after(() => process.off("warning", onWarning));
      const corrupt = await sync();
      await new Promise((r) => setImmediate(r));
      assert.deepEqual([corrupt.result.action, corrupt.exports], ["none", 1]);
      assert.ok(
        warnings.some((m) => m.includes("ignoring a corrupt sync manifest")),
        warnings,
      );
      assert.equal((await sync()).exports, 0);
    });

    test("manifest: a dataset deleted and created again under the same name is read, not trusted", async () => {
      const cache = mkdtempSync(join(dir, "recreated-"));
      const name = unique("recreated");
      const { client } = recordingClient(url);
      const first = examples(8);
      await upsertDataset({
        client,
        dataset: { datasetName: name },
        examples: first,
        manifest: cache,
      });
      await pastThisSecond(url); // past the version's second, by the server's Date clock
      const warm = await upsertDataset({
        client,
        dataset: { datasetName: name },
        examples: first,
        manifest: cache,
      });
      assert.equal(warm.action, "none");
      assert.equal(readdirSync(cache).filter((f) => f.endsWith(".json.gz")).length, 1);
      // Deleted, and created again at once with other content (SQLite reuses the row ids).
      const deleted = await fetch(`${url}/v1/datasets/${warm.datasetId}`, { method: "DELETE" });
      assert.ok(deleted.ok, String(deleted.status));
      const other = examples(8, 2);
      await upsertDataset({
        client,
        dataset: { datasetName: name },
        examples: other,
        manifest: false,
      });
      const { client: c2, requests } = recordingClient(url);
      const again = await upsertDataset({
        client: c2,
        dataset: { datasetName: name },
        examples: first,
        manifest: cache,
      });
      assert.equal(requests.filter((r) => r.endsWith("/jsonl")).length, 1);
      assert.deepEqual(again.summary, { added: 0, updated: 8, deleted: 0, unchanged: 0 });
      const rows = await exported(url, again.datasetId);
      assert.deepEqual(
        rows.map((r) => r.output),
        first.map((e) => e.output),
      );
    });

    test("cross-SDK: Python then TypeScript, TypeScript then Python — the second is a no-op", async (t) => {
      const { client, writes } = recordingClient(url);
      const path = join(dir, "cross.jsonl");
      const source = examples(20).map((e, i) => ({ ...e, splits: i % 3 ? "train" : ["test"] }));
      source[3].input.unicode = '😀 \u2028 ß \\ "';
      source[4].output.number = [1.25e-7, 123456.789, -0.5, 2 ** 53];
      writeFileSync(path, source.map((e) => JSON.stringify(e)).join("\n") + "\n");

      const py = pythonClient();
      t.after(() => py.stop());
      const a = unique("py-then-ts");
      const byPython = await py.upsert(url, a, path, { splits_key: "splits" });
      assert.equal(byPython.action, "create");
      const ts = await upsertDataset({
        client,
        dataset: { datasetName: a },
        examples: path,
        splitsKey: "splits",
      });
      assert.equal(ts.action, "none");
      assert.equal(ts.versionId, byPython.versionId);
      const tsList = await upsertDataset({
        client,
        dataset: { datasetName: a },
        examples: source,
        splitsKey: "splits",
      });
      assert.equal(tsList.action, "none");
      assert.deepEqual(writes(), []);

      const b = unique("ts-then-py");
      const first = await upsertDataset({
        client,
        dataset: { datasetName: b },
        examples: source,
        splitsKey: "splits",
      });
      assert.equal(first.action, "create");
      const second = await py.upsert(url, b, path, { splits_key: "splits" });
      assert.equal(second.action, "none");
      assert.equal(second.versionId, first.versionId);
      assert.equal(second.datasetId, first.datasetId);

      // And a change made by one is planned alike by the other.
      source[5].output.answer = "edited";
      writeFileSync(path, source.map((e) => JSON.stringify(e)).join("\n") + "\n");
      const planTs = await upsertDataset({
        client,
        dataset: { datasetName: b },
        examples: path,
        splitsKey: "splits",
        dryRun: true,
      });
      assert.equal(planTs.action, "append");
      assert.deepEqual(planTs.plan.updated, ["q5"]);
      const third = await py.upsert(url, b, path, { splits_key: "splits" });
      assert.equal(third.action, "append");
      assert.deepEqual(third.summary, planTs.summary);
      const fourth = await upsertDataset({
        client,
        dataset: { datasetName: b },
        examples: path,
        splitsKey: "splits",
      });
      assert.equal(fourth.action, "none");
      assert.equal(fourth.versionId, third.versionId);
    });
    test("examples/quickstart.ts: v1, experiment, v2, no-op, experiment on the new version", async () => {
      const text = execFileSync(
        process.execPath,
        [fileURLToPath(new URL("../scripts/quickstart.mjs", import.meta.url)), "--endpoint", url],
        { encoding: "utf8" },
      );
      const version = (step) => new RegExp(`^${step} +version (\\S+) +(.*)$`, "m").exec(text);
      const [, v1, s1] = version("upsert v1");
      const [, v2, s2] = version("upsert v2 \\(evolved data\\)");
      const [, v3, s3] = version("upsert v2 again \\(no-op\\)");
      assert.equal(s1, "+10 ~0 -0 =0  (create)");
      assert.equal(s2, "+2 ~2 -1 =7  (update)");
      assert.equal(s3, "+0 ~0 -0 =11  (none)");
      assert.notEqual(v1, v2);
      assert.equal(v3, v2);
      assert.match(text, new RegExp(`experiment support-v2-ts +on version ${v2}: 11 runs`));
    });
    test("the upload body is the one Python's driver sends, key for key and in order", async () => {
      const { client } = recordingClient(url);
      const bodies = [];
      client.use({
        async onRequest({ request }) {
          if (request.method === "POST") bodies.push(await request.clone().text());
        },
      });
      const path = join(dir, "body.jsonl");
      const source = examples(6).map((e, i) => ({
        ...e,
        splits: i % 2 ? [" b ", "a", "a"] : "train",
        span_id: i % 3 ? ` span-${i} ` : null,
      }));
      source[1].id = 7; // an integer id is sent as its decimal text
      source[2].input = { z: { y: [1.5, "\u2028", { b: 1, a: 2 }] }, a: -0.25, 1: true };
      delete source[3].metadata;
      // Written with spaces, as Python's json.dumps does: the body is the core's writing of
      // what it hashed, not the file's text.
      const spaced = (e) => JSON.stringify(e, null, 1).replace(/\n\s*/g, " ");
      writeFileSync(path, source.map(spaced).join("\n") + "\n");
      const name = unique("body");
      const description = "made by the test";
      await upsertDataset({
        client,
        dataset: { datasetName: name },
        examples: path,
        datasetDescription: description,
      });
      await upsertDataset({
        client,
        dataset: { datasetName: unique("body-list") },
        examples: source,
      });
      // Python's driver's body of the same sync (the core's machine, told the dataset does
      // not exist yet; the rows written by Python's source).
      const python = runPython(
        `
import json, sys
from phoenix_upsert._engine.driver import body
from phoenix_upsert._native import SyncMachine
from phoenix_upsert._sources.source import read_source
args = json.loads(sys.stdin.read())
source = read_source(args["path"], source_id_key="id", splits_key="splits", span_id_key="span_id")
machine = SyncMachine(
    name=args["name"], dataset_id=None, merge=False, dry_run=False,
    description=args["description"], allow_empty=False, manifest=False, server="http://x",
    retries=1, timeout=None, server_version=[20, 0, 0], credentials="", source_name=source.name,
    seed=0, scan=source.scan, lines=source.line_override)
machine.poll()
machine.handle_response(200, [], b'{"data": []}')
step = machine.poll()
while step[0] != "http":
    step = machine.poll()
segments, indices = step[-1]
print(json.dumps(b"".join(body(segments, indices, source)).decode()))
`,
        JSON.stringify({ path, name, description }),
      );
      // The same keys and values in the same order (Python's json.dumps puts spaces after
      // separators in the head and the lists; the parts are the core's or the line's text).
      const ordered = (text) => JSON.stringify(JSON.parse(text));
      assert.equal(bodies.length, 2);
      assert.equal(ordered(bodies[0]), ordered(python));
      const fromList = JSON.parse(bodies[1]);
      fromList.name = name;
      fromList.description = description;
      const { action, name: n, description: d, ...rest } = fromList;
      assert.equal(
        ordered(JSON.stringify({ action, name: n, description: d, ...rest })),
        ordered(python),
      );
    });

    // PostgreSQL takes at most 32,767 query arguments: Phoenix 20.26.1 answers 500 to an
    // upload creating more examples with ids, and to the JSONL export of a larger dataset. The
    // core's engine writes 30,000 new examples at most per request and reads such a dataset as
    // JSON, its splits split by split (tests/sync/test_limits.py checks the database itself).
    test(
      "past the server's query limit: 32,800 examples in two versions, a cold check finds nothing to do, 32,500 deleted in two",
      { skip: backend !== "postgresql" && "the limit is PostgreSQL's", timeout: 900_000 },
      async () => {
        const client = recordingClient(url).client;
        const name = unique("limit");
        const rows = Array.from({ length: 32_800 }, (_, i) => ({
          id: `r${i}`,
          input: { question: `q${i}` },
          output: { answer: i % 7 },
          splits: [i % 3 ? "train" : "test"],
        }));
        const made = await upsertDataset({
          client,
          dataset: { datasetName: name },
          examples: rows,
        });
        assert.equal(made.summary.added, 32_800);
        assert.equal(made.versions.length, 2);
        assert.equal(made.versionId, made.versions[1]);
        const check = await upsertDataset({
          client,
          dataset: { datasetName: name },
          examples: rows,
          manifest: false,
          dryRun: true,
        });
        assert.equal(check.action, "none");
        // Most of it deleted by a source without splits: Phoenix drops the memberships of
        // what an update deletes with one list of their ids (500 past 32,767), so the engine
        // deletes 30,000 per write, carrying the rest as the server holds them.
        const kept = rows.slice(0, 300).map(({ splits, ...rest }) => rest);
        const shrunk = await upsertDataset({
          client,
          dataset: { datasetName: name },
          examples: kept,
          manifest: false,
        });
        assert.equal(shrunk.summary.deleted, 32_500);
        assert.equal(shrunk.versions.length, 2);
        const after = await upsertDataset({
          client,
          dataset: { datasetName: name },
          examples: kept,
          manifest: false,
          dryRun: true,
        });
        assert.deepEqual([after.action, after.summary.unchanged], ["none", 300]);
      },
    );
  });
}
