/**
 * phoenix-upsert for TypeScript: the Rust core of the Python package, compiled to WebAssembly.
 * `upsertDataset` keeps a Phoenix dataset in sync with a source for `@arizeai/phoenix-client`
 * users; the core (canonical JSON, content hashes, scans, the diff) and the typed errors are
 * exported as well.
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
export { upsertDataset } from "./upsert.js";
export type {
  Action,
  DatasetSelector,
  DryRunResult,
  ExamplesSource,
  Mode,
  SourceIdKey,
  SyncPlan,
  SyncSummary,
  UpsertDatasetOptions,
  UpsertExample,
  UpsertResult,
} from "./upsert.js";
export {
  COPY_CONCURRENCY,
  REUSE_METADATA_KEY,
  runExperiment,
  taskFingerprint,
} from "./experiments.js";
export type {
  Reuse,
  ReusedExperiment,
  ReuseSummary,
  RunExperimentWithReuseParams,
} from "./experiments.js";
