/**
 * The phoenix-upsert loop in TypeScript: upsert v1 → runExperiment → evolve the data →
 * upsert v2 → runExperiment on the new version, reusing v1's runs for the examples that did
 * not change, printing the version progression.
 *
 *     node js/scripts/quickstart.mjs                  # starts a local Phoenix of its own
 *     node js/scripts/quickstart.mjs --endpoint URL   # against a given server
 *
 * The dataset lives in data/support_v1.jsonl and data/support_v2.jsonl (as it would in git),
 * the same files as the Python demo (examples/quickstart.py); the "model" is a tiny lookup
 * table, so the demo needs no LLM and no network.
 */

import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

import { createClient } from "@arizeai/phoenix-client";
import { asExperimentEvaluator } from "@arizeai/phoenix-client/experiments";
import {
  runExperiment,
  upsertDataset,
  type ReusedExperiment,
  type UpsertResult,
} from "phoenix-upsert";

const DATASET = "support-benchmark";

// The system under test: answers from a (slightly outdated) knowledge base.
const KNOWLEDGE: [string, string][] = [
  ["refund", "30 days"],
  ["paid", "To the original payment method"],
  ["password", "Use 'Forgot password' on the sign-in page"],
  ["e-mail", "Yes, under Settings → Account"],
  ["shipping take", "3–5 business days"],
  ["internationally", "Yes, to 40 countries"],
  ["invoice", "Under Orders → Invoices"],
  ["languages", "English, Deutsch, Français, 日本語"],
  ["open", "Mon–Fri, 9:00–17:00 CET"],
  ["digital", "Within 14 days if not downloaded"],
];

function answer(input: Record<string, unknown>): string {
  const question = String(input.question).toLowerCase();
  for (const [key, reply] of KNOWLEDGE)
    if (question.includes(key)) return reply;
  return "Please contact support.";
}

const exactMatch = asExperimentEvaluator({
  name: "exact_match",
  kind: "CODE",
  evaluate: async ({ output, expected }) => ({
    score:
      output === (expected as { answer?: unknown } | undefined)?.answer ? 1 : 0,
  }),
});

function show(step: string, v: UpsertResult): void {
  const s = v.summary;
  console.log(
    `${step.padEnd(28)} version ${v.versionId}  +${s.added} ~${s.updated} -${s.deleted} =${s.unchanged}  (${v.action})`,
  );
}

type Client = ReturnType<typeof createClient>;

async function experiment(
  client: Client,
  v: UpsertResult,
  name: string,
  reuseRunsFrom: ReusedExperiment | null = null,
): Promise<ReusedExperiment> {
  const ran = await runExperiment({
    client,
    experimentName: name,
    dataset: { datasetId: v.datasetId, versionId: v.versionId },
    task: async (example) => answer(example.input),
    evaluators: [exactMatch],
    reuseRunsFrom, // copy the runs of unchanged examples from there
    logger: {
      ...console,
      debug: () => {},
      info: () => {},
      log: () => {},
      table: () => {},
    },
  });
  const runs = Object.keys(ran.runs).length;
  const scores = (ran.evaluationRuns ?? []).map((r) =>
    Number((r.result as { score?: unknown } | null)?.score ?? 0),
  );
  const accuracy = scores.length
    ? scores.reduce((a, b) => a + b, 0) / scores.length
    : 0;
  console.log(
    `${`experiment ${name}`.padEnd(28)} on version ${ran.datasetVersionId}: ${String(runs)} runs, exact match ${Math.round(accuracy * 100)}%`,
  );
  const r = ran.reuse;
  console.log(
    `${"".padEnd(28)} task ran ${String(r.taskRuns)}x, ${String(r.reusedRuns)} runs and ${String(r.reusedEvaluations)} evaluations reused${r.reusedFrom ? ` from ${r.reusedFrom}` : ""}`,
  );
  return ran;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { endpoint: { type: "string" }, data: { type: "string" } },
  });
  const client = createClient(
    values.endpoint !== undefined
      ? { options: { baseUrl: values.endpoint } }
      : {},
  );
  // The data files beside this script (--data: elsewhere, for a compiled copy).
  const dir = values.data ?? fileURLToPath(new URL("data/", import.meta.url));
  const data = (file: string) => join(dir, file);
  const dataset = { datasetName: DATASET };

  const v1 = await upsertDataset({
    client,
    dataset,
    examples: data("support_v1.jsonl"),
  });
  show("upsert v1", v1);
  const first = await experiment(client, v1, "support-v1-ts");

  const v2 = await upsertDataset({
    client,
    dataset,
    examples: data("support_v2.jsonl"),
  });
  show("upsert v2 (evolved data)", v2);
  console.log(
    `${"".padEnd(28)} updated: ${[...v2.plan.updated, ...v2.plan.splitChanges].join(", ")}`,
  );
  console.log(
    `${"".padEnd(28)} added: ${v2.plan.added.join(", ")}; deleted: ${v2.plan.deleted.join(", ")}`,
  );

  const again = await upsertDataset({
    client,
    dataset,
    examples: data("support_v2.jsonl"),
  });
  show("upsert v2 again (no-op)", again);
  if (again.versionId !== v2.versionId)
    throw new Error("a no-op sync must not make a new version");

  const second = await experiment(client, again, "support-v2-ts", first);
  if (second.reuse.taskRuns > v2.summary.added + v2.summary.updated)
    throw new Error("only the changed and new examples run");
  console.log(
    `versions of ${JSON.stringify(DATASET)}: ${v1.versionId} → ${v2.versionId} (no-op: ${again.versionId})`,
  );
}

await main();
