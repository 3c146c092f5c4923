//! The sync engine ([`crate::sync::Machine`]) for `js/src/driver.ts`: a class whose `poll()`
//! returns each step as a plain JavaScript object and whose `handle*` methods take the
//! answers. The driver sends, reads and writes files, sleeps and logs; every decision is the
//! core's, as for Python's driver.
//!
//! Steps (`kind`): `http` (`method`, `path`, `query` and `headers` as `[name, value]` pairs,
//! `timeout` and `connectTimeout` in seconds, `purpose`, `examples`, `what`, `label`, `body`: `null` or
//! `{segments, indices}` with each segment a `Uint8Array` or the number of a part of the
//! examples at `indices`), `loadManifest` (`file`), `saveManifest` (`file`, `data`: a
//! `Uint8Array` or `null` to remove the file), `sleep` (`seconds`), `log` (`level`,
//! `message`) and `done` (`outcome`). A sync that fails makes `poll()` throw: an input
//! error of the core as `errors.rs` names it, a server failure as an `Error` named after its
//! class (`ServerError`, …) with `statusCode`, `detail`, `retryAfter` and `exhausted`.

use std::borrow::Cow;

use serde_json::{json, Map, Value};
use wasm_bindgen::prelude::*;

use super::errors::{to_js, type_error, Input as ErrorInput};
use crate::canon::parse_hash_hex;
use crate::strings::StrColumn;
use crate::sync::{
    Body, Config, Fail, Failure, Input, Machine, Outcome, Purpose, Request, Response, Segment,
    SourceColumns, Step, TransportKind,
};

/// One sync (see the module docs).
#[wasm_bindgen(js_name = SyncMachine)]
pub struct SyncMachine {
    machine: Machine,
    /// The answer's chunks fed so far, in one buffer (`feed`).
    body: Vec<u8>,
}

fn set(target: &JsValue, key: &str, value: &JsValue) {
    // Setting a property on a fresh object cannot fail.
    let _ = js_sys::Reflect::set(target, &JsValue::from_str(key), value);
}

/// A JSON value as a JavaScript value (one `JSON.parse`, no per-element calls).
fn to_value(v: &Value) -> JsValue {
    js_sys::JSON::parse(&v.to_string()).unwrap_or(JsValue::NULL)
}

fn bad(what: &str) -> JsValue {
    type_error(&format!("SyncMachine: {what}"))
}

fn opt_string(v: Option<&Value>, key: &str) -> Result<Option<String>, JsValue> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(bad(&format!("config.{key} must be a string or null"))),
    }
}

fn config(text: &str) -> Result<Config, JsValue> {
    let value: Value =
        serde_json::from_str(text).map_err(|e| bad(&format!("config is not JSON: {e}")))?;
    let map = value
        .as_object()
        .ok_or_else(|| bad("config must be an object"))?;
    let flag = |key: &str| map.get(key).and_then(Value::as_bool).unwrap_or(false);
    let number = |key: &str| map.get(key).and_then(Value::as_f64);
    let text = |key: &str| opt_string(map.get(key), key);
    let mut cfg = Config {
        name: text("name")?,
        dataset_id: text("dataset_id")?,
        merge: flag("merge"),
        dry_run: flag("dry_run"),
        description: text("description")?,
        allow_empty: flag("allow_empty"),
        manifest: flag("manifest"),
        server: text("server")?.unwrap_or_default(),
        timeout: number("timeout"),
        ..Config::default()
    };
    if let Some(r) = number("retries") {
        // Beyond u32 is no budget anyone means; below 1 the core refuses.
        cfg.retries = if r >= 1.0 {
            r.min(u32::MAX as f64) as u32
        } else {
            0
        };
    }
    if let Some(b) = number("backoff") {
        cfg.backoff = b;
    }
    if let Some(b) = number("max_backoff") {
        cfg.max_backoff = b;
    }
    if let Some(Value::Array(parts)) = map.get("server_version") {
        cfg.server_version = Some(parts.iter().filter_map(Value::as_u64).collect());
    }
    if let Some(c) = text("credentials")? {
        cfg.credentials = c;
    }
    if let Some(s) = text("source_name")? {
        cfg.source_name = s;
    }
    if let Some(s) = text("allow_empty_option")? {
        cfg.allow_empty_option = s;
    }
    if let Some(seed) = number("seed") {
        cfg.seed = seed as u64;
    }
    Ok(cfg)
}

fn opt_strings(text: &str, what: &str) -> Result<StrColumn, JsValue> {
    let value: Value =
        serde_json::from_str(text).map_err(|e| bad(&format!("{what} are not JSON: {e}")))?;
    let Value::Array(items) = value else {
        return Err(bad(&format!("{what} must be an array")));
    };
    items
        .into_iter()
        .map(|v| match v {
            Value::Null => Ok(None),
            Value::String(s) => Ok(Some(s)),
            _ => Err(bad(&format!("{what} must be strings or null"))),
        })
        .collect()
}

fn split_names(text: &str) -> Result<Vec<Vec<String>>, JsValue> {
    let value: Value =
        serde_json::from_str(text).map_err(|e| bad(&format!("splits are not JSON: {e}")))?;
    let shape = || bad("splits must be arrays of strings");
    let Value::Array(items) = value else {
        return Err(shape());
    };
    items
        .into_iter()
        .map(|v| match v {
            Value::Array(names) => names
                .into_iter()
                .map(|n| match n {
                    Value::String(s) => Ok(s),
                    _ => Err(shape()),
                })
                .collect(),
            _ => Err(shape()),
        })
        .collect()
}

fn server_error(f: Failure) -> JsValue {
    let js = js_sys::Error::new(&f.message);
    js.set_name(f.kind.class_name());
    let value: JsValue = js.into();
    set(
        &value,
        "statusCode",
        &f.status
            .map_or(JsValue::NULL, |s| JsValue::from_f64(f64::from(s))),
    );
    set(&value, "detail", &JsValue::from_str(&f.detail));
    set(
        &value,
        "retryAfter",
        &f.retry_after.map_or(JsValue::NULL, JsValue::from_f64),
    );
    set(&value, "exhausted", &JsValue::from_bool(f.exhausted));
    value
}

fn purpose(p: Purpose) -> &'static str {
    match p {
        Purpose::Read => "read",
        Purpose::Export => "export",
        Purpose::Upload => "upload",
    }
}

fn http(r: Request) -> JsValue {
    let pairs = |items: Vec<(String, String)>| {
        Value::Array(items.into_iter().map(|(k, v)| json!([k, v])).collect())
    };
    let headers = r
        .headers
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let step = to_value(&json!({
        "kind": "http",
        "method": r.method.as_str(),
        "path": r.path,
        "query": pairs(r.query),
        "headers": pairs(headers),
        "timeout": r.timeout,
        "connectTimeout": r.connect_timeout,
        "purpose": purpose(r.purpose),
        "examples": r.examples,
        "what": r.what,
        "label": r.label,
    }));
    set(&step, "body", &r.body.map_or(JsValue::NULL, body));
    step
}

fn body(b: Body) -> JsValue {
    let segments = js_sys::Array::new();
    for s in &b.segments {
        match s {
            Segment::Bytes(bytes) => segments.push(&js_sys::Uint8Array::from(bytes.as_slice())),
            Segment::Rows(part) => segments.push(&JsValue::from_f64(f64::from(*part))),
        };
    }
    let out = to_value(&json!({ "indices": b.indices }));
    set(&out, "segments", &segments);
    out
}

fn outcome(o: &Outcome) -> JsValue {
    let p = &o.plan;
    let synced = o.synced.as_ref().map_or(Value::Null, |s| {
        json!({
            "dataset": Value::Object(s.dataset.clone()),
            "versionId": s.version_id,
            "attempts": s.attempts,
            "concurrentWriter": s.concurrent_writer,
            "versions": s.versions,
        })
    });
    to_value(&json!({
        "plan": {
            "datasetName": p.dataset_name,
            "datasetId": p.dataset_id,
            "baseVersionId": p.base_version_id,
            "merge": p.merge,
            "action": p.action.as_str(),
            "added": p.added,
            "updated": p.updated,
            "splitChanges": p.split_changes,
            "deleted": p.deleted,
            "unchanged": p.unchanged,
        },
        "synced": synced,
        "serverVersion": o.server_version,
    }))
}

fn object(kind: &str, fields: Map<String, Value>) -> JsValue {
    let mut map = fields;
    map.insert("kind".to_owned(), Value::from(kind));
    to_value(&Value::Object(map))
}

#[wasm_bindgen(js_class = SyncMachine)]
impl SyncMachine {
    /// `new SyncMachine(configJson, idsJson, hashes, splitsJson?, lines?, hasIds, spanIdsJson?)`:
    /// the settings as JSON text (the fields of `crate::sync::Config`, snake_case), the
    /// source's ids (JSON text of strings or nulls), its hashes (32 hex characters each,
    /// back to back), its split names (JSON text of arrays of names, or `undefined`), its
    /// line numbers, whether it has ids and its span ids (JSON text, or `undefined`). Bad
    /// settings or a source the core refuses throw the typed error.
    #[wasm_bindgen(constructor)]
    pub fn new(
        config_json: &str,
        ids_json: &str,
        hashes: &str,
        splits_json: Option<String>,
        lines: Option<Vec<f64>>,
        has_ids: bool,
        span_ids_json: Option<String>,
    ) -> Result<SyncMachine, JsValue> {
        let cfg = config(config_json)?;
        let bad_hashes = || bad("hashes must be 32 hex characters each");
        if hashes.len() % 32 != 0 || !hashes.is_ascii() {
            return Err(bad_hashes());
        }
        let src = SourceColumns {
            ids: opt_strings(ids_json, "ids")?,
            hashes: (0..hashes.len() / 32)
                .map(|k| parse_hash_hex(&hashes[32 * k..32 * (k + 1)]).ok_or_else(bad_hashes))
                .collect::<Result<_, _>>()?,
            splits: splits_json.as_deref().map(split_names).transpose()?,
            lines: lines.map(|l| l.into_iter().map(|n| n as u64).collect()),
            has_ids,
            span_ids: span_ids_json
                .as_deref()
                .map(|t| opt_strings(t, "span ids"))
                .transpose()?,
        };
        let machine = Machine::new(cfg, src).map_err(|e| to_js(e, ErrorInput::Examples))?;
        Ok(SyncMachine {
            machine,
            body: Vec::new(),
        })
    }

    /// The next step as a plain object; a failed sync throws its typed error.
    pub fn poll(&mut self) -> Result<JsValue, JsValue> {
        Ok(match self.machine.poll() {
            Step::Http(r) => http(r),
            Step::LoadManifest { file } => object("loadManifest", json_map(json!({"file": file}))),
            Step::SaveManifest { file, data } => {
                let step = object("saveManifest", json_map(json!({"file": file})));
                let data = data.map_or(JsValue::NULL, |d| {
                    js_sys::Uint8Array::from(d.as_slice()).into()
                });
                set(&step, "data", &data);
                step
            }
            Step::Sleep(seconds) => object("sleep", json_map(json!({"seconds": seconds}))),
            Step::Log(level, message) => object(
                "log",
                json_map(json!({"level": level.as_str(), "message": message})),
            ),
            Step::Done(o) => {
                let step = object("done", Map::new());
                set(&step, "outcome", &outcome(&o));
                step
            }
            Step::Failed(Fail::Input(e)) => return Err(to_js(e, ErrorInput::Examples)),
            Step::Failed(Fail::Server(f)) => return Err(server_error(f)),
        })
    }

    /// A chunk of the answer to the last `http` step, as it came: appended to one buffer,
    /// so that a large answer is held once, not as the host's copy and the engine's.
    pub fn feed(&mut self, chunk: &[u8]) {
        self.body.extend_from_slice(chunk);
    }

    /// The answer to the last `http` step: its status, headers as `[name, value, name,
    /// value, …]` (names in any case) and body (`undefined`: the chunks fed).
    #[wasm_bindgen(js_name = handleResponse)]
    pub fn handle_response(&mut self, status: u16, headers: Vec<String>, body: Option<Vec<u8>>) {
        let fed = std::mem::take(&mut self.body);
        let body = body.unwrap_or(fed);
        let headers = headers
            .chunks_exact(2)
            .map(|kv| (kv[0].to_ascii_lowercase(), kv[1].clone()))
            .collect();
        self.machine.handle(Input::Response(Response {
            status,
            headers,
            body: body.into(),
        }));
    }

    /// No answer to the last `http` step: `stale` for a kept-alive connection the server had
    /// closed, `message` what happened (without credentials).
    #[wasm_bindgen(js_name = handleTransport)]
    pub fn handle_transport(&mut self, stale: bool, message: String) {
        self.body = Vec::new(); // what came before the connection failed is not an answer
        let kind = if stale {
            TransportKind::Stale
        } else {
            TransportKind::Other
        };
        self.machine.handle(Input::Transport { kind, message });
    }

    /// The manifest file's bytes (gunzipped) for the last `loadManifest` step, or
    /// `undefined` if there is none or it cannot be read.
    #[wasm_bindgen(js_name = handleManifest)]
    pub fn handle_manifest(&mut self, data: Option<Vec<u8>>) {
        self.body = Vec::new();
        self.machine.handle(Input::Manifest(data.map(Cow::Owned)));
    }
}

fn json_map(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}
