//! The functions the wasm module exports (camelCase names); `js/src/core.ts` wraps them.

use serde_json::{json, Value};
use wasm_bindgen::prelude::*;

use super::errors::{install_panic_hook, to_js, type_error, Input};
use crate::canon::{hash_hex, parse_hash_hex, Canonicalizer};
use crate::diff::{self as diff_core, Incoming, Previous};
use crate::error::{Error, ErrorKind};
use crate::example::{parse_line_with, LineKeys, ScanResult};
use crate::jsonl::{self, ScanOptions};
use crate::strings::StrColumn;
use crate::tape::Tape;
use crate::upload::{self, LineRef, Part};

#[wasm_bindgen(start)]
fn start() {
    install_panic_hook();
}

/// The message of the last panic (taken once), or `undefined`.
#[wasm_bindgen(js_name = takePanicMessage)]
pub fn take_panic_message() -> Option<String> {
    super::errors::take_panic_message()
}

/// The core's version (the crate's).
#[wasm_bindgen(js_name = coreVersion)]
pub fn core_version() -> String {
    env!("CARGO_PKG_VERSION").to_owned()
}

/// Deepest nesting accepted (see `crate::MAX_DEPTH`).
#[wasm_bindgen(js_name = maxDepth)]
pub fn max_depth() -> usize {
    crate::MAX_DEPTH
}

/// `canonicalize(text) -> string`: RFC 8785 canonical JSON of a JSON text.
#[wasm_bindgen]
pub fn canonicalize(text: &str) -> Result<String, JsValue> {
    let out = crate::canonicalize_text(text).map_err(|e| to_js(e, Input::JsonText))?;
    String::from_utf8(out).map_err(|_| internal("canonical JSON is not UTF-8"))
}

/// `contentHash(exampleJson) -> string`: Phoenix's content hash (32 hex characters) of one
/// example given as the JSON text of `{"input": {...}, "output": {...}, "metadata": {...}}`
/// (metadata optional), read by the core's example schema.
#[wasm_bindgen(js_name = contentHash)]
pub fn content_hash(text: &str) -> Result<String, JsValue> {
    let mut tape = Tape::new();
    let fields = parse_line_with(text, &LineKeys::default(), false, &mut tape)
        .map_err(|e| to_js(e, Input::Examples))?;
    let (Some(input), Some(output)) = (fields.input, fields.output) else {
        return Err(to_js(
            Error::new(ErrorKind::InvalidExample, "missing input or output"),
            Input::Examples,
        ));
    };
    let hash =
        Canonicalizer::new().example_hash(&tape, input, output, fields.metadata, &mut Vec::new());
    Ok(hash_hex(&hash))
}

fn internal(message: &str) -> JsValue {
    to_js(Error::new(ErrorKind::Internal, message), Input::Examples)
}

fn options(
    id_key: Option<String>,
    splits_key: Option<String>,
    span_id_key: Option<String>,
    node_id_key: Option<String>,
    max_line_bytes: Option<f64>,
    keep_positions: bool,
    storable: bool,
) -> Result<ScanOptions, JsValue> {
    let max_line_bytes = match max_line_bytes {
        None => jsonl::DEFAULT_MAX_LINE_BYTES,
        Some(n) if n >= 1.0 && n.fract() == 0.0 && n <= usize::MAX as f64 => n as usize,
        Some(_) => {
            return Err(js_sys::RangeError::new("maxLineBytes must be a positive integer").into())
        }
    };
    let keys = LineKeys {
        id: id_key,
        splits: splits_key,
        span_id: span_id_key,
        node_id: node_id_key,
    };
    keys.check().map_err(|e| to_js(e, Input::Examples))?;
    Ok(ScanOptions {
        keys,
        max_line_bytes,
        keep_positions,
        storable,
        ..ScanOptions::default()
    })
}

fn opt_strs(values: &StrColumn) -> Value {
    Value::Array(
        values
            .iter()
            .map(|v| v.map_or(Value::Null, Value::from))
            .collect(),
    )
}

/// A scan as the JSON text `core.ts` parses: columns not asked for are `null`.
fn scan_json(r: &ScanResult, opts: &ScanOptions) -> String {
    let k = &opts.keys;
    let column = |on: bool, values: &StrColumn| {
        if on {
            opt_strs(values)
        } else {
            Value::Null
        }
    };
    let splits = if k.splits.is_some() {
        Value::Array(
            r.splits
                .iter()
                .map(|s| {
                    s.as_ref().map_or(Value::Null, |names| {
                        Value::Array(names.iter().map(|n| Value::from(&**n)).collect())
                    })
                })
                .collect(),
        )
    } else {
        Value::Null
    };
    let mut scan = json!({
        "hashes": r.hashes.iter().map(hash_hex).collect::<Vec<_>>(),
        "ids": column(k.id.is_some(), &r.ids),
        "nodeIds": column(k.node_id.is_some(), &r.node_ids),
        "externalIds": if k.id.is_some() && k.node_id.is_some() {
            Value::Array((0..r.len()).map(|i| Value::from(r.external_id(i))).collect())
        } else {
            Value::Null
        },
        "spanIds": column(k.span_id.is_some(), &r.span_ids),
        "splits": splits,
        "lineNumbers": r.line_numbers,
        "offsets": r.offsets,
        "lengths": r.lengths,
    });
    if opts.canonical {
        scan["canonicalEnds"] = Value::from(r.canonical_ends.as_slice());
    }
    scan.to_string()
}

/// `scanJsonl(data, idKey, splitsKey, spanIdKey, nodeIdKey, maxLineBytes, storable) -> string`:
/// the hashes, the fields asked for and the line positions of JSONL (UTF-8 bytes), as JSON
/// text; the same scan as Python's `scan_jsonl`.
#[allow(clippy::too_many_arguments)]
#[wasm_bindgen(js_name = scanJsonl)]
pub fn scan_jsonl(
    data: &[u8],
    id_key: Option<String>,
    splits_key: Option<String>,
    span_id_key: Option<String>,
    node_id_key: Option<String>,
    max_line_bytes: Option<f64>,
    storable: bool,
) -> Result<String, JsValue> {
    let opts = options(
        id_key,
        splits_key,
        span_id_key,
        node_id_key,
        max_line_bytes,
        true,
        storable,
    )?;
    let r = jsonl::scan_bytes(data, &opts).map_err(|e| to_js(e, Input::Examples))?;
    Ok(scan_json(&r, &opts))
}

thread_local! {
    /// The canonical texts of the last scan that wrote them (see `takeCanonical`).
    static CANONICAL: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// `takeCanonical() -> Uint8Array`: the canonical JSON of every example of the last
/// `scanExamples` called with `canonical`, back to back (the scan's `canonicalEnds` say
/// where each ends); taken once.
#[wasm_bindgen(js_name = takeCanonical)]
pub fn take_canonical() -> Vec<u8> {
    CANONICAL.with(|c| std::mem::take(&mut *c.borrow_mut()))
}

/// `scanExamples(jsonl, count, idKey, splitsKey, spanIdKey, storable, canonical) -> string`:
/// the scan of JavaScript examples, given as their JSON texts one per line (`JSON.stringify`
/// writes no raw newline); errors name the example (its 0-based index), not a line. With
/// `canonical`, the examples' canonical texts are kept for `takeCanonical` instead of hashed
/// (`hashes` is then empty): Node's SHA-256 (with the CPU's SHA instructions) hashes them
/// faster than the core compiled to wasm.
#[allow(clippy::too_many_arguments)]
#[wasm_bindgen(js_name = scanExamples)]
pub fn scan_examples(
    data: &[u8],
    count: usize,
    id_key: Option<String>,
    splits_key: Option<String>,
    span_id_key: Option<String>,
    storable: bool,
    canonical: bool,
) -> Result<String, JsValue> {
    let keys = (id_key, splits_key, span_id_key);
    scan_example_lines(data, count, keys, storable, canonical)
}

/// `scanExamplesText(text, count, idKey, splitsKey, spanIdKey, storable, canonical)`: as
/// `scanExamples`, the texts joined by newlines given as one string (which wasm-bindgen
/// writes into the module's memory as UTF-8 directly; `JSON.stringify` writes no lone
/// surrogate, so nothing is lost on the way).
#[allow(clippy::too_many_arguments)]
#[wasm_bindgen(js_name = scanExamplesText)]
pub fn scan_examples_text(
    text: &str,
    count: usize,
    id_key: Option<String>,
    splits_key: Option<String>,
    span_id_key: Option<String>,
    storable: bool,
    canonical: bool,
) -> Result<String, JsValue> {
    let keys = (id_key, splits_key, span_id_key);
    scan_example_lines(text.as_bytes(), count, keys, storable, canonical)
}

type Keys = (Option<String>, Option<String>, Option<String>);

fn scan_example_lines(
    data: &[u8],
    count: usize,
    (id_key, splits_key, span_id_key): Keys,
    storable: bool,
    canonical: bool,
) -> Result<String, JsValue> {
    // Without line positions, the core names examples by index (duplicate ids included).
    let mut opts = options(id_key, splits_key, span_id_key, None, None, false, storable)?;
    opts.canonical = canonical;
    let mut r = jsonl::scan_bytes(data, &opts).map_err(|mut e| {
        if let Some(line) = e.line.take() {
            e.column = None;
            e.index = Some(line.saturating_sub(1) as usize);
        }
        to_js(e, Input::Examples)
    })?;
    if r.len() != count {
        return Err(type_error(&format!(
            "expected the JSON texts of {count} examples, one per line; got {}",
            r.len()
        )));
    }
    let json = scan_json(&r, &opts);
    CANONICAL.with(|c| *c.borrow_mut() = std::mem::take(&mut r.canonical));
    Ok(json)
}

/// `uploadParts(data, indices, offsets, lengths, lines, hashes, part, changed) -> string`:
/// part `part` (0 input, 1 output, 2 metadata) of the chosen examples of a scan, as the JSON
/// texts an upload sends, joined by commas — each read again from `data` (the bytes that
/// were scanned: a JSONL file, or the examples' JSON texts one per line) at its offset and
/// length, checked to hash as scanned (`hashes`: 32 hex characters per example, back to
/// back), and written by the core's upload writer, the original key order kept, as Python's
/// uploads are. `indices` name the examples in errors, `lines` their line numbers (0: none);
/// `changed` is the message of a `SourceChangedError`.
#[allow(clippy::too_many_arguments)]
#[wasm_bindgen(js_name = uploadParts)]
pub fn upload_parts(
    data: &[u8],
    indices: &[f64],
    offsets: &[f64],
    lengths: &[f64],
    lines: &[f64],
    hashes: &str,
    part: usize,
    changed: &str,
) -> Result<String, JsValue> {
    let part = Part::from_index(part).ok_or_else(|| type_error("part must be 0, 1 or 2"))?;
    let n = indices.len();
    if [offsets.len(), lengths.len(), lines.len()] != [n, n, n] || hashes.len() != 32 * n {
        return Err(type_error(
            "uploadParts: indices, offsets, lengths, lines and hashes differ in length",
        ));
    }
    let refs = (0..n)
        .map(|k| {
            Some(LineRef {
                index: indices[k] as usize,
                offset: offsets[k] as u64,
                length: lengths[k] as u64,
                line: lines[k] as u64,
                hash: parse_hash_hex(hashes.get(32 * k..32 * (k + 1))?)?,
            })
        })
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| type_error("uploadParts: a hash is not 32 hex characters"))?;
    let written = upload::bytes_part(data, &refs, part, changed).map_err(|mut e| {
        if e.line == Some(0) {
            e.line = None;
        }
        to_js(e, Input::Examples)
    })?;
    let mut out = Vec::with_capacity(written.bytes.len() + n);
    for (k, text) in written.texts().enumerate() {
        if k > 0 {
            out.push(b',');
        }
        out.extend_from_slice(text);
    }
    String::from_utf8(out).map_err(|_| internal("an upload part is not UTF-8"))
}

fn bad_item(side: &str, i: usize, shape: &str) -> JsValue {
    type_error(&format!(
        "{side}[{i}] must be a {shape} tuple (hash: 32 hex characters)"
    ))
}

fn hash_of(v: &Value) -> Option<[u8; 16]> {
    v.as_str().and_then(parse_hash_hex)
}

fn opt_str(v: &Value) -> Option<Option<&str>> {
    match v {
        Value::Null => Some(None),
        Value::String(s) => Some(Some(s)),
        _ => None,
    }
}

/// Previous examples: `[nodeId, externalId | null, hash]` tuples, or a scan of Phoenix's
/// export (with ids and node ids) — whose `id` is the external id, or the node id when the
/// example has none.
fn previous(v: &Value) -> Result<Vec<Previous<'_>>, JsValue> {
    const SHAPE: &str = "[nodeId: string, externalId: string | null, hash: string]";
    if let Value::Object(scan) = v {
        let (Some(Value::Array(nodes)), Some(Value::Array(ids)), Some(Value::Array(hashes))) =
            (scan.get("nodeIds"), scan.get("ids"), scan.get("hashes"))
        else {
            return Err(type_error(
                "previous examples need node ids and ids: scan with idKey and nodeIdKey",
            ));
        };
        return nodes
            .iter()
            .zip(ids)
            .zip(hashes)
            .enumerate()
            .map(|(i, ((node, id), hash))| {
                let node = node
                    .as_str()
                    .ok_or_else(|| type_error(&format!("previous example {i} has no node id")))?;
                let id = opt_str(id).ok_or_else(|| bad_item("previous", i, SHAPE))?;
                Ok(Previous {
                    node_id: node,
                    external_id: id.filter(|id| *id != node),
                    hash: hash_of(hash).ok_or_else(|| bad_item("previous", i, SHAPE))?,
                })
            })
            .collect();
    }
    let Value::Array(items) = v else {
        return Err(type_error("previous must be an array of tuples or a scan"));
    };
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let bad = || bad_item("previous", i, SHAPE);
            match item.as_array().map(Vec::as_slice) {
                Some([node, ext, hash]) => Ok(Previous {
                    node_id: node.as_str().ok_or_else(bad)?,
                    external_id: opt_str(ext).ok_or_else(bad)?,
                    hash: hash_of(hash).ok_or_else(bad)?,
                }),
                _ => Err(bad()),
            }
        })
        .collect()
}

/// Incoming examples: `[id | null, hash]` tuples, or a scan (its ids, where it has them).
fn incoming(v: &Value) -> Result<Vec<Incoming<'_>>, JsValue> {
    const SHAPE: &str = "[id: string | null, hash: string]";
    if let Value::Object(scan) = v {
        let Some(Value::Array(hashes)) = scan.get("hashes") else {
            return Err(type_error("incoming scan has no hashes"));
        };
        let ids = scan.get("ids").and_then(Value::as_array);
        return hashes
            .iter()
            .enumerate()
            .map(|(i, hash)| {
                let bad = || bad_item("incoming", i, SHAPE);
                let id = match ids {
                    Some(ids) => opt_str(ids.get(i).ok_or_else(bad)?).ok_or_else(bad)?,
                    None => None,
                };
                Ok(Incoming {
                    id,
                    hash: hash_of(hash).ok_or_else(bad)?,
                })
            })
            .collect();
    }
    let Value::Array(items) = v else {
        return Err(type_error("incoming must be an array of tuples or a scan"));
    };
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let bad = || bad_item("incoming", i, SHAPE);
            match item.as_array().map(Vec::as_slice) {
                Some([id, hash]) => Ok(Incoming {
                    id: opt_str(id).ok_or_else(bad)?,
                    hash: hash_of(hash).ok_or_else(bad)?,
                }),
                _ => Err(bad()),
            }
        })
        .collect()
}

/// `diff(previousJson, incomingJson, merge) -> string`: Phoenix's matching rules (the core's
/// diff, as Python's `_native.diff`), each side as JSON text of tuples or of a scan; the
/// result as JSON text `{added, updated, unchanged, deleted, unknownNodeIds}` of indices.
#[wasm_bindgen]
pub fn diff(previous_json: &str, incoming_json: &str, merge: bool) -> Result<String, JsValue> {
    let parse = |text: &str, side: &str| {
        serde_json::from_str::<Value>(text)
            .map_err(|e| type_error(&format!("{side} is not valid JSON: {e}")))
    };
    let prev_value = parse(previous_json, "previous")?;
    let inc_value = parse(incoming_json, "incoming")?;
    let prev = previous(&prev_value)?;
    let inc = incoming(&inc_value)?;
    let r = diff_core::diff(&prev, &inc, merge).map_err(|e| to_js(e, Input::Examples))?;
    Ok(json!({
        "added": r.added,
        "updated": r.updated,
        "unchanged": r.unchanged,
        "deleted": r.deleted,
        "unknownNodeIds": r.unknown_node_ids,
    })
    .to_string())
}

/// Panic on purpose: how the tests see that a panic becomes an `InternalError` and that the
/// module works again afterwards.
#[doc(hidden)]
#[wasm_bindgen(js_name = __panicForTests)]
pub fn panic_for_tests(message: &str) {
    panic!("{message}");
}
