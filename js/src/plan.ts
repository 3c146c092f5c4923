/**
 * The sync's plan, the core's rule (`rust/src/plan.rs`), shared with Python's engine: which
 * examples are added, updated, split-changed, deleted or unchanged, and the action that writes
 * it. Typed errors for a source that cannot be planned (a node id of no example of the
 * dataset, one example named twice, a merge adding a copy without an id).
 */

import { call, type ManifestExamples } from "./core.js";
import * as native from "../wasm/phoenix_upsert_native.js";

export interface PlanSource {
  ids: (string | null)[];
  hashes: string[];
  splits: string[][] | null;
  lines: number[] | null;
}

export interface PlanOptions {
  merge: boolean;
  exists: boolean;
  snapshot: boolean;
  unknown: boolean;
}

export interface CorePlan {
  action: "none" | "create" | "append" | "update";
  added: number[];
  updated: number[];
  splitChanges: number[];
  deleted: number[];
  unchanged: number;
  matched: [number, number][];
  full: boolean;
}

export function plan(previous: ManifestExamples, source: PlanSource, o: PlanOptions): CorePlan {
  const columns = [source.ids, source.hashes, source.splits, source.lines];
  const text = call(() =>
    native.plan(
      JSON.stringify(previous),
      JSON.stringify(columns),
      o.merge,
      o.exists,
      o.snapshot,
      o.unknown,
    ),
  );
  return JSON.parse(text) as CorePlan;
}
