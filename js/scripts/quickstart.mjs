// Run examples/quickstart.ts: type-check and compile it (strict) against this package and
// @arizeai/phoenix-client, as a project that installed them would, then run it — against a
// local Phoenix started for the run (the Python tests' LocalPhoenix: SQLite, temporary
// directory; needs ./scripts/setup), or with `--endpoint URL` against a server of your own.
import { execFileSync, spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

import { startPhoenix } from "../test/phoenix.mjs";

const js = fileURLToPath(new URL("../", import.meta.url));
const examples = fileURLToPath(new URL("../../examples/", import.meta.url));

if (!existsSync(`${js}dist/index.js`)) {
  execFileSync("sh", [`${js}scripts/build.sh`], { stdio: "inherit" });
}
// A project of its own, outside js/: the packages linked into its node_modules.
const out = join(tmpdir(), `phoenix-upsert-quickstart-${process.pid}`);
mkdirSync(join(out, "node_modules"), { recursive: true });
writeFileSync(join(out, "package.json"), '{ "type": "module" }\n');
symlinkSync(js, join(out, "node_modules", "phoenix-upsert"), "dir");
symlinkSync(`${js}node_modules/@arizeai`, join(out, "node_modules", "@arizeai"), "dir");
symlinkSync(`${js}node_modules/@types`, join(out, "node_modules", "@types"), "dir");
copyFileSync(`${examples}quickstart.ts`, join(out, "quickstart.ts"));
try {
  execFileSync(
    `${js}node_modules/.bin/tsc`,
    [
      "--ignoreConfig",
      "--strict",
      "--noUncheckedIndexedAccess",
      "--target",
      "es2022",
      "--module",
      "nodenext",
      "--moduleResolution",
      "nodenext",
      "--types",
      "node",
      "--skipLibCheck",
      "quickstart.ts",
    ],
    { stdio: "inherit", cwd: out },
  );
  if (process.argv.includes("--check")) process.exit(0);

  const args = process.argv.slice(2);
  let phoenix = null;
  if (!args.includes("--endpoint")) {
    console.log("starting a local Phoenix server (SQLite, temporary directory)…");
    phoenix = await startPhoenix("sqlite");
    console.log(`Phoenix is up at ${phoenix.url}`);
    args.push("--endpoint", phoenix.url);
  }
  const run = spawnSync(
    process.execPath,
    [join(out, "quickstart.js"), "--data", `${examples}data`, ...args],
    { stdio: "inherit" },
  );
  await phoenix?.stop();
  process.exitCode = run.status ?? 1;
} finally {
  rmSync(out, { recursive: true, force: true });
}
