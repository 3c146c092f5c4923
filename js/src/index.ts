/**
 * phoenix-upsert for TypeScript: the Rust core of the Python package, compiled to WebAssembly.
 * This phase exposes the core (canonical JSON, content hashes, scans, the diff) and the typed
 * errors; `upsertDataset` builds on them.
 */

export {
  CORE_VERSION,
  MAX_DEPTH,
  canonicalize,
  canonicalizeJson,
  contentHash,
  diff,
  scanExamples,
  scanJsonl,
} from "./core.js";
export type {
  Diff,
  ExampleContent,
  IncomingExample,
  PreviousExample,
  Scan,
  ScanExamplesOptions,
  ScanJsonlOptions,
} from "./core.js";
export * from "./errors.js";
