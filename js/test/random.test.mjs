// Random documents: the wasm core agrees with the npm canonicalize package and node:crypto.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { test } from "node:test";

import npmCanonicalize from "canonicalize";
import { canonicalize, contentHash, scanExamples } from "phoenix-upsert";
import { generator } from "./helpers.mjs";

const DOCS = Number(process.env.PU_JS_RANDOM_DOCS ?? 3000);
const hash = (text) => createHash("sha256").update(text, "utf8").digest("hex").slice(0, 32);

test(`canonical JSON of ${DOCS} random documents equals npm canonicalize`, () => {
  const g = generator(0x5eed);
  for (let i = 0; i < DOCS; i++) {
    const doc = g.value(0);
    const ours = canonicalize(doc);
    assert.equal(ours, npmCanonicalize(doc), `document ${i}: ${JSON.stringify(doc)}`);
  }
});

test(`content hashes of ${DOCS} random examples equal sha256 of npm canonicalize`, () => {
  const g = generator(0xc0ffee);
  const examples = [];
  for (let i = 0; i < DOCS; i++) {
    examples.push({ input: g.object(), output: g.object(), metadata: g.object() });
  }
  const expected = examples.map(({ input, output, metadata }) =>
    hash(npmCanonicalize({ input, metadata, output })),
  );
  examples.forEach((ex, i) => assert.equal(contentHash(ex), expected[i], `example ${i}`));
  // The same through a scan of the values (hashing only: random numbers may not be storable).
  assert.deepEqual(scanExamples(examples, { storable: false }).hashes, expected);
});
