// What a cold sync is bound by: the server's reads. Against a local Phoenix (PU_TEST_BACKENDS'
// first backend, SQLite by default), with N examples (PU_BENCH_READS_N, default 20,000):
// the time of each way of reading a dataset (the JSONL export, `/examples` as JSON, the CSV
// export), beside `createDataset` of the same examples and upsertDataset's cold no-op
// (`manifest: false`), which reads the export and scans it.
import { createClient } from "@arizeai/phoenix-client";
import { createDataset } from "@arizeai/phoenix-client/datasets";
import { upsertDataset } from "phoenix-upsert";
import { backends, startPhoenix } from "../test/phoenix.mjs";

const N = Number(process.env.PU_BENCH_READS_N ?? 20_000);
const ROUNDS = Number(process.env.PU_BENCH_ROUNDS ?? 3);
const examples = Array.from({ length: N }, (_, i) => ({
  id: `ex-${i}`,
  input: { question: `Customer #${i} asks: how do I "reset" my password? 🙂`, n: i },
  output: { answer: `Step 1: open Settings.\n${"Details. ".repeat(8)}`, score: (i % 10) / 10 },
  metadata: { topic: ["billing", "account", "shipping"][i % 3] },
}));

async function best(f) {
  let min = Infinity;
  for (let r = 0; r < ROUNDS; r++) {
    const t = performance.now();
    await f();
    min = Math.min(min, performance.now() - t);
  }
  return `${min.toFixed(0)} ms`;
}

const backend = backends[0] ?? "sqlite";
const phoenix = await startPhoenix(backend);
try {
  const client = createClient({ options: { baseUrl: phoenix.url } });
  const dataset = { datasetName: "bench-reads" };
  await upsertDataset({ client, dataset, examples, manifest: false });
  await createDataset({ client, name: "bench-reads-create", examples });
  const list = await (await fetch(`${phoenix.url}/v1/datasets?name=bench-reads`)).json();
  const id = list.data[0].id;
  console.log(`reading ${N} examples on ${backend} (best of ${ROUNDS}):`);
  for (const path of ["jsonl", "examples", "csv"]) {
    const time = await best(async () => {
      const response = await fetch(`${phoenix.url}/v1/datasets/${id}/${path}`);
      if (!response.ok) throw new Error(`${path}: HTTP ${response.status}`);
      await response.arrayBuffer();
    });
    console.log(`  GET /v1/datasets/{id}/${path}`.padEnd(40) + time);
  }
  const cold = await best(async () => {
    const result = await upsertDataset({ client, dataset, examples, manifest: false });
    if (result.action !== "none") throw new Error("not a no-op");
  });
  console.log("  upsertDataset, no manifest (a no-op)".padEnd(40) + cold);
  const create = await best(() => createDataset({ client, name: "bench-reads-create", examples }));
  console.log("  createDataset (unchanged)".padEnd(40) + create);
} finally {
  await phoenix.stop();
}
