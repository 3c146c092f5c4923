// The driver of the core's sync engine (src/driver.ts) against faults a real Phoenix cannot be
// made to show, from a small HTTP server of the test's own: a 429 with Retry-After becomes the
// typed ServerError with its status, detail and Retry-After after the retries, one warning per
// retry; a connection closed under a request is repeated at once, without a warning.
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { test } from "node:test";

import { createClient } from "@arizeai/phoenix-client";
import * as pu from "phoenix-upsert";

/** A server answering `/arize_phoenix_version` and `answer(request, count)` for the rest. */
async function fakePhoenix(answer) {
  let count = 0;
  const server = createServer((request, response) => {
    if (request.url === "/arize_phoenix_version") {
      response.end("20.26.1");
      return;
    }
    answer(request, response, ++count);
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    requests: () => count,
    close: () => new Promise((resolve) => server.close(resolve)),
  };
}

/** The PHOENIX_UPSERT warnings emitted while `f` runs. */
async function warnings(f) {
  const seen = [];
  const listen = (w) => {
    if (w.code === "PHOENIX_UPSERT") seen.push(w.message);
  };
  process.on("warning", listen);
  try {
    return [await f(), seen];
  } finally {
    await new Promise((resolve) => setImmediate(resolve));
    process.off("warning", listen);
  }
}

const examples = [{ id: "a", input: { q: 1 }, output: { a: 1 } }];

test("a 429 with Retry-After is retried as the server asks, then a typed ServerError", async () => {
  const server = await fakePhoenix((_, response, n) => {
    response.writeHead(429, { "content-type": "application/json", "retry-after": "0" });
    response.end(JSON.stringify({ detail: `slow down ${n}` }));
  });
  try {
    const client = createClient({ options: { baseUrl: server.url } });
    const [error, seen] = await warnings(() =>
      pu
        .upsertDataset({ client, dataset: { datasetName: "d" }, examples, retries: 3 })
        .catch((e) => e),
    );
    assert.ok(error instanceof pu.ServerError, String(error));
    assert.equal(error.statusCode, 429);
    assert.equal(error.retryAfter, 0);
    assert.equal(error.detail, "slow down 3");
    assert.equal(error.exhausted, true);
    assert.match(error.message, /^looking up dataset 'd': HTTP 429: slow down 3$/);
    assert.equal(server.requests(), 3);
    assert.equal(seen.length, 2);
    assert.match(seen[0], /looking up dataset 'd' failed \(HTTP 429\); retrying in 0\.0 s/);
  } finally {
    await server.close();
  }
});

test("a connection closed under a request is repeated at once, without a warning", async () => {
  const server = await fakePhoenix((request, response, n) => {
    if (n === 1) {
      request.socket.destroy();
      return;
    }
    response.writeHead(401, { "content-type": "application/json" });
    response.end(JSON.stringify({ detail: "Invalid token" }));
  });
  try {
    const client = createClient({ options: { baseUrl: server.url } });
    const [error, seen] = await warnings(() =>
      pu.upsertDataset({ client, dataset: { datasetName: "d" }, examples }).catch((e) => e),
    );
    assert.ok(error instanceof pu.AuthenticationError, String(error));
    assert.equal(error.statusCode, 401);
    assert.match(error.message, /HTTP 401: Invalid token\); set PHOENIX_API_KEY/);
    assert.equal(server.requests(), 2);
    assert.deepEqual(seen, []);
  } finally {
    await server.close();
  }
});

test("an answer cut short after its first bytes is read again, and only the second counts", async () => {
  const whole = JSON.stringify({ data: [], next_cursor: null });
  const server = await fakePhoenix((request, response, n) => {
    if (n === 1) {
      // The first bytes of another answer, then the connection fails: fed, then dropped.
      response.writeHead(200, {
        "content-type": "application/json",
        "content-length": String(whole.length + 40),
      });
      response.write('{"data": [{"id": "RGF0YXNldDox", "name": ');
      setTimeout(() => request.socket.destroy(), 50);
      return;
    }
    response.writeHead(200, { "content-type": "application/json" });
    response.end(whole);
  });
  try {
    const client = createClient({ options: { baseUrl: server.url } });
    const [result] = await warnings(() =>
      pu.upsertDataset({ client, dataset: { datasetName: "d" }, examples, dryRun: true }),
    );
    assert.equal(result.plan.action, "create");
    assert.equal(server.requests(), 2);
  } finally {
    await server.close();
  }
});
