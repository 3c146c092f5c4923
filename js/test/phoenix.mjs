// A real Phoenix for the tests (js/test/phoenix_server.py: phoenix_upsert.testing.LocalPhoenix,
// as the Python tests start it), a client of @arizeai/phoenix-client that records its
// requests, and Python's client run on the same server.
import { spawn } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";

import { createClient } from "@arizeai/phoenix-client";
import { hasPython, python, repo } from "./helpers.mjs";

// Sync manifests of the tests' syncs go to a directory of their own, not the user's cache.
process.env.PHOENIX_UPSERT_CACHE_DIR ??= mkdtempSync(join(tmpdir(), "pu-js-manifests-"));

/** The backends to test on: PU_TEST_BACKENDS (as for the Python tests), both by default. */
export const backends = (process.env.PU_TEST_BACKENDS ?? "sqlite,postgresql")
  .split(",")
  .map((b) => b.trim())
  .filter(Boolean);

export const skipServer = hasPython ? false : "no .venv (run ./scripts/setup)";

/** Start a Phoenix on `backend`; `{ url, stop }`. It also stops when this process ends. */
export async function startPhoenix(backend) {
  const child = spawn(python, [`${repo}js/test/phoenix_server.py`, backend], {
    stdio: ["pipe", "pipe", "inherit"],
  });
  const lines = createInterface({ input: child.stdout });
  const url = await new Promise((resolve, reject) => {
    child.once("exit", (code) => reject(new Error(`Phoenix (${backend}) exited with ${code}`)));
    lines.once("line", resolve);
  });
  const exited = new Promise((resolve) => child.once("exit", resolve));
  return {
    url,
    async stop() {
      child.stdin.end();
      await exited;
    },
  };
}

/** A phoenix-client client whose requests are recorded in `requests` as `METHOD /path`. */
export function recordingClient(url) {
  const client = createClient({ options: { baseUrl: url } });
  const requests = [];
  client.use({
    onRequest({ request }) {
      requests.push(`${request.method} ${new URL(request.url).pathname}`);
    },
  });
  return { client, requests, writes: () => requests.filter((r) => r.startsWith("POST")) };
}

/**
 * Python's client in one process of its own (importing it takes seconds): `upsert(url, name,
 * path, options)` syncs a JSONL file into `name` and resolves to `{ action, versionId,
 * datasetId, summary }`; `stop()` ends the process.
 */
export function pythonClient() {
  const code = `
import json, sys
from phoenix_upsert import Client
for line in sys.stdin:
    args = json.loads(line)
    try:
        options = {"manifest": False, "progress": False, **args["options"]}
        d = Client(base_url=args["url"]).datasets.upsert_dataset(
            dataset=args["name"], examples=args["path"], **options)
        out = {"action": d.plan.action, "versionId": d.version_id, "datasetId": d.id,
               "summary": d.summary.as_dict()}
    except Exception as e:
        out = {"error": f"{type(e).__name__}: {e}"}
    print(json.dumps(out), flush=True)
`;
  const child = spawn(python, ["-c", code], { stdio: ["pipe", "pipe", "inherit"] });
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  return {
    async upsert(url, name, path, options = {}) {
      child.stdin.write(JSON.stringify({ url, name, path, options }) + "\n");
      const { value, done } = await lines.next();
      if (done) throw new Error("Python's client exited");
      const out = JSON.parse(value);
      if (out.error) throw new Error(`Python's client: ${out.error}`);
      return out;
    },
    stop() {
      child.stdin.end();
    },
  };
}

/**
 * Wait until the server's clock (its Date header, which uvicorn refreshes about once a second,
 * later under load) has passed the current second, so a version written before this call is
 * of an earlier second than the server's next answer: a manifest of it is provable (see
 * `manifest::provable` in the core). Polling, not a fixed sleep: on a loaded CI machine the
 * header lags by more than a second.
 */
export async function pastThisSecond(url, timeoutMs = 30_000) {
  const now = Math.floor(Date.now() / 1000);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const response = await fetch(`${url}/healthz`);
    await response.arrayBuffer();
    const date = response.headers.get("date");
    if (date && Date.parse(date) / 1000 > now) return;
    if (Date.now() > deadline) throw new Error(`the server's Date stayed at ${date}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** The dataset's examples as Phoenix exports them (JSONL of its newest version), in order. */
export async function exported(url, datasetId) {
  const response = await fetch(`${url}/v1/datasets/${datasetId}/jsonl`);
  const text = await response.text();
  return text
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l));
}

export { repo };
