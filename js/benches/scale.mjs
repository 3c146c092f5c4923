// Datasets past the server's per-request limits, from TypeScript: one `upsertDataset` per step
// at a large size N, against a local Phoenix (PU_TEST_BACKENDS' first backend). Opt-in: it
// runs only with PU_BENCH_SCALE_N (the number of examples, e.g. 300000), as
// benches/bench_scale.py does for Python. The steps, on one dataset, each timed:
//  1. initial upload (written in parts of at most 30,000 examples, one version each);
//  2. no-op with a current manifest; 3. no-op cold (`manifest: false`: the dataset is read);
//  4. a cold dry run of a source with 1% edited (what a CI check does);
//  5. 1% edited; 6. 1% deleted; 7. 1% added; 8. splits assigned to every example;
//  9. no-op with splits; 10. a split-only change of 1%. (Split changes count as updated.)
// After the last write, a cold dry run must find nothing to do (the server's state read as it
// is, compared with the source); the run fails otherwise. Printed: each step's time, versions
// made and plan, and the process's peak RSS so far.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { createClient } from "@arizeai/phoenix-client";
import { upsertDataset } from "phoenix-upsert";
import { backends, pastThisSecond, startPhoenix } from "../test/phoenix.mjs";

const N = Number(process.env.PU_BENCH_SCALE_N ?? 0);
if (!(N > 0)) {
  console.log("skipped: set PU_BENCH_SCALE_N to a number of examples (e.g. 300000)");
  process.exit(0);
}

/** An LLM-like example (as in bench.mjs); an edited one has a longer answer. */
function example(i, edited = false) {
  return {
    id: `ex-${i}`,
    input: {
      question: `Customer #${i} asks: how do I "reset" my password? 🙂 パスワード`,
      context: [`doc ${i % 97}`, "```python\nprint('hello')\n```"],
    },
    output: {
      answer: `Step 1: open Settings → Account.\n${"Details. ".repeat(8)}${edited ? " (edited)" : ""}`,
      score: (i % 10) / 10,
    },
    metadata: { topic: ["billing", "account", "shipping"][i % 3], turn: i % 7 },
  };
}

const full = Array.from({ length: N }, (_, i) => example(i));
const edited = full.map((e, i) => (i % 100 === 1 ? example(i, true) : e));
const deleted = edited.filter((_, i) => i % 100 !== 7);
const added = deleted.concat(
  Array.from({ length: Math.max(1, N / 100) }, (_, k) => example(N + k)),
);
const withSplits = added.map((e, i) => ({ ...e, splits: [i % 5 === 0 ? "test" : "train"] }));
const moved = withSplits.map((e, i) =>
  i % 100 === 3 && e.splits[0] === "train" ? { ...e, splits: ["test"] } : e,
);

const steps = [
  ["initial upload", full, {}],
  ["no-op, manifest current", full, {}],
  ["no-op, cold (manifest: false)", full, { manifest: false }],
  ["dry run cold, 1% edited (a CI check)", edited, { manifest: false, dryRun: true }],
  ["1% edited", edited, {}],
  ["1% deleted", deleted, {}],
  ["1% added", added, {}],
  ["splits assigned to every example", withSplits, {}],
  ["no-op with splits", withSplits, {}],
  ["split-only change of 1%", moved, {}],
];

process.env.PHOENIX_UPSERT_CACHE_DIR = mkdtempSync(join(tmpdir(), "pu-bench-scale-"));
const backend = backends[0] ?? "sqlite";
const phoenix = await startPhoenix(backend);
try {
  const client = createClient({ options: { baseUrl: phoenix.url } });
  const dataset = { datasetName: `scale-${N}` };
  console.log(`${backend}, ${N.toLocaleString("en")} examples, from TypeScript`);
  console.log(
    "| step | upsertDataset | versions | plan (+added ~updated -deleted) | peak RSS so far |",
  );
  console.log("|---|---|---|---|---|");
  for (const [label, examples, options] of steps) {
    // A manifest is written once the server's clock has passed the version's second.
    await pastThisSecond(phoenix.url);
    const t = performance.now();
    const r = await upsertDataset({ client, dataset, examples, ...options });
    const seconds = (performance.now() - t) / 1000;
    const s = r.summary;
    const plan = `${r.action}: +${s.added} ~${s.updated} -${s.deleted}`;
    const versions = r.dryRun ? "—" : String(r.versions.length);
    const rss = `${Math.round(process.resourceUsage().maxRSS / 1024)} MB`;
    console.log(`| ${label} | ${seconds.toFixed(1)} s | ${versions} | ${plan} | ${rss} |`);
  }
  const check = await upsertDataset({
    client,
    dataset,
    examples: moved,
    manifest: false,
    dryRun: true,
  });
  if (check.action !== "none") {
    throw new Error(`the dataset does not hold the source: ${JSON.stringify(check.summary)}`);
  }
  console.log(`a cold dry run of the last source: nothing to do (${check.summary.unchanged})`);
} finally {
  await phoenix.stop();
}
