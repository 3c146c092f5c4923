// A real Phoenix for the tests (js/test/phoenix_server.py: phoenix_upsert.testing.LocalPhoenix,
// as the Python tests start it), a client of @arizeai/phoenix-client that records its
// requests, and Python's client run on the same server.
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";

import { createClient } from "@arizeai/phoenix-client";
import { hasPython, python, repo, runPython } from "./helpers.mjs";

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

/** Python's client syncs `examples` (a JSONL path) into `name`: `{ action, versionId, summary }`. */
export function pythonUpsert(url, name, path, options = {}) {
  const code = `
import json, sys
from phoenix_upsert import Client
args = json.loads(sys.stdin.read())
d = Client(base_url=args["url"]).datasets.upsert_dataset(
    dataset=args["name"], examples=args["path"], manifest=False, progress=False, **args["options"])
print(json.dumps({"action": d.plan.action, "versionId": d.version_id, "datasetId": d.id,
                  "summary": d.summary.as_dict()}))
`;
  return runPython(code, JSON.stringify({ url, name, path, options }));
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
