// `npm pack` / `npm publish` ship what was built: dist/ (TypeScript) and wasm/ (the Rust core
// compiled to WebAssembly). Building needs the whole repository (the crate, cargo, the pinned
// wasm-bindgen), so packing never builds: it checks that the build is there, and says how to
// make it if not. Works from a copy of js/ anywhere.
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../", import.meta.url));
const needed = [
  "dist/index.js",
  "dist/index.d.ts",
  "wasm/phoenix_upsert_native.js",
  "wasm/phoenix_upsert_native_bg.wasm",
];
const missing = needed.filter((f) => !existsSync(root + f));
if (missing.length > 0) {
  console.error(
    `phoenix-upsert: cannot pack: not built (missing ${missing.join(", ")}). ` +
      "Build first, in the repository's js/ directory: `npm run build` (it needs the " +
      "repository: cargo and the wasm-bindgen that ./scripts/setup installs), then `npm pack` " +
      "(there, or from a copy of the built js/ directory anywhere).",
  );
  process.exit(1);
}
