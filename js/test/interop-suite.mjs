// createDataset of @arizeai/phoenix-client and upsertDataset agree on the same `Example[]`,
// both ways, against a real Phoenix (one per backend; the interop.*.test.mjs files name it):
// a dataset createDataset made is already in sync for upsertDataset of the same array (no
// write, the same version), and createDataset of an array upsertDataset synced changes
// nothing (the same version, the same examples).
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import { createDataset } from "@arizeai/phoenix-client/datasets";
import { upsertDataset } from "phoenix-upsert";
import { exported, recordingClient, skipServer, startPhoenix } from "./phoenix.mjs";

let counter = 0;
const unique = (what) => `js-interop-${what}-${process.pid}-${++counter}`;

/** phoenix-client's own `Example` in every form its type allows. */
function examples(withIds) {
  return Array.from({ length: 12 }, (_, i) => {
    const example = { input: { question: `what is ${i}?`, nested: { z: [i, "é", null] } } };
    if (withIds) example.id = `ex-${i}`;
    if (i % 4 === 1) example.output = null;
    else if (i % 4 === 2) example.output = { answer: String(i) };
    else if (i % 4 === 3) example.output = { answer: { text: String(i), score: i / 4 } };
    if (i % 3 === 1) example.metadata = null;
    else if (i % 3 === 2) example.metadata = { source: "docs", page: i };
    if (i % 5 === 1) example.splits = "train";
    else if (i % 5 === 2) example.splits = ["test", "hard"];
    else if (i % 5 === 3) example.splits = null;
    if (i % 6 === 5) example.spanId = null;
    return example;
  });
}

async function versions(url, datasetId) {
  const response = await fetch(`${url}/v1/datasets/${datasetId}/versions?limit=100`);
  return (await response.json()).data.map((v) => v.version_id);
}

export function interop(backend) {
  describe(`createDataset and upsertDataset on ${backend}`, { skip: skipServer }, () => {
    let phoenix;
    let url;
    before(async () => {
      phoenix = await startPhoenix(backend);
      url = phoenix.url;
    });
    after(async () => {
      await phoenix?.stop();
    });

    for (const withIds of [true, false]) {
      const what = withIds ? "with ids" : "without ids";
      test(`Example[] made by createDataset is in sync for upsertDataset (${what})`, async () => {
        const { client, writes } = recordingClient(url);
        const name = unique("made");
        const array = examples(withIds);
        const { datasetId } = await createDataset({
          client,
          name,
          description: "d",
          examples: array,
        });
        const before = await versions(url, datasetId);
        const writesBefore = writes().length;
        // the same array, the same call shape: nothing to change
        const result = await upsertDataset({
          client,
          dataset: { datasetName: name },
          examples: array,
        });
        assert.equal(result.action, "none", JSON.stringify(result.plan));
        assert.deepEqual(result.summary, { added: 0, updated: 0, deleted: 0, unchanged: 12 });
        assert.equal(writes().length, writesBefore);
        assert.deepEqual(await versions(url, datasetId), before);
        assert.equal(result.versionId, before[0]);
      });

      test(`createDataset of an array upsertDataset synced changes nothing (${what})`, async () => {
        const { client } = recordingClient(url);
        const name = unique("reverse");
        const array = examples(withIds);
        const synced = await upsertDataset({
          client,
          dataset: { datasetName: name },
          examples: array,
        });
        assert.equal(synced.action, "create");
        const rows = await exported(url, synced.datasetId);
        const before = await versions(url, synced.datasetId);
        await createDataset({ client, name, description: "d", examples: array });
        assert.deepEqual(await versions(url, synced.datasetId), before);
        assert.deepEqual(await exported(url, synced.datasetId), rows);
      });
    }
  });
}
