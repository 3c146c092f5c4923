// Benchmarks of the TypeScript package, in one run (PU_BENCH_SCALE scales the sizes,
// PU_BENCH_ROUNDS the rounds of each; PU_BENCH_HASH_ONLY=1 stops after the hashing part):
// 1. hashing 50k examples: the wasm core (scanExamples) vs npm `canonicalize` + node:crypto;
// 2. against a local Phoenix (SQLite; PU_TEST_BACKENDS' first backend): re-syncing 5k
//    examples unchanged and with 1% edited, upsertDataset vs the client's createDataset.
import { createHash } from "node:crypto";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { createClient } from "@arizeai/phoenix-client";
import { createDataset } from "@arizeai/phoenix-client/datasets";
import canonicalize from "canonicalize";
import { scanExamples, upsertDataset } from "phoenix-upsert";
import { scanExampleBytes } from "../dist/core.js";
import { toJsonText } from "../dist/values.js";
import * as native from "../wasm/phoenix_upsert_native.js";
import { backends, pastThisSecond, startPhoenix } from "../test/phoenix.mjs";

const scale = Number(process.env.PU_BENCH_SCALE ?? 1);
const HASH_N = Math.max(100, Math.round(50_000 * scale));
const SYNC_N = Math.max(100, Math.round(5_000 * scale));
const ROUNDS = Number(process.env.PU_BENCH_ROUNDS ?? 3);

/** LLM-like examples: questions and multi-line answers with quotes, code, emoji, CJK. */
function examples(n, edit = () => false) {
  return Array.from({ length: n }, (_, i) => ({
    id: `ex-${i}`,
    input: {
      question: `Customer #${i} asks: how do I "reset" my password? 🙂 パスワード`,
      context: [`doc ${i % 97}`, "```python\nprint('hello')\n```"],
    },
    output: {
      answer: `Step 1: open Settings → Account.\nStep 2: click "Forgot password".\n${"Details. ".repeat(8)}${edit(i) ? " (edited)" : ""}`,
      score: (i % 10) / 10,
    },
    metadata: { topic: ["billing", "account", "shipping"][i % 3], turn: i % 7 },
  }));
}

async function best(f) {
  let min = Infinity;
  let result;
  for (let r = 0; r < ROUNDS; r++) {
    const t = performance.now();
    result = await f(r);
    min = Math.min(min, performance.now() - t);
  }
  return [min, result];
}

const ms = (t) => `${t.toFixed(0)} ms`;

// 1. Hashing.
const data = examples(HASH_N);
const [wasm, scan] = await best(() => scanExamples(data, { sourceIdKey: "id" }));
const [npm, hashes] = await best(() =>
  data.map(({ input, output, metadata }) =>
    createHash("sha256")
      .update(canonicalize({ input, output, metadata }), "utf8")
      .digest("hex")
      .slice(0, 32),
  ),
);
if (hashes.some((h, i) => h !== scan.hashes[i])) throw new Error("hashes differ");
console.log(`hashing ${HASH_N} examples (best of ${ROUNDS}):`);
console.log(`  wasm core (scanExamples)          ${ms(wasm)}`);
console.log(
  `  canonicalize + node:crypto        ${ms(npm)}   (npm/wasm ${(npm / wasm).toFixed(2)}x; > 1 means the core is faster)`,
);

// Each step of scanExamples on its own: the value walk with JSON.stringify (toJsonText),
// JSON.stringify alone, the UTF-8 of the joined texts, the core compiled to wasm (with and
// without its own SHA-256), and the core writing canonical texts that Node then hashes.
const [tWalk, texts] = await best(() => data.map((e, i) => toJsonText(e, i)));
const [tStringify] = await best(() => data.map((e) => JSON.stringify(e)));
const [tEncode, bytes] = await best(() => new TextEncoder().encode(texts.join("\n")));
const opts = [HASH_N, "id", undefined, undefined, true];
const [tWasmHash] = await best(() => native.scanExamples(bytes, ...opts, false));
const [tWasmCanon] = await best(() => {
  native.scanExamples(bytes, ...opts, true);
  return native.takeCanonical();
});
const [tScan] = await best(() => scanExampleBytes(bytes, HASH_N, { sourceIdKey: "id" }));
console.log(
  `  steps: toJsonText (walk + stringify) ${ms(tWalk)}, JSON.stringify alone ${ms(tStringify)},`,
);
console.log(
  `         UTF-8 ${ms(tEncode)}, wasm scan hashing in wasm ${ms(tWasmHash)}, wasm scan writing canonical texts ${ms(tWasmCanon)},`,
);
console.log(`         scan + Node's SHA-256 (scanExampleBytes) ${ms(tScan)}`);
if (process.env.PU_BENCH_HASH_ONLY) process.exit(0);

// 2. Re-syncs against a real Phoenix (manifests in a directory of this run's own).
process.env.PHOENIX_UPSERT_CACHE_DIR = mkdtempSync(join(tmpdir(), "pu-bench-manifests-"));
const backend = backends[0] ?? "sqlite";
const phoenix = await startPhoenix(backend);
try {
  const client = createClient({ options: { baseUrl: phoenix.url } });
  const base = examples(SYNC_N);
  const edited = (r) => examples(SYNC_N, (i) => i % 100 === r); // a different 1% each round
  // createDataset gets the same ids (its `id`): the server then matches by id, as ours does.
  const strip = (list) => list;
  await upsertDataset({ client, dataset: { datasetName: "bench-upsert" }, examples: base });
  await createDataset({ client, name: "bench-create", examples: strip(base) });
  // A no-op without a manifest (a fresh machine, or the first sync after a change: the export
  // is read), then with one the server proves current (the manifest is written once the
  // server's clock has passed the version's second).
  const [upCold, cold] = await best(() =>
    upsertDataset({
      client,
      dataset: { datasetName: "bench-upsert" },
      examples: base,
      manifest: false,
    }),
  );
  if (cold.action !== "none") throw new Error("not a no-op");
  await pastThisSecond(phoenix.url); // a manifest is written once the server's clock passed the version's second
  await upsertDataset({ client, dataset: { datasetName: "bench-upsert" }, examples: base });
  const [upNoop, noop] = await best(() =>
    upsertDataset({ client, dataset: { datasetName: "bench-upsert" }, examples: base }),
  );
  if (noop.action !== "none") throw new Error("not a no-op");
  const [crNoop] = await best(() =>
    createDataset({ client, name: "bench-create", examples: strip(base) }),
  );
  const [upEdit] = await best((r) =>
    upsertDataset({ client, dataset: { datasetName: "bench-upsert" }, examples: edited(r) }),
  );
  const [crEdit] = await best((r) =>
    createDataset({ client, name: "bench-create", examples: strip(edited(r)) }),
  );
  const versions = async (name) => {
    const list = await client.GET("/v1/datasets", { params: { query: { name } } });
    const id = list.data.data[0].id;
    const v = await client.GET("/v1/datasets/{id}/versions", {
      params: { path: { id }, query: { limit: 100 } },
    });
    return v.data.data.length;
  };
  console.log(`re-sync of ${SYNC_N} examples on ${backend} (best of ${ROUNDS}):`);
  console.log(
    `  versions made: upsertDataset ${await versions("bench-upsert")}, createDataset ${await versions("bench-create")} (1 + no-ops + ${ROUNDS} edits)`,
  );
  console.log(
    `  unchanged, no manifest   upsertDataset ${ms(upCold)}   createDataset ${ms(crNoop)}   (${(crNoop / upCold).toFixed(1)}x)`,
  );
  console.log(
    `  unchanged, manifest      upsertDataset ${ms(upNoop)}   createDataset ${ms(crNoop)}   (${(crNoop / upNoop).toFixed(1)}x)`,
  );
  console.log(
    `  1% edited                upsertDataset ${ms(upEdit)}   createDataset ${ms(crEdit)}   (${(crEdit / upEdit).toFixed(1)}x)`,
  );
} finally {
  await phoenix.stop();
}
