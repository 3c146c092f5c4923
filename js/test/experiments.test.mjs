// runExperiment with reuseRunsFrom against a real Phoenix (each backend of PU_TEST_BACKENDS):
// v2's experiment runs the task exactly for the changed and new examples and the evaluators
// only on their runs, every unchanged example's run carries the earlier output and
// evaluation; a changed task reuses nothing; an unchanged dataset runs nothing; and an
// experiment Python's client ran is read by the TypeScript one (same metadata).
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import { runExperiment, taskFingerprint, upsertDataset } from "phoenix-upsert";
import { execFile } from "node:child_process";
import { promisify } from "node:util";

import { python } from "./helpers.mjs";
import { backends, recordingClient, skipServer, startPhoenix } from "./phoenix.mjs";

let counter = 0;
const unique = (what) => `js-exp-${what}-${process.pid}-${++counter}`;

const rows = (n) =>
  Array.from({ length: n }, (_, i) => ({
    id: `e${i}`,
    input: { q: `q${i}` },
    output: { a: `Q${i}` },
    metadata: {},
  }));

/** e1's answer edited, e2's question edited, e3 deleted, e8 and e9 added. */
function evolve(v1) {
  const v2 = v1.filter((r) => r.id !== "e3").map((r) => ({ ...r }));
  v2[1] = { ...v2[1], output: { a: "edited" } };
  v2[2] = { ...v2[2], input: { q: "q2-edited" } };
  for (const i of [8, 9]) v2.push({ id: `e${i}`, input: { q: `q${i}` }, output: { a: `Q${i}` } });
  return v2;
}

const calls = { task: [], exact: [] };
const answer = (example) => {
  calls.task.push(example.input.q);
  return { text: String(example.input.q).toUpperCase() };
};
const exact = {
  name: "exact",
  kind: "CODE",
  evaluate: ({ output, expected }) => {
    calls.exact.push(output);
    return { score: output.text === expected.a ? 1 : 0 };
  },
};
const quiet = { info() {}, warn() {}, error() {}, debug() {}, log() {}, table() {} };

/** Python code run with the repository's venv, without blocking the event loop; its JSON. */
async function runPythonAsync(code, input) {
  const child = promisify(execFile)(python, ["-c", code], { maxBuffer: 1 << 26 });
  child.child.stdin.end(input);
  const { stdout } = await child;
  return JSON.parse(stdout);
}

async function exportedRuns(url, experimentId) {
  const response = await fetch(`${url}/v1/experiments/${experimentId}/json`);
  assert.equal(response.status, 200);
  return Object.fromEntries((await response.json()).map((r) => [r.input.q, r]));
}

for (const backend of backends) {
  describe(`runExperiment with reuse on ${backend}`, { skip: skipServer }, () => {
    let phoenix;
    let url;
    before(async () => {
      phoenix = await startPhoenix(backend);
      url = phoenix.url;
    });
    after(async () => {
      await phoenix?.stop();
    });

    test("v2 runs only the changed and new examples; an unchanged dataset runs nothing", async () => {
      const { client } = recordingClient(url);
      const name = unique("flow");
      const v1 = await upsertDataset({
        client,
        dataset: { datasetName: name },
        examples: rows(6),
        manifest: false,
      });
      const common = {
        client,
        task: answer,
        evaluators: [exact],
        logger: quiet,
        setGlobalTracerProvider: false,
      };
      calls.task = [];
      calls.exact = [];
      const first = await runExperiment({
        ...common,
        dataset: { datasetId: v1.datasetId, versionId: v1.versionId },
      });
      assert.equal(calls.task.length, 6);
      assert.match(first.reuse.reason, /no earlier experiment/);

      const v2 = await upsertDataset({
        client,
        dataset: { datasetName: name },
        examples: evolve(rows(6)),
        manifest: false,
      });
      calls.task = [];
      calls.exact = [];
      const second = await runExperiment({
        ...common,
        dataset: { datasetId: v2.datasetId, versionId: v2.versionId },
        reuseRunsFrom: first,
      });
      assert.deepEqual([...calls.task].sort(), ["q1", "q2-edited", "q8", "q9"]);
      assert.equal(calls.exact.length, 4);
      const s = second.reuse;
      assert.deepEqual(
        [s.reusedRuns, s.reusedEvaluations, s.taskRuns, s.changed, s.added],
        [3, 3, 4, 2, 2],
      );
      assert.equal(s.reusedFrom, first.id);
      assert.equal(Object.keys(second.runs).length, 7);
      const before = await exportedRuns(url, first.id);
      const after = await exportedRuns(url, second.id);
      assert.equal(Object.keys(after).length, 7);
      for (const q of ["q0", "q4", "q5"]) {
        assert.deepEqual(after[q].output, before[q].output);
        assert.equal(after[q].start_time, before[q].start_time);
        assert.equal(after[q].annotations[0].score, before[q].annotations[0].score);
      }
      for (const record of Object.values(after)) {
        assert.deepEqual(
          record.annotations.map((a) => a.name),
          ["exact"],
        );
      }
      assert.equal(second.metadata.phoenix_upsert.reused_from, first.id);

      calls.task = [];
      calls.exact = [];
      const third = await runExperiment({
        ...common,
        dataset: { datasetId: v2.datasetId, versionId: v2.versionId },
        reuseRunsFrom: second.id,
      });
      assert.deepEqual([calls.task, calls.exact], [[], []]);
      assert.equal(third.reuse.reusedRuns, 7);
      assert.equal(Object.keys(third.runs).length, 7);

      // a changed task reuses nothing
      calls.task = [];
      const changed = (example) => {
        calls.task.push(example.input.q);
        return { text: String(example.input.q) };
      };
      const fourth = await runExperiment({
        ...common,
        task: changed,
        evaluators: [],
        dataset: { datasetId: v2.datasetId, versionId: v2.versionId },
        reuseRunsFrom: third,
      });
      assert.equal(calls.task.length, 7);
      assert.match(fourth.reuse.reason, /code differs/);
      assert.notEqual(taskFingerprint(changed), taskFingerprint(answer));
    });

    test("an experiment of Python's client is read (same metadata); reused with force", async () => {
      const { client } = recordingClient(url);
      const name = unique("py");
      const v1 = await upsertDataset({
        client,
        dataset: { datasetName: name },
        examples: rows(5),
        manifest: false,
      });
      const py = await runPythonAsync(
        `
import contextlib, json, sys
from phoenix_upsert import Client
args = json.loads(sys.stdin.read())
client = Client(base_url=args["url"])
dataset = client.datasets.get_dataset(dataset=args["name"])
with contextlib.redirect_stdout(sys.stderr):  # phoenix-client prints its progress
    ran = client.experiments.run_experiment(
        dataset=dataset, task=lambda input: {"text": input["q"].upper()}, print_summary=False)
print(json.dumps({"id": ran["experiment_id"]}))
`,
        JSON.stringify({ url, name }),
      );
      const common = { client, task: answer, logger: quiet, setGlobalTracerProvider: false };
      const dataset = { datasetId: v1.datasetId, versionId: v1.versionId };
      calls.task = [];
      const auto = await runExperiment({ ...common, dataset, reuseRunsFrom: py.id });
      assert.equal(calls.task.length, 5);
      assert.match(auto.reuse.reason, /py1:.* then, js1:/);
      calls.task = [];
      const forced = await runExperiment({
        ...common,
        dataset,
        reuseRunsFrom: py.id,
        reuse: "force",
      });
      assert.equal(calls.task.length, 0);
      assert.equal(forced.reuse.reusedRuns, 5);
      const runs = await exportedRuns(url, forced.id);
      assert.deepEqual(runs.q3.output, { text: "Q3" });
    });
  });
}
