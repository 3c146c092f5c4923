// How users get the package: `npm pack` gives a tarball that installs into an empty Node
// project next to @arizeai/phoenix-client (its peer), and works there — JavaScript and types.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { cpSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

const pkg = fileURLToPath(new URL("../", import.meta.url));
const npm = process.platform === "win32" ? "npm.cmd" : "npm";
/** A copy of js/ in `dir` (outside the repository), without the top-level entries `without`. */
function copyOfPackage(dir, without) {
  const copy = join(dir, "js-copy");
  const skip = new Set(without.map((name) => join(pkg, name)));
  cpSync(pkg, copy, { recursive: true, filter: (src) => !skip.has(src) });
  return copy;
}

const run = (cmd, args, cwd) => {
  try {
    return execFileSync(cmd, args, { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  } catch (e) {
    e.message += `\n${e.stdout ?? ""}${e.stderr ?? ""}`;
    throw e;
  }
};

test("npm pack installs into an empty project and imports there", { timeout: 300_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), "phoenix-upsert-pack-"));
  try {
    // Packed from a copy of the built js/ outside the repository, scripts on: prepack only
    // checks that the build is there (building needs the repository; packing must not).
    const copy = copyOfPackage(dir, ["node_modules", "test"]);
    const packed = JSON.parse(run(npm, ["pack", "--json", "--pack-destination", dir], copy));
    const files = packed[0].files.map((f) => f.path).sort();
    assert.ok(files.includes("wasm/phoenix_upsert_native_bg.wasm"), files.join(", "));
    assert.ok(files.includes("dist/index.d.ts"));
    assert.ok(!files.some((f) => f.startsWith("test/") || f.startsWith("src/")), files.join(", "));
    const tarball = join(
      dir,
      readdirSync(dir).find((f) => f.endsWith(".tgz")),
    );

    const app = join(dir, "app");
    run("mkdir", ["-p", app]);
    writeFileSync(
      join(app, "package.json"),
      JSON.stringify({ name: "app", private: true, type: "module" }),
    );
    run(
      npm,
      ["install", "--prefer-offline", "--no-audit", "--no-fund", "--loglevel=error", tarball],
      app,
    );

    const script = `
      import { canonicalize, contentHash, scanExamples, upsertDataset, InvalidInputError, NonFiniteNumberError } from "phoenix-upsert";
      import { createClient } from "@arizeai/phoenix-client";
      if (typeof createClient !== "function") throw new Error("no phoenix-client next to it");
      console.log(JSON.stringify({
        canonical: canonicalize({ b: [1e21, "é"], a: null }),
        hash: contentHash({ input: {}, output: {}, metadata: {} }),
        ids: scanExamples([{ id: 7, input: {}, output: {} }], { sourceIdKey: "id" }).ids,
        typed: (() => { try { canonicalize(NaN); } catch (e) { return e instanceof InvalidInputError; } })(),
        upsert: await upsertDataset({
          client: createClient({ options: { baseUrl: "http://127.0.0.1:9" } }),
          dataset: { datasetName: "x" },
          examples: [{ id: 1, input: { x: NaN }, output: {} }],
        }).catch((e) => e instanceof NonFiniteNumberError && e.path),
      }));`;
    const out = JSON.parse(run(process.execPath, ["--input-type=module", "-e", script], app));
    assert.deepEqual(out, {
      canonical: '{"a":null,"b":[1e+21,"é"]}',
      hash: "755f1dad6868eecae6602826e8f73558",
      ids: ["7"],
      typed: true,
      upsert: "input.x",
    });

    // The types resolve for a TypeScript user (strict, NodeNext). skipLibCheck: phoenix-upsert's
    // declarations name phoenix-client's types (`PhoenixClient`, `Example`), and the client's
    // own declarations do not check under this TypeScript.
    writeFileSync(
      join(app, "main.ts"),
      `import { scanJsonl, type Scan, NonFiniteNumberError } from "phoenix-upsert";\n` +
        `const s: Scan = scanJsonl("", { idKey: "id" });\n` +
        `const n: number = s.hashes.length;\n` +
        `export { n, NonFiniteNumberError };\n`,
    );
    writeFileSync(
      join(app, "tsconfig.json"),
      JSON.stringify({
        compilerOptions: {
          strict: true,
          module: "nodenext",
          moduleResolution: "nodenext",
          noEmit: true,
          types: [],
          skipLibCheck: true,
        },
        files: ["main.ts"],
      }),
    );
    run(process.execPath, [join(pkg, "node_modules/typescript/bin/tsc"), "-p", app], app);

    // upsertDataset with the phoenix-client's own client, typed (skipLibCheck: the client's
    // declarations do not check under this TypeScript themselves).
    writeFileSync(
      join(app, "sync.ts"),
      `import { createClient } from "@arizeai/phoenix-client";\n` +
        `import { createDataset } from "@arizeai/phoenix-client/datasets";\n` +
        `import type { Example } from "@arizeai/phoenix-client/types/datasets";\n` +
        `import { upsertDataset, type UpsertResult } from "phoenix-upsert";\n` +
        `const client = createClient();\n` +
        `export async function sync(): Promise<string> {\n` +
        `  const r: UpsertResult = await upsertDataset({ client, dataset: { datasetName: "d" }, examples: [], allowEmpty: true });\n` +
        `  const dry = await upsertDataset({ client, dataset: { datasetId: "i" }, examples: "f.jsonl", dryRun: true, mode: "merge" });\n` +
        `  const id: string | null = dry.datasetId;\n` +
        // phoenix-client's own Example[], as createDataset takes it, unchanged
        `  const examples: Example[] = [{ input: { q: 1 }, output: null, spanId: "ab" }, { input: {}, metadata: null, splits: "train" }];\n` +
        `  await createDataset({ client, name: "d", description: "", examples });\n` +
        `  await upsertDataset({ client, dataset: { datasetName: "d" }, examples });\n` +
        `  return r.versionId + String(id) + String(r.summary.added) + dry.plan.action;\n` +
        `}\n`,
    );
    writeFileSync(
      join(app, "tsconfig.json"),
      JSON.stringify({
        compilerOptions: {
          strict: true,
          module: "nodenext",
          moduleResolution: "nodenext",
          noEmit: true,
          types: [],
          skipLibCheck: true,
        },
        files: ["sync.ts"],
      }),
    );
    run(process.execPath, [join(pkg, "node_modules/typescript/bin/tsc"), "-p", app], app);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("npm pack of an unbuilt copy fails, saying how to build", { timeout: 120_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), "phoenix-upsert-pack-"));
  try {
    const copy = copyOfPackage(dir, ["node_modules", "test", "dist", "wasm"]);
    let failure;
    try {
      run(npm, ["pack", "--pack-destination", dir], copy);
    } catch (e) {
      failure = e;
    }
    assert.ok(failure, "npm pack of an unbuilt copy must fail");
    assert.match(String(failure.stderr), /cannot pack: not built \(missing dist\/index\.js/);
    assert.match(String(failure.stderr), /npm run build/);
    assert.doesNotMatch(String(failure.stderr), /Cargo\.toml/);
    assert.deepEqual(
      readdirSync(dir).filter((f) => f.endsWith(".tgz")),
      [],
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
