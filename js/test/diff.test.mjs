// The diff over scans: Phoenix's export scanned with ids and node ids (its `id` is the
// external id, or the node id when the example has none) against incoming examples; the same
// plan as from tuples, and as Python's core over the same scans.
import assert from "node:assert/strict";
import { test } from "node:test";

import { contentHash, diff, scanExamples, scanJsonl } from "phoenix-upsert";
import { hasPython, runPython } from "./helpers.mjs";

const node = (n) => Buffer.from(`DatasetExample:${n}`).toString("base64");
const row = (id, n, input) => JSON.stringify({ id, node_id: node(n), input, output: {} });
const exportJsonl = [
  row("a", 1, { v: 1 }),
  row("b", 2, { v: 2 }),
  row(node(3), 3, { v: 3 }), // no external id: Phoenix exports the node id
  row("d", 4, { v: 4 }),
].join("\n");
const incoming = [
  { id: "a", input: { v: 1 }, output: {} }, // unchanged
  { id: "b", input: { v: 20 }, output: {} }, // updated
  { id: node(3), input: { v: 3 }, output: {} }, // addressed by node id: unchanged
  { id: "e", input: {}, output: {} }, // added
];

test("diff of scans equals diff of tuples", () => {
  const prev = scanJsonl(exportJsonl, { idKey: "id", nodeIdKey: "node_id" });
  const inc = scanExamples(incoming, { sourceIdKey: "id" });
  const tuples = prev.nodeIds.map((n, i) => [
    n,
    prev.ids[i] === n ? null : prev.ids[i],
    prev.hashes[i],
  ]);
  assert.equal(tuples[2][1], null);
  const fromScans = diff(prev, inc);
  assert.deepEqual(
    fromScans,
    diff(
      tuples,
      inc.ids.map((id, i) => [id, inc.hashes[i]]),
    ),
  );
  assert.deepEqual(fromScans, {
    added: [3],
    updated: [[1, 1]],
    unchanged: [
      [0, 0],
      [2, 2],
    ],
    deleted: [3],
    unknownNodeIds: [],
  });
  assert.deepEqual(diff(prev, inc, { merge: true }).deleted, []);
  assert.equal(inc.hashes[0], contentHash({ input: { v: 1 }, output: {} }));
});

test("previous scans need ids and node ids", () => {
  const noNodes = scanJsonl(exportJsonl, { idKey: "id" });
  assert.throws(() => diff(noNodes, []), TypeError);
});

test("the same plan as Python's core over the same scans", { skip: !hasPython }, () => {
  const code = `
import json, sys
from phoenix_upsert import _native as n
c = json.loads(sys.stdin.read())
prev = n.scan_jsonl(c["previous"].encode(), id_key="id", node_id_key="node_id")
inc = n.scan_examples(c["incoming"], id_key="id")
out = []
for merge in (False, True):
    d = n.diff(prev, inc, merge=merge)
    out.append(dict(added=d.added, updated=[list(p) for p in d.updated],
                    unchanged=[list(p) for p in d.unchanged], deleted=d.deleted,
                    unknownNodeIds=d.unknown_node_ids))
print(json.dumps(out))
`;
  const py = runPython(code, JSON.stringify({ previous: exportJsonl, incoming }));
  const prev = scanJsonl(exportJsonl, { idKey: "id", nodeIdKey: "node_id" });
  const inc = scanExamples(incoming, { sourceIdKey: "id" });
  assert.deepEqual([diff(prev, inc), diff(prev, inc, { merge: true })], py);
});
