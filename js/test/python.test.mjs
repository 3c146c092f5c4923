// The same JSONL and the same examples scanned by the wasm build and by Python's native
// module (.venv, built by ./scripts/setup): hashes, ids, splits, span ids, line numbers, the
// errors (class and message) and the diff agree.
import assert from "node:assert/strict";
import { test } from "node:test";

import { diff, InvalidInputError, scanExamples, scanJsonl } from "phoenix-upsert";
import { generator, hasPython, runPython } from "./helpers.mjs";

const skip = hasPython ? false : "no .venv (run ./scripts/setup)";
const N = Number(process.env.PU_JS_PARITY_EXAMPLES ?? 2000);

/** Random examples with ids (strings and integers), splits and span ids. */
function examples(seed, n) {
  const g = generator(seed);
  const out = [];
  for (let i = 0; i < n; i++) {
    const ex = { input: g.object(), output: g.object() };
    if (g.random() < 0.7) ex.metadata = g.object();
    ex.id = g.random() < 0.3 ? i : `q-${i}-${g.string()}`;
    if (g.random() < 0.5) ex.splits = [` ${g.pick(["train", "test", "dev"])} `, "test", "x"];
    else if (g.random() < 0.2) ex.splits = g.pick(["train", " a "]);
    if (g.random() < 0.3) ex.span_id = ` span-${i} `;
    out.push(ex);
  }
  return out;
}

const PY_SCAN = `
import json, sys
from phoenix_upsert import _native as n
data = sys.stdin.buffer.read()
keys = dict(id_key="id", splits_key="splits", span_id_key="span_id")
def cols(s):
    return dict(hashes=s.hashes, ids=s.ids, splits=s.splits, spanIds=s.span_ids,
                lineNumbers=s.line_numbers)
a = n.scan_jsonl(data, **keys, storable=False)
b = n.scan_examples([json.loads(l) for l in data.decode().split("\\n") if l.strip()], **keys)
print(json.dumps(dict(jsonl=cols(a), examples=cols(b))))
`;

test(`scans of ${N} random examples agree with Python's core`, { skip }, () => {
  const exs = examples(7, N);
  // A blank line and CRLF endings: line numbers must still agree.
  const lines = exs.map((e) => JSON.stringify(e));
  const text = `${lines.slice(0, 10).join("\r\n")}\n\n${lines.slice(10).join("\n")}\n`;
  const py = runPython(PY_SCAN, text);
  const keys = { idKey: "id", splitsKey: "splits", spanIdKey: "span_id" };
  const js = scanJsonl(text, keys);
  for (const col of ["hashes", "ids", "splits", "spanIds", "lineNumbers"]) {
    assert.deepEqual(js[col], py.jsonl[col], col);
  }
  const jsEx = scanExamples(exs, {
    sourceIdKey: "id",
    splitsKey: "splits",
    spanIdKey: "span_id",
    storable: false,
  });
  for (const col of ["hashes", "ids", "splits", "spanIds"]) {
    assert.deepEqual(jsEx[col], py.examples[col], col);
  }
  assert.deepEqual(jsEx.hashes, js.hashes);
});

const PY_ERRORS = `
import json, sys
from phoenix_upsert import _native as n
out = []
for case in json.loads(sys.stdin.read()):
    try:
        n.scan_jsonl(case.encode(), id_key="id", splits_key="splits", span_id_key="span_id", storable=True)
        out.append(None)
    except Exception as e:
        out.append(dict(cls=type(e).__name__, message=str(e), path=getattr(e, "path", None),
                        line=getattr(e, "line", None)))
print(json.dumps(out))
`;

test("bad JSONL: the same error class, message, path and line as Python", { skip }, () => {
  const ok = '{"id": "a", "input": {}, "output": {}}';
  const cases = [
    '{"id": "b", "input": {"x": [1, 2}, "output": {}}',
    '{"id": "b", "input": {"s": "\\ud800"}, "output": {}}',
    '{"id": "b", "input": {"s": "a\\u0000b"}, "output": {}}',
    '{"id": "b", "input": {"n": 1e400}, "output": {}}',
    '{"id": "b", "input": [], "output": {}}',
    '{"id": "b", "input": {}}',
    '{"input": {}, "output": {}}',
    '{"id": 1.5, "input": {}, "output": {}}',
    '{"id": "", "input": {}, "output": {}}',
    '{"id": "a", "input": {"x": 1}, "output": {}}',
    '{"id": "b", "input": {}, "output": {}, "splits": [1]}',
    '{"id": "b", "input": {}, "output": {}, "span_id": 3}',
    `{"id": "b", "input": ${"[".repeat(120)}${"]".repeat(120)}, "output": {}}`,
  ].map((bad) => `${ok}\n${bad}\n`);
  const py = runPython(PY_ERRORS, JSON.stringify(cases));
  cases.forEach((text, i) => {
    let got = null;
    try {
      scanJsonl(text, { idKey: "id", splitsKey: "splits", spanIdKey: "span_id", storable: true });
    } catch (e) {
      assert.ok(e instanceof InvalidInputError, `case ${i}: ${e}`);
      got = { cls: e.constructor.name, message: e.message, path: e.path, line: e.line };
    }
    assert.deepEqual(got, py[i], `case ${i}: ${text}`);
  });
});

const PY_DIFF = `
import json, sys
from phoenix_upsert import _native as n
cases = json.loads(sys.stdin.read())
out = []
for c in cases:
    d = n.diff([tuple(p) for p in c["previous"]], [tuple(i) for i in c["incoming"]], merge=c["merge"])
    out.append(dict(added=d.added, updated=[list(p) for p in d.updated],
                    unchanged=[list(p) for p in d.unchanged], deleted=d.deleted,
                    unknownNodeIds=d.unknown_node_ids))
print(json.dumps(out))
`;

test("diff agrees with Python's on random plans", { skip }, () => {
  const g = generator(99);
  const h = () => g.int(4).toString(16).padStart(32, "0");
  const cases = [];
  for (let c = 0; c < 200; c++) {
    const previous = [];
    for (let i = g.int(12); i > 0; i--) {
      // Node ids as Phoenix writes them (base64 of "DatasetExample:<n>").
      const node = Buffer.from(`DatasetExample:${c * 100 + i}`).toString("base64");
      previous.push([node, g.random() < 0.7 ? `k${g.int(15)}` : null, h()]);
    }
    const seen = new Set();
    const incoming = [];
    for (let i = g.int(12); i > 0; i--) {
      let id = g.random() < 0.8 ? `k${g.int(15)}` : null;
      if (id !== null && g.random() < 0.2 && previous.length > 0) id = g.pick(previous)[0];
      if (id !== null && seen.has(id)) continue;
      if (id !== null) seen.add(id);
      incoming.push([id, h()]);
    }
    // Previous external ids are unique in Phoenix.
    const ext = new Set();
    const prev = previous.filter(([, e]) => e === null || (!ext.has(e) && ext.add(e)));
    cases.push({ previous: prev, incoming, merge: g.random() < 0.3 });
  }
  const py = runPython(PY_DIFF, JSON.stringify(cases));
  cases.forEach((c, i) => {
    assert.deepEqual(diff(c.previous, c.incoming, { merge: c.merge }), py[i], `case ${i}`);
  });
});
