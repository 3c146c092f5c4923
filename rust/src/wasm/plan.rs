//! The sync's plan ([`crate::plan`]) for `js/src/upsert.ts`, as JSON text both ways.

use serde_json::{json, Value};
use wasm_bindgen::prelude::*;

use super::errors::{to_js, type_error, Input};
use crate::manifest::Examples;
use crate::plan::{self, Options, Source};

/// The source's columns: ids, hashes, splits (or null), lines (or null).
type SourceColumns = (
    Vec<Option<String>>,
    Vec<String>,
    Option<Vec<Vec<String>>>,
    Option<Vec<u64>>,
);

/// `plan(previousJson, sourceJson, merge, exists, snapshot, unknown)`: `previousJson` the
/// dataset's examples (`{node_ids, external_ids, hashes, splits}`), `sourceJson`
/// `[ids, hashes, splits | null, lines | null]`; the plan as JSON text `{action, added,
/// updated, splitChanges, deleted, unchanged, matched, full}` of indices. Throws the typed
/// error of a source that cannot be planned.
#[wasm_bindgen]
pub fn plan(
    previous_json: &str,
    source_json: &str,
    merge: bool,
    exists: bool,
    snapshot: bool,
    unknown: bool,
) -> Result<String, JsValue> {
    let previous: Value = serde_json::from_str(previous_json)
        .map_err(|e| type_error(&format!("previous is not JSON: {e}")))?;
    let previous = Examples::from_json(&previous).map_err(|e| type_error(&e))?;
    let (ids, hashes, splits, lines): SourceColumns = serde_json::from_str(source_json)
        .map_err(|e| type_error(&format!("source must be [ids, hashes, splits, lines]: {e}")))?;
    let source = Source {
        ids: &ids,
        hashes: &hashes,
        splits: splits.as_deref(),
        lines: lines.as_deref(),
    };
    let options = Options {
        merge,
        exists,
        snapshot,
        unknown,
    };
    let p = plan::plan(&previous, &source, options).map_err(|e| to_js(e, Input::Examples))?;
    Ok(json!({
        "action": p.action.as_str(),
        "added": p.added,
        "updated": p.updated,
        "splitChanges": p.split_changes,
        "deleted": p.deleted,
        "unchanged": p.unchanged,
        "matched": p.matched,
        "full": p.full,
    })
    .to_string())
}
