//! The sync machine ([`phoenix_upsert_native::sync`]) without a server: a model of Phoenix
//! 20.26.1's dataset REST API answers its requests, a fault script injects what the Python
//! suite's proxy injects (and what a proxy cannot: late commits, another writer between two
//! requests), and every run is checked against the promise: a sync that says it is done left
//! the dataset holding exactly the source (a merge: the source within it).
//!
//! - the model: `Phoenix` (datasets, versions, examples and their revisions, split names that
//!   are not versioned; uploads diffed as `phoenix/db/insertion/dataset.py` diffs them; the
//!   JSONL export, the examples as JSON with `?split=`, the splits listed page by page; a
//!   query limit, PostgreSQL's 32,767 scaled down by tests, past which an upload creating
//!   examples with ids and the export answer 500);
//! - the driver: `run` (a fault script, every step recorded);
//! - scripted tests: one per row of docs/reliability.md that concerns the engine, one per
//!   fault of tests/sync/odd_servers.py and tests/sync/test_faults.py;
//! - a property test: random sources, other writers, lost answers and 5xx, small limits
//!   (writes in parts, reads as JSON), seeded.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use base64::Engine as _;
use phoenix_upsert_native::canon::{parse_hash_hex, truncated_sha256};
use phoenix_upsert_native::manifest;
use phoenix_upsert_native::plan::Action;
use phoenix_upsert_native::sync::wire::global_id;
use phoenix_upsert_native::sync::{
    Config, Fail, FailureKind, Input, Level, Machine, Method, Outcome, Request, Response, Segment,
    SourceColumns, Step, TransportKind, CONFLICT_WRITES,
};
use phoenix_upsert_native::{canonicalize_text, hash_hex, ErrorKind};
use serde_json::{json, Value};

// -- the source --------------------------------------------------------------------------------

/// A source example, as the host's source holds it.
#[derive(Debug, Clone, PartialEq)]
struct Ex {
    id: Option<String>,
    input: Value,
    output: Value,
    metadata: Value,
    splits: Vec<String>,
}

fn ex(id: &str, input: Value, output: Value) -> Ex {
    Ex {
        id: Some(id.to_owned()),
        input,
        output,
        metadata: json!({}),
        splits: vec![],
    }
}

fn anon(input: Value, output: Value) -> Ex {
    Ex {
        id: None,
        ..ex("", input, output)
    }
}

fn in_splits(mut e: Ex, splits: &[&str]) -> Ex {
    e.splits = splits.iter().map(|s| s.to_string()).collect();
    e
}

/// Phoenix's content hash of an example, by the core's canonical JSON.
fn content_hash(input: &Value, output: &Value, metadata: &Value) -> String {
    let doc = json!({"input": input, "output": output, "metadata": metadata});
    hash_hex(&truncated_sha256(
        &canonicalize_text(&doc.to_string()).expect("canonical"),
    ))
}

impl Ex {
    fn hash(&self) -> String {
        content_hash(&self.input, &self.output, &self.metadata)
    }

    fn hash_bytes(&self) -> [u8; 16] {
        parse_hash_hex(&self.hash()).expect("a hash")
    }
}

#[derive(Debug, Clone)]
struct Src {
    examples: Vec<Ex>,
    /// Whether the source carries split names.
    splits: bool,
}

fn src(examples: Vec<Ex>) -> Src {
    Src {
        examples,
        splits: false,
    }
}

fn src_with_splits(examples: Vec<Ex>) -> Src {
    Src {
        examples,
        splits: true,
    }
}

impl Src {
    fn columns(&self) -> SourceColumns {
        SourceColumns {
            ids: self.examples.iter().map(|e| e.id.clone()).collect(),
            hashes: self.examples.iter().map(Ex::hash_bytes).collect(),
            splits: self.splits.then(|| {
                self.examples
                    .iter()
                    .map(|e| sorted(e.splits.iter().cloned()))
                    .collect()
            }),
            lines: None,
            has_ids: self.examples.iter().any(|e| e.id.is_some()),
            span_ids: None,
        }
    }

    /// The rows of one part of the examples at `indices`, joined by commas (what a host's
    /// source writes for [`Segment::Rows`]).
    fn rows(&self, part: u8, indices: &[usize]) -> Vec<u8> {
        let rows: Vec<String> = indices
            .iter()
            .map(|&i| {
                let e = &self.examples[i];
                match part {
                    0 => e.input.to_string(),
                    1 => e.output.to_string(),
                    _ => e.metadata.to_string(),
                }
            })
            .collect();
        rows.join(",").into_bytes()
    }
}

fn sorted(names: impl IntoIterator<Item = String>) -> Vec<String> {
    names
        .into_iter()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

/// The FAULT_V1 and FAULT_V2 of tests/sync/odd_servers.py: one edit, one deletion, one
/// addition.
fn v1() -> Vec<Ex> {
    (0..20)
        .map(|i| ex(&format!("e{i}"), json!({"i": i}), json!({"tag": "v1"})))
        .collect()
}

fn v2() -> Vec<Ex> {
    let mut out = vec![ex("e0", json!({"i": 0}), json!({"tag": "edited"}))];
    out.extend(v1().into_iter().skip(2));
    out.push(ex("added", json!({"new": true}), json!({})));
    out
}

/// FAULT_V1 with one example edited: a sync of it over FAULT_V1 appends.
fn edited_v1() -> Src {
    let mut examples = v1();
    examples[4].output = json!({"tag": "ours"});
    src(examples)
}

// -- the model of Phoenix ----------------------------------------------------------------------

fn gid(kind: &str, n: i64) -> String {
    base64::engine::general_purpose::STANDARD.encode(format!("{kind}:{n}"))
}

fn row_of(kind: &str, id: &str) -> Option<i64> {
    match global_id(id) {
        Some((k, n)) if k == kind => Some(n),
        _ => None,
    }
}

fn iso(seconds: i64) -> String {
    chrono::DateTime::from_timestamp(seconds, 0)
        .expect("a time")
        .to_rfc3339()
}

#[derive(Debug, Clone, PartialEq)]
struct Content {
    input: Value,
    output: Value,
    metadata: Value,
    hash: String,
}

#[derive(Debug, Clone)]
struct Revision {
    version: i64,
    example: i64,
    /// `None`: a DELETE revision.
    content: Option<Content>,
}

#[derive(Debug, Clone)]
struct VersionRow {
    id: i64,
    dataset: i64,
    created_at: i64,
    committed: bool,
}

#[derive(Debug, Clone)]
struct DatasetRow {
    id: i64,
    name: String,
    description: Option<String>,
    created_at: i64,
}

#[derive(Debug, Clone)]
struct ExampleRow {
    id: i64,
    dataset: i64,
    external: Option<String>,
}

/// An example of a version, as the server shows it.
#[derive(Debug, Clone)]
struct Live {
    example: i64,
    external: Option<String>,
    content: Content,
}

/// Phoenix 20.26.1's dataset REST API, in memory. Row ids are taken from one counter per
/// table; a version's id is taken when its write starts (as on PostgreSQL) and the version is
/// seen only once committed.
#[derive(Debug, Clone)]
struct Phoenix {
    server_version: String,
    clock: i64,
    datasets: Vec<DatasetRow>,
    versions: Vec<VersionRow>,
    examples: Vec<ExampleRow>,
    revisions: Vec<Revision>,
    /// Split names by example (not versioned).
    splits: BTreeMap<i64, BTreeSet<String>>,
    /// Split rows by name (Phoenix's splits are the server's, shared by its datasets).
    split_rows: BTreeMap<String, i64>,
    next: [i64; 4],
    uploads: usize,
    /// Seconds the clock moves per request (0: a server answering within one second).
    tick: i64,
    /// The most arguments one query may take (PostgreSQL: 32,767): an upload creating more
    /// examples with ids (one `IN` list of their external ids) and the JSONL export of a
    /// larger version (one `IN` list of every example id) answer 500.
    query_limit: usize,
}

type Refusal = (u16, String);

impl Phoenix {
    fn new() -> Self {
        Phoenix {
            server_version: "20.26.1".to_owned(),
            clock: 1_800_000_000,
            datasets: vec![],
            versions: vec![],
            examples: vec![],
            revisions: vec![],
            splits: BTreeMap::new(),
            split_rows: BTreeMap::new(),
            next: [1, 1, 1, 1],
            uploads: 0,
            tick: 1,
            query_limit: 32_767,
        }
    }

    fn take(&mut self, table: usize) -> i64 {
        self.next[table] += 1;
        self.next[table] - 1
    }

    fn dataset_named(&self, name: &str) -> Option<&DatasetRow> {
        self.datasets.iter().find(|d| d.name == name)
    }

    fn dataset(&self, id: i64) -> Option<&DatasetRow> {
        self.datasets.iter().find(|d| d.id == id)
    }

    /// Committed versions of a dataset, newest first.
    fn version_ids(&self, dataset: i64) -> Vec<i64> {
        let mut v: Vec<i64> = self
            .versions
            .iter()
            .filter(|v| v.dataset == dataset && v.committed)
            .map(|v| v.id)
            .collect();
        v.sort_unstable_by(|a, b| b.cmp(a));
        v
    }

    fn latest(&self, dataset: i64) -> Option<i64> {
        self.version_ids(dataset).first().copied()
    }

    fn committed(&self, version: i64) -> bool {
        self.versions.iter().any(|v| v.id == version && v.committed)
    }

    /// The examples of a dataset at a version: per example its latest committed revision up to
    /// that version, unless a deletion; in row order.
    fn view(&self, dataset: i64, at: i64) -> Vec<Live> {
        let mut newest: BTreeMap<i64, &Revision> = BTreeMap::new();
        for r in &self.revisions {
            if r.version > at || !self.committed(r.version) {
                continue;
            }
            let ex = &self.examples[(r.example - 1) as usize];
            if ex.dataset != dataset {
                continue;
            }
            if newest
                .get(&r.example)
                .map_or(true, |o| o.version <= r.version)
            {
                newest.insert(r.example, r);
            }
        }
        newest
            .into_iter()
            .filter_map(|(id, r)| {
                r.content.clone().map(|content| Live {
                    example: id,
                    external: self.examples[(id - 1) as usize].external.clone(),
                    content,
                })
            })
            .collect()
    }

    fn current(&self, dataset: i64) -> Vec<Live> {
        self.latest(dataset)
            .map_or_else(Vec::new, |v| self.view(dataset, v))
    }

    fn record(&self, d: &DatasetRow) -> Value {
        json!({
            "id": gid("Dataset", d.id),
            "name": d.name,
            "description": d.description,
            "metadata": {},
            "created_at": iso(d.created_at),
            "updated_at": iso(d.created_at),
            "example_count": self.current(d.id).len(),
        })
    }

    /// An upload (`POST v1/datasets/upload?sync=true`), diffed as Phoenix diffs it. With
    /// `commit` false its version is taken and written but not yet seen (a write on
    /// PostgreSQL that commits late).
    fn upload(&mut self, body: &Value, commit: bool) -> Result<(Value, i64), Refusal> {
        self.uploads += 1;
        let bad = |m: &str| (422, m.to_owned());
        let action = body["action"].as_str().ok_or_else(|| bad("no action"))?;
        if !matches!(action, "create" | "append" | "update") {
            return Err(bad("Invalid dataset action"));
        }
        let name = body["name"]
            .as_str()
            .ok_or_else(|| bad("no name"))?
            .to_owned();
        let column = |key: &str| body[key].as_array().cloned();
        let inputs = column("inputs").ok_or_else(|| bad("no inputs"))?;
        let outputs = column("outputs").unwrap_or_default();
        let metadata = column("metadata").unwrap_or_default();
        let ids = column("example_ids");
        let splits = column("splits");
        let n = inputs.len();
        if outputs.len() != n
            || metadata.len() != n
            || ids.as_ref().is_some_and(|v| v.len() != n)
            || splits.as_ref().is_some_and(|v| v.len() != n)
        {
            return Err(bad("columns of different lengths"));
        }
        struct Incoming {
            external: Option<String>,
            content: Content,
            splits: BTreeSet<String>,
        }
        let incoming: Vec<Incoming> = (0..n)
            .map(|i| Incoming {
                external: ids.as_ref().and_then(|v| v[i].as_str().map(str::to_owned)),
                content: Content {
                    hash: content_hash(&inputs[i], &outputs[i], &metadata[i]),
                    input: inputs[i].clone(),
                    output: outputs[i].clone(),
                    metadata: metadata[i].clone(),
                },
                splits: match splits.as_ref().map(|s| &s[i]) {
                    Some(Value::Array(a)) => a
                        .iter()
                        .filter_map(Value::as_str)
                        .map(str::to_owned)
                        .collect(),
                    Some(Value::String(s)) => [s.clone()].into(),
                    _ => BTreeSet::new(),
                },
            })
            .collect();
        let existing = self.dataset_named(&name).map(|d| d.id);
        if existing.is_some() && action == "create" {
            return Err((409, format!("A dataset named \"{name}\" already exists.")));
        }
        let previous = existing.map_or_else(Vec::new, |d| self.current(d));
        // The diff (`_diff_examples`): by id (node id, then external id), else by content.
        let mut matched: BTreeSet<i64> = BTreeSet::new();
        let (mut create, mut patch, mut unchanged) = (vec![], vec![], vec![]);
        for (i, inc) in incoming.iter().enumerate() {
            let found = match &inc.external {
                Some(ext) => match row_of("DatasetExample", ext) {
                    Some(row) => previous.iter().find(|p| p.example == row),
                    None => previous.iter().find(|p| p.external.as_deref() == Some(ext)),
                },
                None => previous
                    .iter()
                    .find(|p| p.content.hash == inc.content.hash && !matched.contains(&p.example)),
            };
            match found {
                None => create.push(i),
                Some(p) => {
                    matched.insert(p.example);
                    if p.content.hash != inc.content.hash {
                        patch.push((i, p.example));
                    } else {
                        unchanged.push((i, p.example));
                    }
                }
            }
        }
        let delete: Vec<i64> = if action == "append" {
            vec![]
        } else {
            previous
                .iter()
                .map(|p| p.example)
                .filter(|e| !matched.contains(e))
                .collect()
        };
        let unknown: Vec<String> = create
            .iter()
            .filter_map(|&i| incoming[i].external.clone())
            .filter(|e| row_of("DatasetExample", e).is_some())
            .collect();
        if !unknown.is_empty() {
            return Err((
                422,
                format!("No examples found in this dataset with the following IDs: {unknown:?}"),
            ));
        }
        let with_ids = create.iter().filter(|&&i| incoming[i].external.is_some());
        // An update without splits removes the memberships of the examples it deletes with
        // one list of their ids (`_reassign_splits`); with splits, by the dataset's id.
        if with_ids.count() > self.query_limit
            || (splits.is_none() && delete.len() > self.query_limit)
        {
            // asyncpg: the number of query arguments cannot exceed 32767 (rolled back).
            return Err((500, "Internal Server Error".to_owned()));
        }
        // Nothing fails from here on: the transaction commits.
        let dataset = match existing {
            Some(d) => d,
            None => {
                let id = self.take(0);
                self.datasets.push(DatasetRow {
                    id,
                    name: name.clone(),
                    description: body["description"].as_str().map(str::to_owned),
                    created_at: self.clock,
                });
                id
            }
        };
        let changes = !(create.is_empty() && patch.is_empty() && delete.is_empty());
        let version = match (changes, self.latest(dataset)) {
            (false, Some(v)) => v,
            _ => {
                let id = self.take(1);
                self.versions.push(VersionRow {
                    id,
                    dataset,
                    created_at: self.clock,
                    committed: commit,
                });
                id
            }
        };
        for &(i, example) in &patch {
            self.revisions.push(Revision {
                version,
                example,
                content: Some(incoming[i].content.clone()),
            });
        }
        for &example in &delete {
            self.revisions.push(Revision {
                version,
                example,
                content: None,
            });
        }
        let mut created = vec![];
        for &i in &create {
            let ext = incoming[i].external.clone();
            let reuse = ext.as_ref().and_then(|e| {
                self.examples
                    .iter()
                    .find(|r| r.dataset == dataset && r.external.as_ref() == Some(e))
                    .map(|r| r.id)
            });
            let example = match reuse {
                Some(id) => id,
                None => {
                    let id = self.take(2);
                    self.examples.push(ExampleRow {
                        id,
                        dataset,
                        external: ext,
                    });
                    id
                }
            };
            self.revisions.push(Revision {
                version,
                example,
                content: Some(incoming[i].content.clone()),
            });
            created.push((i, example));
        }
        // Split names: replaced for the examples of the upload (append) or for the whole
        // dataset (create, update) when the upload carries them; else a deleted example's go.
        let mut split_changed: BTreeSet<i64> = BTreeSet::new();
        if splits.is_some() {
            let touched: Vec<(usize, i64)> = unchanged
                .iter()
                .chain(&patch)
                .chain(&created)
                .copied()
                .collect();
            let mut old: BTreeMap<i64, BTreeSet<String>> = BTreeMap::new();
            if action == "append" {
                for &(_, e) in &touched {
                    if let Some(s) = self.splits.remove(&e) {
                        old.insert(e, s);
                    }
                }
            } else {
                let mine: Vec<i64> = self
                    .examples
                    .iter()
                    .filter(|r| r.dataset == dataset)
                    .map(|r| r.id)
                    .collect();
                for e in mine {
                    if let Some(s) = self.splits.remove(&e) {
                        old.insert(e, s);
                    }
                }
            }
            let mut new: BTreeMap<i64, BTreeSet<String>> = BTreeMap::new();
            for &(i, e) in &touched {
                if !incoming[i].splits.is_empty() {
                    new.entry(e).or_default().extend(incoming[i].splits.clone());
                }
            }
            for (e, s) in &new {
                for name in s {
                    if !self.split_rows.contains_key(name) {
                        let id = self.take(3);
                        self.split_rows.insert(name.clone(), id);
                    }
                }
                self.splits.insert(*e, s.clone());
            }
            for e in old.keys().chain(new.keys()) {
                if old.get(e) != new.get(e) {
                    split_changed.insert(*e);
                }
            }
        } else {
            for e in &delete {
                self.splits.remove(e);
            }
        }
        for (_, e) in &created {
            split_changed.remove(e);
        }
        for e in &delete {
            split_changed.remove(e);
        }
        let updated: BTreeSet<i64> = patch.iter().map(|&(_, e)| e).chain(split_changed).collect();
        let data = json!({
            "dataset_id": gid("Dataset", dataset),
            "version_id": gid("DatasetVersion", version),
            "num_created_examples": created.len(),
            "num_updated_examples": updated.len(),
            "num_deleted_examples": delete.len(),
        });
        Ok((data, version))
    }

    /// Per split name, how many of `examples` are in it.
    fn split_counts(&self, examples: &BTreeSet<i64>) -> BTreeMap<String, usize> {
        let mut counts = BTreeMap::new();
        for (e, names) in &self.splits {
            if examples.contains(e) {
                for name in names {
                    *counts.entry(name.clone()).or_insert(0) += 1;
                }
            }
        }
        counts
    }

    fn commit(&mut self, version: i64) {
        for v in &mut self.versions {
            if v.id == version {
                v.committed = true;
            }
        }
    }

    fn export_line(&self, live: &Live) -> Value {
        let node = gid("DatasetExample", live.example);
        let splits: Vec<&String> = self
            .splits
            .get(&live.example)
            .map(|s| s.iter().collect())
            .unwrap_or_default();
        json!({
            "id": live.external.clone().unwrap_or_else(|| node.clone()),
            "node_id": node,
            "input": live.content.input,
            "output": live.content.output,
            "metadata": live.content.metadata,
            "splits": splits,
        })
    }

    /// Answer one request (the clock moves a second).
    fn serve(&mut self, req: &Request, body: Option<&[u8]>) -> Response<'static> {
        self.clock += self.tick;
        match self.answer(req, body) {
            Ok((status, body)) => self.response(status, body),
            Err((status, detail)) => {
                self.response(status, json!({"detail": detail}).to_string().into_bytes())
            }
        }
    }

    fn response(&self, status: u16, body: Vec<u8>) -> Response<'static> {
        let date = chrono::DateTime::from_timestamp(self.clock, 0)
            .expect("a time")
            .to_rfc2822();
        Response {
            status,
            headers: vec![
                ("date".to_owned(), date),
                ("content-type".to_owned(), "application/json".to_owned()),
            ],
            body: body.into(),
        }
    }

    fn answer(&mut self, req: &Request, body: Option<&[u8]>) -> Result<(u16, Vec<u8>), Refusal> {
        let q = |key: &str| {
            req.query
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.clone())
        };
        let ok = |v: Value| Ok((200, v.to_string().into_bytes()));
        let path = decode_path(&req.path);
        let parts: Vec<&str> = path.split('/').collect();
        match (req.method, parts.as_slice()) {
            (Method::Get, ["arize_phoenix_version"]) => {
                Ok((200, self.server_version.clone().into_bytes()))
            }
            (Method::Post, ["v1", "datasets", "upload"]) => {
                if q("sync").as_deref() != Some("true") {
                    return Err((422, "this model answers sync uploads only".into()));
                }
                let doc: Value = serde_json::from_slice(body.unwrap_or_default())
                    .map_err(|e| (422, format!("the body is not JSON: {e}")))?;
                let (data, _) = self.upload(&doc, true)?;
                ok(json!({ "data": data }))
            }
            (Method::Get, ["v1", "datasets"]) => {
                let limit: usize = q("limit").map_or(10, |l| l.parse().unwrap_or(10));
                let cursor = q("cursor").and_then(|c| row_of("Dataset", &c));
                let mut rows: Vec<&DatasetRow> = self
                    .datasets
                    .iter()
                    .filter(|d| q("name").map_or(true, |n| d.name == n))
                    .filter(|d| cursor.map_or(true, |c| d.id <= c))
                    .collect();
                rows.sort_by_key(|d| std::cmp::Reverse(d.id));
                let next = (rows.len() > limit).then(|| gid("Dataset", rows[limit].id));
                let data: Vec<Value> = rows.iter().take(limit).map(|d| self.record(d)).collect();
                ok(json!({"data": data, "next_cursor": next}))
            }
            (Method::Get, ["v1", "datasets", id, rest @ ..]) => {
                let d = row_of("Dataset", id).ok_or((422, format!("Invalid Dataset ID: {id}")))?;
                let d = self
                    .dataset(d)
                    .cloned()
                    .ok_or((404, format!("Dataset with ID {id} not found")))?;
                let version = |this: &Phoenix| -> Result<i64, Refusal> {
                    match q("version_id") {
                        None => this.latest(d.id).ok_or((404, "no version".to_owned())),
                        Some(v) => row_of("DatasetVersion", &v)
                            .filter(|&v| this.version_ids(d.id).contains(&v))
                            .ok_or((404, format!("No dataset version with id {v} can be found."))),
                    }
                };
                match rest {
                    [] => {
                        let ever = self
                            .revisions
                            .iter()
                            .any(|r| self.examples[(r.example - 1) as usize].dataset == d.id);
                        if !ever {
                            // Phoenix 20.26.1 fails on a dataset that never had examples.
                            return Ok((500, b"Internal Server Error".to_vec()));
                        }
                        ok(json!({"data": self.record(&d)}))
                    }
                    ["versions"] => {
                        let limit: usize = q("limit").map_or(10, |l| l.parse().unwrap_or(10));
                        let data: Vec<Value> = self
                            .version_ids(d.id)
                            .into_iter()
                            .take(limit)
                            .map(|v| {
                                let row = self.versions.iter().find(|r| r.id == v).unwrap();
                                json!({
                                    "version_id": gid("DatasetVersion", v),
                                    "description": null,
                                    "metadata": {},
                                    "created_at": iso(row.created_at),
                                })
                            })
                            .collect();
                        ok(json!({"data": data, "next_cursor": null}))
                    }
                    ["jsonl"] => {
                        let v = version(self)?;
                        let view = self.view(d.id, v);
                        if view.len() > self.query_limit {
                            // `_get_split_names_by_example_id`: an IN list of every example.
                            return Ok((500, b"Internal Server Error".to_vec()));
                        }
                        let mut out = Vec::new();
                        for live in view {
                            out.extend_from_slice(self.export_line(&live).to_string().as_bytes());
                            out.push(b'\n');
                        }
                        Ok((200, out))
                    }
                    ["examples"] => {
                        let v = version(self)?;
                        let mut filter: Option<BTreeSet<String>> = None;
                        for (_, value) in req.query.iter().filter(|(k, _)| k == "split") {
                            let name = match row_of("DatasetSplit", value) {
                                Some(n) => self
                                    .split_rows
                                    .iter()
                                    .find(|(_, &id)| id == n)
                                    .map(|(name, _)| name.clone())
                                    .ok_or((
                                        404,
                                        format!("Dataset splits not found for IDs: {n}"),
                                    ))?,
                                None => value.clone(),
                            };
                            filter.get_or_insert_with(BTreeSet::new).insert(name);
                        }
                        let examples: Vec<Value> = self
                            .view(d.id, v)
                            .iter()
                            .filter(|live| {
                                filter.as_ref().map_or(true, |names| {
                                    self.splits
                                        .get(&live.example)
                                        .is_some_and(|s| !s.is_disjoint(names))
                                })
                            })
                            .map(|live| {
                                let mut line = self.export_line(live);
                                let map = line.as_object_mut().unwrap();
                                map.remove("splits");
                                map.insert("updated_at".into(), json!(iso(self.clock)));
                                line
                            })
                            .collect();
                        ok(json!({"data": {
                            "dataset_id": gid("Dataset", d.id),
                            "version_id": gid("DatasetVersion", v),
                            "filtered_splits": filter.unwrap_or_default(),
                            "examples": examples,
                        }}))
                    }
                    ["splits"] => {
                        // The splits with an example of the dataset, newest first, paged.
                        let limit: usize = q("limit").map_or(10, |l| l.parse().unwrap_or(0));
                        if !(1..=1000).contains(&limit) {
                            return Err((422, "limit: between 1 and 1000".into()));
                        }
                        let cursor = q("cursor").and_then(|c| row_of("DatasetSplit", &c));
                        let mine: BTreeSet<i64> = self
                            .examples
                            .iter()
                            .filter(|r| r.dataset == d.id)
                            .map(|r| r.id)
                            .collect();
                        let counts = self.split_counts(&mine);
                        let mut rows: Vec<(i64, &String)> = self
                            .split_rows
                            .iter()
                            .map(|(name, &id)| (id, name))
                            .filter(|(_, name)| counts.contains_key(*name))
                            .filter(|(id, _)| cursor.map_or(true, |c| *id <= c))
                            .collect();
                        rows.sort_by_key(|(id, _)| std::cmp::Reverse(*id));
                        let next = (rows.len() > limit).then(|| gid("DatasetSplit", rows[limit].0));
                        let data: Vec<Value> = rows
                            .iter()
                            .take(limit)
                            .map(|(id, name)| {
                                json!({
                                    "id": gid("DatasetSplit", *id),
                                    "name": name,
                                    "description": null,
                                    "color": "#ffffff",
                                    "metadata": {},
                                    "example_count": counts[*name],
                                    "created_at": iso(self.clock),
                                    "updated_at": iso(self.clock),
                                })
                            })
                            .collect();
                        ok(json!({"data": data, "next_cursor": next}))
                    }
                    _ => Err((404, "Not Found".into())),
                }
            }
            _ => Err((404, "Not Found".into())),
        }
    }
}

fn decode_path(path: &str) -> String {
    let bytes = path.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap();
            out.push(u8::from_str_radix(hex, 16).expect("percent-encoding"));
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).expect("UTF-8 path")
}

/// Another writer's upload (a script, the UI, another machine's sync).
#[derive(Debug, Clone)]
struct Other {
    action: &'static str,
    examples: Vec<Ex>,
    splits: bool,
}

fn other(action: &'static str, examples: Vec<Ex>) -> Other {
    Other {
        action,
        examples,
        splits: false,
    }
}

impl Other {
    fn body(&self, name: &str) -> Value {
        let col = |f: &dyn Fn(&Ex) -> Value| -> Value {
            Value::Array(self.examples.iter().map(f).collect())
        };
        let mut body = json!({
            "action": self.action,
            "name": name,
            "inputs": col(&|e| e.input.clone()),
            "outputs": col(&|e| e.output.clone()),
            "metadata": col(&|e| e.metadata.clone()),
            "example_ids": col(&|e| json!(e.id)),
        });
        if self.splits {
            body["splits"] = col(&|e| json!(e.splits));
        }
        body
    }
}

/// Put `examples` into a new dataset `name` directly (no sync), as a seed.
fn seed(phoenix: &mut Phoenix, name: &str, examples: Vec<Ex>) {
    seed_with(phoenix, name, other("create", examples));
}

fn seed_with(phoenix: &mut Phoenix, name: &str, write: Other) {
    phoenix.clock += 1;
    phoenix.upload(&write.body(name), true).expect("seeded");
}

// -- the driver --------------------------------------------------------------------------------

/// What a request is, for fault scripts and assertions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum On {
    Version,
    FindByName,
    List,
    Dataset,
    Versions,
    Export,
    Examples,
    Splits,
    Upload,
    Any,
}

fn classify(req: &Request) -> On {
    let path = decode_path(&req.path);
    let parts: Vec<&str> = path.split('/').collect();
    match parts.as_slice() {
        ["arize_phoenix_version"] => On::Version,
        ["v1", "datasets", "upload"] => On::Upload,
        ["v1", "datasets"] if req.query.iter().any(|(k, _)| k == "name") => On::FindByName,
        ["v1", "datasets"] => On::List,
        ["v1", "datasets", _] => On::Dataset,
        ["v1", "datasets", _, "versions"] => On::Versions,
        ["v1", "datasets", _, "jsonl"] => On::Export,
        ["v1", "datasets", _, "examples"] => On::Examples,
        ["v1", "datasets", _, "splits"] => On::Splits,
        _ => On::Any,
    }
}

/// What a fault does to the request it hits.
#[derive(Debug, Clone)]
enum Do {
    /// Answer this status (the server did nothing).
    Status(u16),
    /// 429 with `Retry-After` seconds.
    TooMany(f64),
    /// No answer: the request never reached the server.
    Transport(TransportKind),
    /// The server did it; its answer was lost (a connection dropped mid-response, a timeout).
    LoseAnswer,
    /// The export loses its last line.
    CutLastLine,
    /// The export holds its first line twice.
    DuplicateFirstLine,
    /// A shared cache: the first answer to the same request, unless the request says
    /// `cache-control: no-cache`.
    Cached,
    /// The record of another dataset.
    Foreign,
    /// The list of versions oldest first.
    ReverseVersions,
    /// Answer 200 with this body.
    Text(&'static str),
    /// Another writer's upload lands just before the request.
    Writer(Other),
    /// Another writer's upload starts before the request (its version id taken) and commits
    /// once `n` more requests were served (0: right after this one).
    LateCommit(Other, usize),
}

#[derive(Debug, Clone)]
struct Fault {
    on: On,
    /// The first matching request hit (0-based) and how many in a row.
    nth: usize,
    times: usize,
    act: Do,
    seen: usize,
    fired: usize,
}

fn at(on: On, nth: usize, act: Do) -> Fault {
    Fault {
        on,
        nth,
        times: 1,
        act,
        seen: 0,
        fired: 0,
    }
}

fn always(on: On, act: Do) -> Fault {
    Fault {
        times: usize::MAX,
        ..at(on, 0, act)
    }
}

/// Where runs share their server, their manifest directory and a cache in between.
struct Env {
    phoenix: Phoenix,
    name: String,
    manifests: HashMap<String, Vec<u8>>,
    cache: HashMap<String, Response<'static>>,
}

fn env() -> Env {
    Env {
        phoenix: Phoenix::new(),
        name: NAME.to_owned(),
        manifests: HashMap::new(),
        cache: HashMap::new(),
    }
}

/// One run: every step, in order.
#[derive(Debug)]
struct Run {
    result: Result<Outcome, Fail>,
    requests: Vec<(On, Request)>,
    sleeps: Vec<f64>,
    logs: Vec<(Level, String)>,
    saved: Vec<(String, bool)>,
    loaded: Vec<String>,
    fired: Vec<usize>,
    /// What other writers did during the run.
    others: Others,
}

impl Run {
    fn outcome(&self) -> &Outcome {
        match &self.result {
            Ok(o) => o,
            Err(e) => panic!("the sync failed: {e:?}\nlogs: {:#?}", self.logs),
        }
    }
    fn failure(&self) -> &Fail {
        match &self.result {
            Ok(o) => panic!("the sync succeeded: {o:?}"),
            Err(e) => e,
        }
    }
    fn server_failure(&self) -> (FailureKind, String, Option<u16>) {
        match self.failure() {
            Fail::Server(f) => (f.kind, f.message.clone(), f.status),
            Fail::Input(e) => panic!("an input error: {e:?}"),
        }
    }
    fn count(&self, on: On) -> usize {
        self.requests.iter().filter(|(o, _)| *o == on).count()
    }
    /// Assert a warning says `text`.
    fn warned(&self, text: &str) {
        let w = self.warnings();
        assert!(
            w.iter().any(|m| m.contains(text)),
            "no warning of {text:?}: {w:#?}"
        );
    }
    /// Assert a log line says `text`.
    fn logged(&self, text: &str) {
        let found = self.logs.iter().any(|(_, m)| m.contains(text));
        assert!(found, "no log line of {text:?}: {:#?}", self.logs);
    }
    fn warnings(&self) -> Vec<&str> {
        self.logs
            .iter()
            .filter(|(l, _)| *l == Level::Warning)
            .map(|(_, m)| m.as_str())
            .collect()
    }
}

/// The dataset every test syncs.
const NAME: &str = "ds";

fn config() -> Config {
    Config {
        name: Some(NAME.to_owned()),
        server: "http://phoenix.test".to_owned(),
        backoff: 0.5,
        max_backoff: 4.0,
        ..Config::default()
    }
}

fn key(req: &Request) -> String {
    format!("{:?} {} {:?}", req.method, req.path, req.query)
}

const MAX_STEPS: usize = 5_000;

fn run(e: &mut Env, cfg: Config, source: &Src, faults: &mut [Fault]) -> Run {
    let mut m = Machine::new(cfg, source.columns()).expect("valid settings");
    let mut r = Run {
        result: Err(Fail::Input(phoenix_upsert_native::Error::new(
            ErrorKind::Internal,
            "not run",
        ))),
        requests: vec![],
        sleeps: vec![],
        logs: vec![],
        saved: vec![],
        loaded: vec![],
        fired: vec![],
        others: Others::default(),
    };
    for step in 0.. {
        assert!(step < MAX_STEPS, "the sync did not end: {:#?}", r.logs);
        match m.poll() {
            Step::Http(req) => {
                let on = classify(&req);
                r.requests.push((on, req.clone()));
                let input = send(e, &req, source, faults, &mut r.others);
                m.handle(input);
            }
            Step::LoadManifest { file } => {
                r.loaded.push(file.clone());
                m.handle(Input::Manifest(
                    e.manifests.get(&file).cloned().map(Into::into),
                ));
            }
            Step::SaveManifest { file, data } => {
                r.saved.push((file.clone(), data.is_some()));
                match data {
                    Some(d) => e.manifests.insert(file, d),
                    None => e.manifests.remove(&file),
                };
            }
            Step::Sleep(s) => {
                assert!((0.0..=60.0).contains(&s), "a sleep of {s} s");
                r.sleeps.push(s);
                e.phoenix.clock += s.ceil() as i64;
            }
            Step::Log(level, message) => r.logs.push((level, message)),
            Step::Done(outcome) => {
                r.result = Ok(*outcome);
                break;
            }
            Step::Failed(fail) => {
                r.result = Err(fail);
                break;
            }
        }
    }
    // Writes still under way commit after the sync ended.
    for (v, _) in std::mem::take(&mut r.others.pending) {
        e.phoenix.commit(v);
        r.others.committed.push((r.requests.len(), v));
    }
    // A machine that ended says so, and never steps again.
    assert!(matches!(m.poll(), Step::Failed(Fail::Input(err)) if err.kind == ErrorKind::Internal));
    r.fired = faults.iter().map(|f| f.fired).collect();
    r
}

fn body_bytes(req: &Request, source: &Src) -> Option<Vec<u8>> {
    let body = req.body.as_ref()?;
    let mut out = Vec::new();
    for segment in &body.segments {
        match segment {
            Segment::Bytes(b) => out.extend_from_slice(b),
            Segment::Rows(part) => out.extend(source.rows(*part, &body.indices)),
        }
    }
    Some(out)
}

/// Other writers' uploads during a run.
#[derive(Debug, Default)]
struct Others {
    writes: usize,
    /// Versions taken and not yet committed, with the requests left until they commit.
    pending: Vec<(i64, usize)>,
    /// Versions committed late: (requests served before, version).
    committed: Vec<(usize, i64)>,
    served: usize,
}

fn send(
    e: &mut Env,
    req: &Request,
    source: &Src,
    faults: &mut [Fault],
    others: &mut Others,
) -> Input<'static> {
    let on = classify(req);
    let body = body_bytes(req, source);
    let mut answer: Option<Do> = None;
    for f in faults.iter_mut() {
        if f.on != on && f.on != On::Any {
            continue;
        }
        let k = f.seen;
        f.seen += 1;
        if k < f.nth || k - f.nth >= f.times {
            continue;
        }
        match &f.act {
            Do::Writer(w) => {
                f.fired += 1;
                others.writes += 1;
                e.phoenix.clock += 1;
                let _ = e.phoenix.upload(&w.body(&e.name), true);
            }
            Do::LateCommit(w, n) => {
                f.fired += 1;
                others.writes += 1;
                e.phoenix.clock += 1;
                if let Ok((_, v)) = e.phoenix.upload(&w.body(&e.name), false) {
                    others.pending.push((v, *n));
                }
            }
            Do::Cached => {
                let honours = req.headers.iter().any(|(k, v)| {
                    k.eq_ignore_ascii_case("cache-control") && v.contains("no-cache")
                });
                if !honours && e.cache.contains_key(&key(req)) {
                    f.fired += 1;
                    answer = Some(Do::Cached);
                }
            }
            act => {
                if answer.is_none() {
                    f.fired += 1;
                    answer = Some(act.clone());
                }
            }
        }
    }
    let transport = |kind, message: &str| Input::Transport {
        kind,
        message: message.to_owned(),
    };
    let input = match answer {
        Some(Do::Status(s)) => {
            e.phoenix.clock += 1;
            let detail = if s == 401 {
                "Invalid token"
            } else {
                "injected"
            };
            Input::Response(
                e.phoenix
                    .response(s, json!({"detail": detail}).to_string().into_bytes()),
            )
        }
        Some(Do::TooMany(after)) => {
            e.phoenix.clock += 1;
            let mut r = e
                .phoenix
                .response(429, br#"{"detail": "Too many requests."}"#.to_vec());
            r.headers
                .push(("retry-after".to_owned(), after.to_string()));
            Input::Response(r)
        }
        Some(Do::Transport(kind)) => {
            transport(kind, "ConnectError: [Errno 111] Connection refused")
        }
        Some(Do::Text(text)) => {
            e.phoenix.clock += 1;
            Input::Response(e.phoenix.response(200, text.as_bytes().to_vec()))
        }
        Some(Do::Cached) => Input::Response(e.cache[&key(req)].clone()),
        Some(Do::LoseAnswer) => {
            e.phoenix.serve(req, body.as_deref());
            transport(
                TransportKind::Other,
                "ReadTimeout: the server did not answer in time",
            )
        }
        other_act => {
            let mut response = e.phoenix.serve(req, body.as_deref());
            match other_act {
                Some(Do::CutLastLine) => {
                    let text = response.body.clone();
                    let mut lines: Vec<&[u8]> = text.split_inclusive(|&b| b == b'\n').collect();
                    lines.pop();
                    response.body = lines.concat().into();
                }
                Some(Do::DuplicateFirstLine) => {
                    let text = response.body.clone();
                    let lines: Vec<&[u8]> = text.split_inclusive(|&b| b == b'\n').collect();
                    if let Some(first) = lines.first() {
                        response.body = [&[*first][..], &lines[..]].concat().concat().into();
                    }
                }
                Some(Do::Foreign) => rewrite_data(&mut response, |d| {
                    d["id"] = json!(gid("Dataset", 987_654));
                    d["name"] = json!("someone else's dataset");
                }),
                Some(Do::ReverseVersions) => rewrite_data(&mut response, |d| {
                    if let Value::Array(a) = d {
                        a.reverse();
                    }
                }),
                _ => {}
            }
            if response.ok() && req.method == Method::Get {
                e.cache.entry(key(req)).or_insert_with(|| response.clone());
            }
            Input::Response(response)
        }
    };
    others.served += 1;
    let mut left = vec![];
    for (v, n) in std::mem::take(&mut others.pending) {
        if n == 0 {
            e.phoenix.commit(v);
            others.committed.push((others.served, v));
        } else {
            left.push((v, n - 1));
        }
    }
    others.pending = left;
    input
}

fn rewrite_data(response: &mut Response, f: impl Fn(&mut Value)) {
    if let Ok(mut doc) = serde_json::from_slice::<Value>(&response.body) {
        f(&mut doc["data"]);
        response.body = doc.to_string().into_bytes().into();
    }
}

// -- what the model holds ----------------------------------------------------------------------

/// (external id, content hash, split names) of every example, sorted.
type Held = Vec<(Option<String>, String, Vec<String>)>;

fn held(p: &Phoenix, dataset: i64, version: i64, splits: bool) -> Held {
    let mut v: Held = p
        .view(dataset, version)
        .into_iter()
        .map(|l| {
            let s = if splits {
                p.splits
                    .get(&l.example)
                    .map(|s| s.iter().cloned().collect())
                    .unwrap_or_default()
            } else {
                vec![]
            };
            (l.external, l.content.hash, s)
        })
        .collect();
    v.sort();
    v
}

fn wanted(source: &Src) -> Held {
    let mut v: Held = source
        .examples
        .iter()
        .map(|e| {
            let s = if source.splits {
                sorted(e.splits.iter().cloned())
            } else {
                vec![]
            };
            (e.id.clone(), e.hash(), s)
        })
        .collect();
    v.sort();
    v
}

/// The promise: the version the sync reports holds exactly the source (a merge: the source
/// within it); with splits, the dataset's split names are the source's.
fn check_holds(e: &Env, outcome: &Outcome, source: &Src, merge: bool) {
    let synced = outcome.synced.as_ref().expect("not a dry run");
    let dataset = row_of("Dataset", synced.dataset["id"].as_str().expect("an id")).unwrap();
    let version = if synced.version_id.is_empty() {
        i64::MAX
    } else {
        row_of("DatasetVersion", &synced.version_id).expect("a version id")
    };
    let has = held(&e.phoenix, dataset, version, source.splits);
    if let Err(why) = same(&has, &wanted(source), merge) {
        panic!(
            "the dataset at {} is not the source: {why}",
            synced.version_id
        );
    }
}

/// Whether a dataset holding `has` holds `want`: an example with a source id as it is, one
/// without by its content (Phoenix matched it by content to an example that may have an
/// external id); with `merge`, other examples may be there too.
fn same(has: &Held, want: &Held, merge: bool) -> Result<(), String> {
    let mut rest = has.clone();
    let mut wants: Vec<_> = want.iter().collect();
    wants.sort_by_key(|w| w.0.is_none()); // by id first
    for w in wants {
        let found = rest
            .iter()
            .position(|h| match &w.0 {
                Some(_) => h == w,
                None => (&h.1, &h.2) == (&w.1, &w.2),
            })
            .ok_or_else(|| format!("{w:?} missing from {has:?}"))?;
        rest.remove(found);
    }
    if !merge && !rest.is_empty() {
        return Err(format!("{rest:?} are not in the source {want:?}"));
    }
    Ok(())
}

/// A mirror sync done, and the dataset is the source (its reported and its newest version).
fn exact(e: &Env, r: &Run, source: &Src) {
    check_holds(e, r.outcome(), source, false);
    check_newest(e, source);
}

/// A mirror sync that met another writer: done, saying so, and the dataset is the source.
fn exact_with_another_writer(e: &Env, r: &Run, source: &Src) {
    let o = r.outcome();
    assert!(o.synced.as_ref().unwrap().concurrent_writer);
    check_holds(e, o, source, false);
    check_newest(e, source);
}

/// The dataset's newest version holds exactly the source.
fn check_newest(e: &Env, source: &Src) {
    let d = e.phoenix.dataset_named(&e.name).expect("the dataset").id;
    let v = e.phoenix.latest(d).expect("a version");
    same(
        &held(&e.phoenix, d, v, source.splits),
        &wanted(source),
        false,
    )
    .unwrap();
}

fn version_count(e: &Env) -> usize {
    e.phoenix
        .dataset_named(&e.name)
        .map_or(0, |d| e.phoenix.version_ids(d.id).len())
}

// -- scripted tests: the sync's paths ----------------------------------------------------------

fn seeded(examples: Vec<Ex>) -> Env {
    let mut e = env();
    let name = e.name.clone();
    seed(&mut e.phoenix, &name, examples);
    e
}

#[test]
fn a_first_sync_creates_the_dataset() {
    let mut e = env();
    let s = src(v1());
    let r = run(&mut e, config(), &s, &mut []);
    let o = r.outcome();
    assert_eq!(o.plan.action, Action::Create);
    assert_eq!(o.plan.added.len(), 20);
    let synced = o.synced.as_ref().unwrap();
    assert_eq!((synced.attempts, synced.concurrent_writer), (1, false));
    assert_eq!(o.server_version, Some(vec![20, 26, 1]));
    let order: Vec<On> = r.requests.iter().map(|(on, _)| *on).collect();
    assert_eq!(
        order,
        [
            On::Version,
            On::FindByName,
            On::Upload,
            On::Versions,
            On::Dataset
        ]
    );
    check_holds(&e, o, &s, false);
    check_newest(&e, &s);
    assert!(r.sleeps.is_empty() && r.warnings().is_empty());
}

#[test]
fn an_edit_a_deletion_and_an_addition_make_one_update() {
    let (mut e, s, r) = v1_to_v2(&mut []);
    let o = r.outcome();
    assert_eq!(o.plan.action, Action::Update);
    assert_eq!(
        (
            o.plan.added.len(),
            o.plan.updated.len(),
            o.plan.deleted.clone(),
            o.plan.unchanged
        ),
        (1, 1, vec!["e1".to_owned()], 18)
    );
    check_holds(&e, o, &s, false);
    assert_eq!(version_count(&e), 2);
    // A second sync is a no-op: nothing written.
    let r = run(&mut e, config(), &s, &mut []);
    assert_eq!(r.outcome().plan.action, Action::None);
    assert_eq!(r.count(On::Upload), 0);
    assert_eq!(version_count(&e), 2);
}

#[test]
fn adding_and_editing_appends_only_what_changed() {
    let mut e = seeded(v1());
    let mut examples = v1();
    examples[3].output = json!({"tag": "changed"});
    examples.push(ex("new", json!({"n": 1}), json!({})));
    let s = src(examples);
    let r = run(&mut e, config(), &s, &mut []);
    let o = r.outcome();
    assert_eq!(o.plan.action, Action::Append);
    let upload = &r
        .requests
        .iter()
        .find(|(on, _)| *on == On::Upload)
        .unwrap()
        .1;
    assert_eq!(upload.body.as_ref().unwrap().indices, vec![3, 20]);
    assert_eq!(upload.examples, 2);
    check_holds(&e, o, &s, false);
}

#[test]
fn a_no_op_writes_nothing_and_reports_the_newest_version() {
    let mut e = seeded(v1());
    let s = src(v1());
    let r = run(&mut e, config(), &s, &mut []);
    let o = r.outcome();
    assert_eq!(o.plan.action, Action::None);
    assert_eq!(o.plan.unchanged, 20);
    assert_eq!(r.count(On::Upload), 0);
    assert_eq!(e.phoenix.uploads, 1);
    let d = e.phoenix.dataset_named("ds").unwrap().id;
    let newest = gid("DatasetVersion", e.phoenix.latest(d).unwrap());
    assert_eq!(o.synced.as_ref().unwrap().version_id, newest);
    check_holds(&e, o, &s, false);
}

#[test]
fn a_merge_adds_and_updates_and_never_deletes() {
    let mut e = seeded(v1());
    let s = src(vec![
        ex("e0", json!({"i": 0}), json!({"tag": "merged"})),
        ex("m", json!({"m": 1}), json!({})),
    ]);
    let cfg = Config {
        merge: true,
        ..config()
    };
    let r = run(&mut e, cfg, &s, &mut []);
    let o = r.outcome();
    assert_eq!(o.plan.action, Action::Append);
    assert!(o.plan.deleted.is_empty());
    check_holds(&e, o, &s, true);
    let d = e.phoenix.dataset_named("ds").unwrap().id;
    assert_eq!(e.phoenix.current(d).len(), 21);
}

#[test]
fn a_merge_adding_a_copy_without_an_id_is_refused_before_writing() {
    let mut e = seeded(vec![anon(json!({"q": 1}), json!({"a": 1}))]);
    let s = src(vec![
        anon(json!({"q": 2}), json!({"a": 2})),
        anon(json!({"q": 1}), json!({"a": 1})),
        anon(json!({"q": 1}), json!({"a": 1})),
    ]);
    let cfg = Config {
        merge: true,
        ..config()
    };
    let r = run(&mut e, cfg, &s, &mut []);
    match r.failure() {
        Fail::Input(err) => {
            assert_eq!(err.kind, ErrorKind::DuplicateContent, "{err}");
            assert!(err.message.contains("example 2"), "{}", err.message);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(r.count(On::Upload), 0);
    // A mirror writes the copy with one full snapshot.
    let r = run(&mut e, config(), &s, &mut []);
    assert_eq!(r.outcome().plan.action, Action::Update);
    check_holds(&e, r.outcome(), &s, false);
    assert_eq!(r.count(On::Upload), 1);
}

#[test]
fn a_dry_run_plans_and_writes_nothing() {
    let mut e = seeded(v1());
    let s = src(v2());
    let cfg = Config {
        dry_run: true,
        ..config()
    };
    let r = run(&mut e, cfg, &s, &mut []);
    let o = r.outcome();
    assert!(o.synced.is_none());
    assert_eq!(o.plan.action, Action::Update);
    assert_eq!(o.plan.deleted, vec!["e1".to_owned()]);
    assert_eq!(r.count(On::Upload), 0);
    assert_eq!(e.phoenix.uploads, 1);
    // Of a dataset that does not exist: a create, nothing sent.
    let mut fresh = env();
    let cfg = Config {
        dry_run: true,
        ..config()
    };
    let r = run(&mut fresh, cfg, &s, &mut []);
    assert_eq!(r.outcome().plan.action, Action::Create);
    assert!(fresh.phoenix.datasets.is_empty());
}

#[test]
fn an_empty_source_is_refused_unless_allowed() {
    let e = seeded(v1());
    let err = Machine::new(config(), src(vec![]).columns()).err().unwrap();
    assert_eq!(err.kind, ErrorKind::EmptySource);
    assert!(
        err.message.contains("delete every example"),
        "{}",
        err.message
    );
    let mut e = e;
    let cfg = Config {
        allow_empty: true,
        ..config()
    };
    let s = src(vec![]);
    let r = run(&mut e, cfg, &s, &mut []);
    assert_eq!(r.outcome().plan.deleted.len(), 20);
    check_holds(&e, r.outcome(), &s, false);
    // A merge of nothing changes nothing.
    let cfg = Config {
        merge: true,
        ..config()
    };
    assert!(Machine::new(cfg, src(vec![]).columns()).is_ok());
}

#[test]
fn settings_are_checked_before_anything_is_sent() {
    let cols = src(v1()).columns();
    let bad = [
        Config {
            retries: 0,
            ..config()
        },
        Config {
            dataset_id: Some("x".into()),
            ..config()
        },
        Config {
            name: Some("  ".into()),
            ..config()
        },
        Config {
            timeout: Some(0.0),
            ..config()
        },
    ];
    for cfg in bad {
        let err = Machine::new(cfg, cols.clone()).err().unwrap();
        assert_eq!(err.kind, ErrorKind::InvalidArgument, "{err}");
    }
    let err = Machine::new(
        Config {
            name: Some("a\0b".into()),
            ..config()
        },
        cols,
    )
    .err()
    .unwrap();
    assert_eq!(err.kind, ErrorKind::NullCharacter);
}

#[test]
fn one_retry_is_enough_without_faults() {
    let mut e = seeded(v1());
    let cfg = Config {
        retries: 1,
        ..config()
    };
    let s = src(v2());
    let r = run(&mut e, cfg, &s, &mut []);
    check_holds(&e, r.outcome(), &s, false);
}

#[test]
fn a_known_server_version_is_not_read_again() {
    let mut e = seeded(v1());
    let cfg = Config {
        server_version: Some(vec![20, 26, 1]),
        ..config()
    };
    let r = run(&mut e, cfg, &src(v1()), &mut []);
    assert_eq!(r.count(On::Version), 0);
    assert_eq!(r.outcome().plan.action, Action::None);
}

// -- the manifest ------------------------------------------------------------------------------

fn with_manifest() -> Config {
    Config {
        manifest: true,
        ..config()
    }
}

/// Another writer edits the example `e0` of FAULT_V1 (a new version).
fn another_writer_edits_e0(e: &mut Env, tag: &str) {
    let edit = ex("e0", json!({"i": 0}), json!({ "tag": tag }));
    seed_with(&mut e.phoenix, NAME, other("append", vec![edit]));
}

/// A dataset holding FAULT_V1, synced once with a manifest (a no-op that writes it).
fn warm_manifest() -> (Env, Src) {
    let mut e = seeded(v1());
    let s = src(v1());
    run(&mut e, with_manifest(), &s, &mut []).outcome();
    (e, s)
}

#[test]
fn a_saved_manifest_spares_the_download() {
    let mut e = seeded(v1());
    let s = src(v2());
    let r = run(&mut e, with_manifest(), &s, &mut []);
    assert_eq!(r.count(On::Export), 1);
    assert_eq!(r.loaded.len(), 1);
    assert_eq!(r.saved.len(), 1);
    assert!(r.saved[0].1, "a manifest written");
    check_holds(&e, r.outcome(), &s, false);
    // The bytes saved describe the dataset as it is now.
    let file = &r.saved[0].0;
    let d = e.phoenix.dataset_named("ds").unwrap().id;
    let examples = match manifest::decode(
        &e.manifests[file],
        &manifest::Fingerprint::from_json(
            &serde_json::from_slice::<Value>(
                e.manifests[file].split(|&b| b == b'\n').nth(1).unwrap(),
            )
            .unwrap()["fingerprint"],
        )
        .unwrap(),
    )
    .unwrap()
    {
        manifest::Loaded::Current(x) => x,
        manifest::Loaded::Stale => panic!("stale"),
    };
    assert_eq!(examples.len(), e.phoenix.current(d).len());
    // The next sync of the same source reads the manifest, not the export: a no-op.
    let r = run(&mut e, with_manifest(), &s, &mut []);
    assert_eq!(r.outcome().plan.action, Action::None);
    assert_eq!((r.count(On::Export), r.count(On::Upload)), (0, 0));
    r.logged("using the sync manifest");
    // An edit after a manifest-based plan: written from the manifest, proven by the versions.
    let mut next = v2();
    next[5].output = json!({"tag": "again"});
    let s = src(next);
    let r = run(&mut e, with_manifest(), &s, &mut []);
    assert_eq!(r.count(On::Export), 0);
    assert_eq!(r.outcome().plan.action, Action::Append);
    exact(&e, &r, &s);
}

#[test]
fn a_manifest_made_stale_by_another_writer_is_not_trusted() {
    let (mut e, s) = warm_manifest();
    assert_eq!(e.manifests.len(), 1);
    // Another writer edits an example: a new version, the manifest's fingerprint is stale.
    another_writer_edits_e0(&mut e, "theirs");
    let r = run(&mut e, with_manifest(), &s, &mut []);
    assert_eq!(r.count(On::Export), 1);
    r.logged("stale");
    assert_eq!(r.outcome().plan.updated.len(), 1);
    check_newest(&e, &s);
}

#[test]
fn a_late_commit_below_the_newest_version_makes_the_manifest_stale() {
    let mut e = seeded(v1());
    let s = src(v2());
    run(&mut e, with_manifest(), &s, &mut []).outcome();
    // A write that took its version id before ours and commits after it (PostgreSQL):
    // the newest version is unchanged, the list of versions is not.
    let name = e.name.clone();
    e.phoenix.clock += 1;
    let (_, theirs) = e
        .phoenix
        .upload(
            &other("append", vec![ex("late", json!({}), json!({}))]).body(&name),
            false,
        )
        .unwrap();
    another_writer_edits_e0(&mut e, "x");
    let r = run(&mut e, with_manifest(), &s, &mut []);
    r.outcome();
    e.phoenix.commit(theirs);
    let r = run(&mut e, with_manifest(), &s, &mut []);
    assert_eq!(
        r.count(On::Export),
        1,
        "the manifest is stale: {:?}",
        r.logs
    );
    exact(&e, &r, &s);
}

#[test]
fn a_corrupt_manifest_is_ignored_with_a_warning() {
    let (mut e, _) = warm_manifest();
    for data in e.manifests.values_mut() {
        data.truncate(data.len() / 2);
    }
    let r = run(&mut e, with_manifest(), &src(v2()), &mut []);
    r.warned("corrupt sync manifest");
    assert_eq!(r.count(On::Export), 1);
    check_newest(&e, &src(v2()));
}

#[test]
fn a_source_with_splits_takes_content_from_the_manifest_and_reads_the_members() {
    // Phoenix does not version split membership: a manifest proves content only, so a
    // source with splits reads the members of each split (not the examples, not the export)
    // when the dataset is past the read limit; a write changing members only is proven by the
    // versions (none made), then its members read back. A smaller dataset is exported
    // instead (content and splits in one read).
    let cfg = || Config {
        read_limit: 5,
        ..with_manifest()
    };
    let mut e = seeded(v1());
    let mut examples = v1();
    examples[0] = in_splits(examples[0].clone(), &["train"]);
    examples[2] = in_splits(examples[2].clone(), &["test"]);
    let s = src_with_splits(examples);
    let r = run(&mut e, cfg(), &s, &mut []);
    let o = r.outcome();
    assert_eq!(o.plan.action, Action::Append);
    assert_eq!(o.plan.split_changes, vec![0, 2]);
    check_holds(&e, o, &s, false);
    // The UI moves it to another split (no new version): the next sync sees it.
    let d = e.phoenix.dataset_named("ds").unwrap().id;
    let first = e.phoenix.current(d)[0].example;
    e.phoenix.splits.insert(first, ["test".to_owned()].into());
    let r = run(&mut e, cfg(), &s, &mut []);
    // Before the write: the splits and the members of each; after it, the write read back.
    let before: Vec<On> = order(&r)
        .into_iter()
        .take_while(|on| *on != On::Upload)
        .filter(|on| matches!(on, On::Export | On::Examples | On::Splits))
        .collect();
    assert_eq!(before, [On::Splits, On::Examples]); // "train" has no member left
    assert_eq!(r.outcome().plan.split_changes, vec![0]);
    check_holds(&e, r.outcome(), &s, false);
    assert!(
        synced_versions(&r).is_empty(),
        "a change of members makes no version"
    );
    let after: Vec<On> = order(&r)
        .into_iter()
        .skip_while(|on| *on != On::Upload)
        .collect();
    assert_eq!(after[..3], [On::Upload, On::Versions, On::Dataset]);
    assert_eq!(after[3..], [On::Splits, On::Examples, On::Examples]);
    // Below the read limit: the export, with or without a manifest.
    let small = run(&mut e, with_manifest(), &s, &mut []);
    assert_eq!((small.count(On::Export), small.count(On::Splits)), (1, 0));
    let r = run(&mut e, cfg(), &s, &mut []);
    assert_eq!(r.outcome().plan.action, Action::None);
    assert_eq!(r.count(On::Export), 0);
    assert_eq!(split_reads(&r).len(), r.count(On::Examples));
    // The UI adds another example to a split: seen, and undone.
    let second = e.phoenix.current(d)[1].example;
    e.phoenix.splits.insert(second, ["train".to_owned()].into());
    let r = run(&mut e, cfg(), &s, &mut []);
    assert_eq!(r.outcome().plan.split_changes, vec![1]);
    check_holds(&e, r.outcome(), &s, false);
}

// -- scripted tests: faults --------------------------------------------------------------------

/// A mirror sync of FAULT_V2 over a dataset holding FAULT_V1, with `faults`.
fn v1_to_v2(faults: &mut [Fault]) -> (Env, Src, Run) {
    let mut e = seeded(v1());
    let s = src(v2());
    let r = run(&mut e, config(), &s, faults);
    (e, s, r)
}

/// A mirror sync of FAULT_V2 with `faults`.
fn run_v2(e: &mut Env, faults: &mut [Fault]) -> Run {
    run(e, config(), &src(v2()), faults)
}

/// The sync of FAULT_V2 over a dataset holding FAULT_V1 with `faults`: it ends exact, with one
/// new version, and a re-sync is a no-op (tests/sync/test_faults.py).
fn survives(faults: &mut [Fault]) -> Run {
    let mut e = seeded(v1());
    let s = src(v2());
    let r = run(&mut e, config(), &s, faults);
    assert!(
        r.fired.iter().all(|&n| n > 0),
        "every fault injected: {:?}",
        r.fired
    );
    let o = r.outcome();
    check_holds(&e, o, &s, false);
    check_newest(&e, &s);
    assert_eq!(version_count(&e), 2, "one new version");
    let again = run(&mut e, config(), &s, &mut []);
    assert_eq!(again.outcome().plan.action, Action::None);
    r
}

#[test]
fn a_500_or_502_on_the_upload_is_read_again_planned_again_and_written_again() {
    for status in [500, 502] {
        let r = survives(&mut [at(On::Upload, 0, Do::Status(status))]);
        assert_eq!(r.count(On::Upload), 2);
        assert_eq!(r.count(On::FindByName), 2, "read again");
        assert_eq!(r.sleeps.len(), 1);
        let w = r.warnings();
        assert!(
            w.iter().any(|m| m.contains(&format!("HTTP {status}"))),
            "{w:?}"
        );
        let o = r.outcome();
        assert_eq!(o.synced.as_ref().unwrap().attempts, 2);
        assert!(!o.synced.as_ref().unwrap().concurrent_writer);
    }
}

#[test]
fn a_503_on_a_read_is_retried_with_backoff() {
    let r = survives(&mut [at(On::Versions, 0, Do::Status(503))]);
    assert_eq!(r.count(On::Upload), 1);
    assert_eq!(r.count(On::FindByName), 1, "only the read is repeated");
    assert_eq!(r.sleeps.len(), 1);
    assert!(r.sleeps[0] >= 0.25 && r.sleeps[0] <= 0.5, "{:?}", r.sleeps);
    assert!(r.warnings()[0].contains("listing dataset versions failed (HTTP 503)"));
}

#[test]
fn a_429_waits_as_long_as_asked() {
    let r = survives(&mut [at(On::Upload, 0, Do::TooMany(7.0))]);
    assert_eq!(r.sleeps, vec![7.0]);
    assert_eq!(r.count(On::Upload), 2);
    // On a read too.
    let r = survives(&mut [at(On::Export, 0, Do::TooMany(3.0))]);
    assert_eq!(r.sleeps, vec![3.0]);
}

#[test]
fn a_connection_dropped_mid_request_is_read_again_and_written_again() {
    let r = survives(&mut [at(On::Upload, 0, Do::Transport(TransportKind::Other))]);
    assert_eq!(r.count(On::Upload), 2);
    assert_eq!(r.outcome().synced.as_ref().unwrap().attempts, 2);
}

#[test]
fn a_lost_answer_of_a_write_that_landed_is_not_sent_again() {
    let r = survives(&mut [at(On::Upload, 0, Do::LoseAnswer)]);
    assert_eq!(r.count(On::Upload), 1, "nothing re-sent");
    let o = r.outcome();
    // The summary of the write that landed, never "nothing written".
    assert_eq!(o.plan.action, Action::Update);
    assert_eq!(
        (
            o.plan.added.len(),
            o.plan.updated.len(),
            o.plan.deleted.len()
        ),
        (1, 1, 1)
    );
}

#[test]
fn a_connection_dropped_while_downloading_is_retried() {
    let r = survives(&mut [at(On::Export, 0, Do::Transport(TransportKind::Other))]);
    assert_eq!(r.count(On::Export), 2);
    assert_eq!(r.count(On::Upload), 1);
}

#[test]
fn a_kept_alive_connection_closed_by_the_server_is_repeated_at_once_without_a_warning() {
    let r = survives(&mut [at(On::FindByName, 0, Do::Transport(TransportKind::Stale))]);
    assert_eq!(r.count(On::FindByName), 2);
    assert!(r.sleeps.is_empty());
    assert!(r.warnings().is_empty(), "{:?}", r.logs);
    // Twice in a row: the second is retried with backoff, as any other.
    let r = survives(&mut [Fault {
        times: 2,
        ..at(On::Versions, 0, Do::Transport(TransportKind::Stale))
    }]);
    assert_eq!(r.sleeps.len(), 1);
}

#[test]
fn a_503_that_does_not_stop_fails_clearly_having_written_nothing_then_a_later_run_converges() {
    let mut e = seeded(v1());
    let s = src(v2());
    let cfg = Config {
        retries: 3,
        ..config()
    };
    let r = run(&mut e, cfg, &s, &mut [always(On::Upload, Do::Status(503))]);
    let (kind, message, status) = r.server_failure();
    assert_eq!((kind, status), (FailureKind::Server, Some(503)));
    assert!(
        message.contains("uploading examples: HTTP 503"),
        "{message}"
    );
    match r.failure() {
        Fail::Server(f) => assert!(f.exhausted),
        _ => unreachable!(),
    }
    assert_eq!(r.count(On::Upload), 3, "retries writes");
    assert_eq!(version_count(&e), 1, "nothing written");
    // On a read.
    let r = run(
        &mut e,
        config(),
        &s,
        &mut [always(On::Export, Do::Status(503))],
    );
    assert_eq!(r.server_failure().2, Some(503));
    assert_eq!(r.count(On::Export), 4);
    assert_eq!(r.count(On::Upload), 0);
    let r = run(&mut e, config(), &s, &mut []);
    check_holds(&e, r.outcome(), &s, false);
}

#[test]
fn a_refused_connection_is_retried_then_fails_clearly() {
    let mut e = env();
    let r = run(
        &mut e,
        config(),
        &src(v1()),
        &mut [always(On::Any, Do::Transport(TransportKind::Other))],
    );
    let (kind, message, status) = r.server_failure();
    assert_eq!((kind, status), (FailureKind::Server, None));
    assert!(message.contains("Connection refused"), "{message}");
    assert!(message.contains("reading the server version"), "{message}");
    assert_eq!(r.requests.len(), 4);
    assert_eq!(r.sleeps.len(), 3);
}

#[test]
fn a_server_older_than_15_is_refused_before_anything_is_written() {
    let mut e = seeded(v1());
    let r = run_v2(&mut e, &mut [always(On::Version, Do::Text("14.17.0"))]);
    let (kind, message, _) = r.server_failure();
    assert_eq!(kind, FailureKind::ServerTooOld);
    assert!(
        message.contains("too old") && message.contains("14.17"),
        "{message}"
    );
    assert_eq!(r.requests.len(), 1);
    // A server without a version endpoint: its answers tell (a 422 on the update).
    let mut e = seeded(v1());
    let r = run_v2(
        &mut e,
        &mut [
            always(On::Version, Do::Status(404)),
            always(On::Upload, Do::Status(422)),
        ],
    );
    assert_eq!(r.server_failure().2, Some(422));
}

#[test]
fn an_old_server_refusing_the_update_action_is_too_old() {
    let mut e = seeded(v1());
    let cfg = Config {
        server_version: Some(vec![]),
        ..config()
    };
    let mut faults = [always(On::Upload, Do::Status(422))];
    // The detail Phoenix < 15 gives.
    let r = {
        let s = src(v2());
        let mut m = Machine::new(cfg, s.columns()).unwrap();
        let mut result = None;
        for _ in 0..100 {
            match m.poll() {
                Step::Http(req) if classify(&req) == On::Upload => m.handle(Input::Response(
                    e.phoenix
                        .response(422, br#"{"detail": "Invalid dateset action"}"#.to_vec()),
                )),
                Step::Http(req) => {
                    let input = send(&mut e, &req, &s, &mut faults, &mut Others::default());
                    m.handle(input)
                }
                Step::Failed(f) => {
                    result = Some(f);
                    break;
                }
                Step::Done(o) => panic!("{o:?}"),
                _ => {}
            }
        }
        result.expect("ended")
    };
    match r {
        Fail::Server(f) => assert_eq!(f.kind, FailureKind::ServerTooOld, "{}", f.message),
        other => panic!("{other:?}"),
    }
}

#[test]
fn refused_credentials_are_authentication_errors_naming_what_to_do() {
    let mut e = seeded(v1());
    let r = run_v2(&mut e, &mut [always(On::FindByName, Do::Status(401))]);
    let (kind, message, status) = r.server_failure();
    assert_eq!((kind, status), (FailureKind::Authentication, Some(401)));
    assert!(message.contains("set PHOENIX_API_KEY"), "{message}");
    assert_eq!(r.requests.len(), 2, "not retried");
    let r = run_v2(&mut e, &mut [always(On::Upload, Do::Status(403))]);
    let (kind, message, status) = r.server_failure();
    assert_eq!((kind, status), (FailureKind::Authentication, Some(403)));
    assert!(message.contains("not allowed"), "{message}");
    assert_eq!(r.count(On::Upload), 1, "not retried");
    assert_eq!(version_count(&e), 1);
}

#[test]
fn an_endpoint_that_is_not_phoenix_is_named() {
    let mut e = env();
    let r = run(
        &mut e,
        config(),
        &src(v1()),
        &mut [always(On::FindByName, Do::Text("<html>hello</html>"))],
    );
    let (_, message, _) = r.server_failure();
    assert!(message.contains("is not a Phoenix REST API"), "{message}");
    assert!(e.phoenix.datasets.is_empty());
}

// -- scripted tests: odd servers (tests/sync/odd_servers.py) -----------------------------------

/// The flow of tests/sync/odd_servers.py: seed SEED, sync SEED through the odd server (a
/// no-op that warms a cache), another writer edits the first example and appends OTHER, sync
/// SEED again through the odd server.
fn odd_server(faults: &mut [Fault], by_id: bool) -> (Env, Run) {
    let seed_examples: Vec<Ex> = (0..6)
        .map(|i| {
            ex(
                &format!("e{i}"),
                json!({"q": format!("question {i}")}),
                json!({"a": i}),
            )
        })
        .collect();
    let mut e = seeded(seed_examples.clone());
    let s = src(seed_examples.clone());
    let cfg = || {
        if by_id {
            Config {
                name: None,
                dataset_id: Some(gid("Dataset", 1)),
                ..config()
            }
        } else {
            config()
        }
    };
    let first = run(&mut e, cfg(), &s, &mut []);
    assert_eq!(first.outcome().plan.action, Action::None);
    let mut edited = seed_examples[0].clone();
    edited.output = json!({"a": "edited by another writer"});
    seed_with(
        &mut e.phoenix,
        NAME,
        other(
            "append",
            vec![
                edited,
                ex("other", json!({"q": "another writer's"}), json!({"a": -1})),
            ],
        ),
    );
    let before = version_count(&e);
    let r = run(&mut e, cfg(), &s, faults);
    if r.result.is_ok() {
        check_holds(&e, r.outcome(), &s, false);
        check_newest(&e, &s);
    } else if by_id {
        assert_eq!(version_count(&e), before, "nothing written");
    }
    (e, r)
}

#[test]
fn an_export_cut_short_is_an_unknown_state_and_the_whole_source_is_written() {
    let (_, r) = odd_server(&mut [always(On::Export, Do::CutLastLine)], false);
    let o = r.outcome();
    assert_eq!(o.plan.action, Action::Update);
    assert_eq!(
        r.count(On::Examples),
        1,
        "the count settled by the version's examples"
    );
    assert!(
        r.warnings()
            .iter()
            .any(|m| m.contains("'ds'") && m.contains("writing the whole source")),
        "{:?}",
        r.logs
    );
    // A dry run of an unknown state never says "none".
    let mut e = seeded(v1());
    let cfg = Config {
        dry_run: true,
        ..config()
    };
    let r = run(
        &mut e,
        cfg,
        &src(v1()),
        &mut [always(On::Export, Do::CutLastLine)],
    );
    assert_ne!(r.outcome().plan.action, Action::None);
    // A merge writes the whole source with an append.
    let mut e = seeded(v1());
    let cfg = Config {
        merge: true,
        ..config()
    };
    let s = src(v2());
    let r = run(&mut e, cfg, &s, &mut [always(On::Export, Do::CutLastLine)]);
    assert_eq!(r.outcome().plan.action, Action::Append);
    let upload = &r
        .requests
        .iter()
        .find(|(on, _)| *on == On::Upload)
        .unwrap()
        .1;
    assert_eq!(upload.examples, s.examples.len());
    check_holds(&e, r.outcome(), &s, true);
}

#[test]
fn an_export_holding_a_line_twice_is_an_unknown_state() {
    let (_, r) = odd_server(&mut [always(On::Export, Do::DuplicateFirstLine)], false);
    assert_eq!(r.count(On::Examples), 1);
    r.outcome();
    // Of a dataset that already holds the source: the server changes nothing and makes no
    // version; the proof accepts that.
    let mut e = seeded(v1());
    let s = src(v1());
    let r = run(
        &mut e,
        config(),
        &s,
        &mut [always(On::Export, Do::DuplicateFirstLine)],
    );
    assert_eq!(r.count(On::Upload), 1);
    check_holds(&e, r.outcome(), &s, false);
    assert_eq!(version_count(&e), 1);
}

#[test]
fn a_shared_cache_is_told_not_to_answer() {
    let (_, r) = odd_server(&mut [always(On::Any, Do::Cached)], false);
    assert_eq!(r.fired, vec![0], "every read says no-cache");
    for (on, req) in &r.requests {
        if *on != On::Upload {
            assert!(req.headers.contains(&("cache-control", "no-cache")));
            assert!(req.headers.contains(&("pragma", "no-cache")));
        }
    }
    assert_eq!(r.outcome().plan.updated.len(), 1);
}

#[test]
fn versions_listed_oldest_first_are_ordered_by_their_row_id() {
    let (_, r) = odd_server(&mut [always(On::Versions, Do::ReverseVersions)], false);
    assert!(r.fired[0] >= 2);
    assert_eq!(r.outcome().synced.as_ref().unwrap().attempts, 1);
    // A no-op reports the newest version.
    let mut e = seeded(v1());
    let name = e.name.clone();
    seed_with(
        &mut e.phoenix,
        &name,
        other("append", vec![ex("x", json!({}), json!({}))]),
    );
    let mut s = v1();
    s.push(ex("x", json!({}), json!({})));
    let r = run(
        &mut e,
        config(),
        &src(s),
        &mut [always(On::Versions, Do::ReverseVersions)],
    );
    assert_eq!(
        r.outcome().synced.as_ref().unwrap().version_id,
        gid("DatasetVersion", 2)
    );
}

#[test]
fn another_datasets_record_is_refused_before_writing() {
    let (_, r) = odd_server(&mut [always(On::Dataset, Do::Foreign)], true);
    let (kind, message, _) = r.server_failure();
    assert_eq!(kind, FailureKind::Server);
    assert!(message.contains("answered with dataset"), "{message}");
    assert_eq!(r.count(On::Upload), 0);
}

#[test]
fn another_datasets_record_after_a_write_by_name_fails_the_proof() {
    let (_, r) = odd_server(&mut [always(On::Dataset, Do::Foreign)], false);
    let (_, message, _) = r.server_failure();
    assert!(message.contains("answered with dataset"), "{message}");
}

#[test]
fn the_other_odd_servers_by_id_too() {
    for faults in [
        vec![always(On::Export, Do::CutLastLine)],
        vec![always(On::Export, Do::DuplicateFirstLine)],
        vec![always(On::Versions, Do::ReverseVersions)],
        vec![always(On::Any, Do::Cached)],
    ] {
        let (_, r) = odd_server(&mut faults.clone(), true);
        r.outcome();
    }
}

// -- scripted tests: other writers -------------------------------------------------------------

#[test]
fn another_writer_between_read_and_write_is_seen_and_the_snapshot_written() {
    let theirs = other("append", vec![ex("theirs", json!({"t": 1}), json!({}))]);
    let mut e = seeded(v1());
    // Our write appends: theirs stays, our version is not right on our base.
    let mut examples = v1();
    examples[4].output = json!({"tag": "ours"});
    examples.push(ex("ours", json!({"o": 1}), json!({})));
    let s = src(examples);
    let r = run(
        &mut e,
        config(),
        &s,
        &mut [at(On::Upload, 0, Do::Writer(theirs.clone()))],
    );
    let o = r.outcome();
    let synced = o.synced.as_ref().unwrap();
    assert!(synced.concurrent_writer);
    assert_eq!(synced.attempts, 2);
    assert_eq!(
        o.plan.deleted,
        vec!["theirs".to_owned()],
        "the plan of the last write"
    );
    r.warned("changed while syncing");
    // The conflict's wait is fully jittered, within the backoff.
    assert_eq!(r.sleeps.len(), 1);
    assert!(r.sleeps[0] < 0.5);
    // The second write is the full snapshot.
    let uploads: Vec<&Request> = r
        .requests
        .iter()
        .filter(|(on, _)| *on == On::Upload)
        .map(|(_, q)| q)
        .collect();
    assert_eq!(uploads[1].examples, s.examples.len());
    check_holds(&e, o, &s, false);
    check_newest(&e, &s);
    // A full snapshot of ours diffed by the server against theirs: one write, whose counts
    // are not the plan's (the server deleted theirs too); read again, nothing left to do.
    let (e, s, r) = v1_to_v2(&mut [at(On::Upload, 0, Do::Writer(theirs))]);
    r.warned("the server reports");
    let synced = r.outcome().synced.clone().unwrap();
    assert_eq!((synced.attempts, synced.concurrent_writer), (1, true));
    check_holds(&e, r.outcome(), &s, false);
}

#[test]
fn another_writer_that_never_stops_ends_in_a_concurrent_write_error() {
    let theirs = |i: usize| {
        other(
            "append",
            vec![ex(&format!("t{i}"), json!({"t": i}), json!({}))],
        )
    };
    let mut e = seeded(v1());
    let mut faults: Vec<Fault> = (0..40)
        .map(|i| at(On::Versions, i, Do::Writer(theirs(i))))
        .collect();
    let r = run(&mut e, config(), &src(v2()), &mut faults);
    let (kind, message, _) = r.server_failure();
    assert_eq!(kind, FailureKind::ConcurrentWrite);
    assert!(
        message.contains(&format!("gave up after {CONFLICT_WRITES} writes")),
        "{message}"
    );
    assert_eq!(r.count(On::Upload), CONFLICT_WRITES as usize);
}

#[test]
fn a_version_committed_late_below_ours_is_a_conflict() {
    let theirs = other("append", vec![ex("late", json!({"l": 1}), json!({}))]);
    let (e, s, r) = v1_to_v2(&mut [at(On::Upload, 0, Do::LateCommit(theirs, 0))]);
    r.warned("another version was written between reading the dataset");
    exact_with_another_writer(&e, &r, &s);
}

#[test]
fn a_version_committed_late_that_overtakes_ours_is_a_conflict() {
    // Their write takes its id after ours is answered and commits before our proof.
    let theirs = other("update", v1());
    let (e, s, r) = v1_to_v2(&mut [at(On::Versions, 1, Do::Writer(theirs))]);
    r.warned("another writer wrote after");
    let o = r.outcome();
    assert_eq!(o.synced.as_ref().unwrap().attempts, 2);
    check_holds(&e, o, &s, false);
}

#[test]
fn our_write_landed_and_another_made_the_proof_fail_reports_what_we_wrote() {
    // Another writer adds an example and takes it away again before our proof.
    let mut e = seeded(v1());
    let s = src(v2());
    let mut faults = [
        at(
            On::Versions,
            1,
            Do::Writer(other("append", vec![ex("x", json!({}), json!({}))])),
        ),
        at(On::Versions, 1, Do::Writer(other("update", v2()))),
    ];
    let r = run(&mut e, config(), &s, &mut faults);
    assert_eq!(r.count(On::Upload), 1);
    let o = r.outcome();
    assert_eq!(o.plan.action, Action::Update, "never 'nothing written'");
    assert_eq!(o.plan.added.len(), 1);
    assert!(o.synced.as_ref().unwrap().concurrent_writer);
    check_holds(&e, o, &s, false);
}

#[test]
fn the_loser_of_a_create_race_syncs_into_the_winners_dataset_without_a_warning() {
    let s = src(v1());
    // SQLite: the loser's create is refused with a 409.
    let mut e = env();
    let theirs = other("create", v1().into_iter().take(3).collect());
    let r = run(
        &mut e,
        config(),
        &s,
        &mut [at(On::Upload, 0, Do::Writer(theirs.clone()))],
    );
    let o = r.outcome();
    assert!(r.warnings().is_empty(), "{:?}", r.logs);
    assert!(o.synced.as_ref().unwrap().concurrent_writer);
    // After a failed write a mirror writes the full snapshot.
    assert_eq!(o.plan.action, Action::Update);
    assert_eq!(r.count(On::Upload), 2);
    assert_eq!(e.phoenix.datasets.len(), 1);
    check_holds(&e, o, &s, false);
    // PostgreSQL: a 500 (a unique-name violation).
    let mut e = env();
    let r = run(
        &mut e,
        config(),
        &s,
        &mut [
            at(On::Upload, 0, Do::Writer(theirs)),
            at(On::Upload, 0, Do::Status(500)),
        ],
    );
    assert!(r.warnings().is_empty(), "{:?}", r.logs);
    check_holds(&e, r.outcome(), &s, false);
}

#[test]
fn another_sync_between_our_read_and_our_split_only_write() {
    let mut e = seeded(v1());
    let mut examples = v1();
    examples[2] = in_splits(examples[2].clone(), &["test"]);
    let s = src_with_splits(examples);
    let theirs = other("append", vec![ex("theirs", json!({"t": 1}), json!({}))]);
    let r = run(
        &mut e,
        config(),
        &s,
        &mut [at(On::Upload, 0, Do::Writer(theirs))],
    );
    assert!(r.count(On::Export) >= 2, "read back");
    exact_with_another_writer(&e, &r, &s);
}

#[test]
fn a_dataset_that_never_had_examples_is_found_in_the_list_and_filled() {
    let mut e = env();
    seed(&mut e.phoenix, NAME, vec![]);
    // Other datasets, more than a page of the list.
    for i in 0..150 {
        seed(
            &mut e.phoenix,
            &format!("other {i}"),
            vec![ex("a", json!({"i": i}), json!({}))],
        );
    }
    let s = src(v1());
    let cfg = Config {
        name: None,
        dataset_id: Some(gid("Dataset", 1)),
        ..config()
    };
    let r = run(&mut e, cfg, &s, &mut []);
    assert_eq!(r.count(On::List), 2, "two pages");
    let o = r.outcome();
    check_holds(&e, o, &s, false);
    check_newest(&e, &s);
    // By name, too.
    let mut e = env();
    seed(&mut e.phoenix, NAME, vec![]);
    let r = run(&mut e, config(), &s, &mut []);
    check_holds(&e, r.outcome(), &s, false);
}

#[test]
fn an_unknown_dataset_id_is_dataset_not_found() {
    let mut e = seeded(v1());
    for id in [gid("Dataset", 99), "not-an-id".to_owned()] {
        let cfg = Config {
            name: None,
            dataset_id: Some(id.clone()),
            ..config()
        };
        let r = run(&mut e, cfg, &src(v1()), &mut []);
        let (kind, message, _) = r.server_failure();
        assert_eq!(kind, FailureKind::DatasetNotFound);
        assert!(message.contains(&id), "{message}");
    }
}

#[test]
fn names_with_reserved_characters_round_trip() {
    let mut e = env();
    e.name = "a/b?c#d %e é".to_owned();
    let s = src(v1());
    let cfg = Config {
        name: Some(e.name.clone()),
        ..config()
    };
    let r = run(&mut e, cfg.clone(), &s, &mut []);
    check_holds(&e, r.outcome(), &s, false);
    let r = run(&mut e, cfg, &s, &mut []);
    assert_eq!(r.outcome().plan.action, Action::None);
}

#[test]
fn timeouts_follow_the_payload_or_the_callers_setting() {
    let mut e = seeded(v1());
    let r = run_v2(&mut e, &mut []);
    for (on, req) in &r.requests {
        match on {
            On::Upload => assert!(req.timeout > 60.0),
            On::Export => assert!(req.timeout >= 60.0),
            _ => assert_eq!(req.timeout, 30.0),
        }
        assert!(req.connect_timeout <= 15.0);
    }
    let cfg = Config {
        timeout: Some(5.0),
        ..config()
    };
    let r = run(&mut e, cfg, &src(v1()), &mut []);
    assert!(r
        .requests
        .iter()
        .all(|(_, q)| q.timeout == 5.0 && q.connect_timeout == 5.0));
}

// -- scripted tests: past the server's limits (issue 17) ---------------------------------------

/// The server's query limit in these tests (PostgreSQL's 32,767, scaled down).
const QUERY_LIMIT: usize = 7;

/// Writes of at most 5 new examples, the JSONL export for at most 5 examples.
fn small() -> Config {
    Config {
        write_limit: 5,
        read_limit: 5,
        ..config()
    }
}

/// `n` examples with ids `{prefix}0`…
fn many(prefix: &str, n: usize) -> Vec<Ex> {
    (0..n)
        .map(|i| {
            ex(
                &format!("{prefix}{i}"),
                json!({ prefix: i }),
                json!({"n": i}),
            )
        })
        .collect()
}

/// A server of small limits holding `examples` (seeded before the limit applies).
fn limited(examples: Vec<Ex>) -> Env {
    let mut e = if examples.is_empty() {
        env()
    } else {
        seeded(examples)
    };
    e.phoenix.query_limit = QUERY_LIMIT;
    e
}

fn limited_with(write: Other) -> Env {
    let mut e = env();
    seed_with(&mut e.phoenix, NAME, write);
    e.phoenix.query_limit = QUERY_LIMIT;
    e
}

/// The upload bodies of a run, in order.
fn upload_bodies(r: &Run, source: &Src) -> Vec<Value> {
    r.requests
        .iter()
        .filter(|(on, _)| *on == On::Upload)
        .map(|(_, q)| serde_json::from_slice(&body_bytes(q, source).unwrap()).unwrap())
        .collect()
}

fn upload_actions(r: &Run, source: &Src) -> Vec<String> {
    upload_bodies(r, source)
        .iter()
        .map(|b| b["action"].as_str().unwrap().to_owned())
        .collect()
}

/// The dataset's versions, oldest first, as global ids.
fn version_gids(e: &Env) -> Vec<String> {
    let d = e.phoenix.dataset_named(&e.name).expect("the dataset").id;
    let mut v = e.phoenix.version_ids(d);
    v.reverse();
    v.into_iter().map(|v| gid("DatasetVersion", v)).collect()
}

fn synced_versions(r: &Run) -> Vec<String> {
    r.outcome().synced.as_ref().unwrap().versions.clone()
}

/// A server of small limits holding 12 examples, and a source of them with the `i`th edited.
fn a_dozen_one_edited(i: usize) -> (Env, Src) {
    let mut examples = many("a", 12);
    examples[i].output = json!({"edited": true});
    (limited(many("a", 12)), src(examples))
}

/// A sync at small limits that is a no-op: nothing written.
fn no_op(e: &mut Env, cfg: Config, s: &Src) -> Run {
    let r = run(e, cfg, s, &mut []);
    assert_eq!(r.outcome().plan.action, Action::None);
    assert_eq!(r.count(On::Upload), 0);
    assert!(synced_versions(&r).is_empty());
    r
}

/// 12 examples, in none, one or two of the splits `train` and `test`.
fn a_dozen_in_splits() -> Src {
    let names = ["train", "test"];
    let examples = many("x", 12)
        .into_iter()
        .enumerate()
        .map(|(i, x)| in_splits(x, &names[..i % 3]))
        .collect();
    src_with_splits(examples)
}

/// A create of 12 examples at small limits, with `faults`.
fn a_dozen_in_parts(faults: &mut [Fault]) -> (Env, Src, Run) {
    let mut e = limited(vec![]);
    let s = src(many("x", 12));
    let r = run(&mut e, small(), &s, faults);
    (e, s, r)
}

/// How many examples each upload of a run carried.
fn upload_sizes(r: &Run) -> Vec<usize> {
    r.requests
        .iter()
        .filter(|(on, _)| *on == On::Upload)
        .map(|(_, q)| q.examples)
        .collect()
}

/// The plan a run reports: its action, and how many added, updated, split changes, deleted.
fn plan_counts(r: &Run) -> (Action, usize, usize, usize, usize) {
    let p = &r.outcome().plan;
    let n = (p.added.len(), p.updated.len(), p.split_changes.len());
    (p.action, n.0, n.1, n.2, p.deleted.len())
}

/// The requests of a run, by kind.
fn order(r: &Run) -> Vec<On> {
    r.requests.iter().map(|(on, _)| *on).collect()
}

/// The split ids asked for with `?split=`, in order.
fn split_reads(r: &Run) -> Vec<String> {
    r.requests
        .iter()
        .filter_map(|(_, q)| q.query.iter().find(|(k, _)| k == "split"))
        .map(|(_, v)| v.clone())
        .collect()
}

#[test]
fn the_model_answers_500_past_its_query_limit() {
    // Without chunks, an upload creating more examples with ids than the server's query limit
    // fails as on PostgreSQL; a smaller one and one without ids do not.
    let mut e = limited(vec![]);
    let s = src(many("x", 8));
    let cfg = Config {
        retries: 2,
        ..config()
    };
    let r = run(&mut e, cfg.clone(), &s, &mut []);
    let (_, _, status) = r.server_failure();
    assert_eq!(status, Some(500));
    assert_eq!(r.count(On::Upload), 2);
    assert!(e.phoenix.datasets.is_empty(), "nothing landed");
    let anonymous = src(many("x", 8)
        .into_iter()
        .map(|x| Ex { id: None, ..x })
        .collect());
    let r = run(&mut e, cfg.clone(), &anonymous, &mut []);
    exact(&e, &r, &anonymous);
    // The export of more examples than the limit fails too.
    let d = gid("Dataset", e.phoenix.dataset_named(NAME).unwrap().id);
    let export = Request {
        path: format!("v1/datasets/{d}/jsonl"),
        ..r.requests.last().unwrap().1.clone()
    };
    assert_eq!(e.phoenix.serve(&export, None).status, 500);
}

#[test]
fn a_create_past_the_write_limit_writes_in_parts_each_proven() {
    let (mut e, s, r) = a_dozen_in_parts(&mut []);
    exact(&e, &r, &s);
    let o = r.outcome();
    // The plan reported is the whole sync's; each part is one version, listed in order.
    assert_eq!((o.plan.action, o.plan.added.len()), (Action::Create, 12));
    assert_eq!(o.plan.added, (0..12).collect::<Vec<_>>());
    assert_eq!(version_gids(&e).len(), 3);
    assert_eq!(synced_versions(&r), version_gids(&e));
    assert_eq!(o.synced.as_ref().unwrap().version_id, version_gids(&e)[2]);
    assert_eq!(upload_actions(&r, &s), ["create", "append", "append"]);
    assert_eq!(upload_sizes(&r), [5, 5, 2]);
    // Each part proven before the next: upload, versions, dataset.
    assert_eq!(
        order(&r)[2..],
        [
            On::Upload,
            On::Versions,
            On::Dataset,
            On::Upload,
            On::Versions,
            On::Dataset,
            On::Upload,
            On::Versions,
            On::Dataset
        ]
    );
    r.logged("writing the next part");
    assert!(r.warnings().is_empty() && r.sleeps.is_empty());
    assert_eq!(o.synced.as_ref().unwrap().attempts, 3);
    // A re-sync reads the 12 examples as JSON (past the read limit) and writes nothing.
    let again = no_op(&mut e, small(), &s);
    assert_eq!((again.count(On::Export), again.count(On::Examples)), (0, 1));
}

#[test]
fn an_append_of_many_goes_in_appends() {
    let mut e = limited(many("a", 3));
    let mut examples = many("a", 3);
    examples.extend(many("b", 11));
    let s = src(examples);
    let r = run(&mut e, small(), &s, &mut []);
    exact(&e, &r, &s);
    assert_eq!(plan_counts(&r), (Action::Append, 11, 0, 0, 0));
    assert_eq!(upload_actions(&r, &s), ["append", "append", "append"]);
    assert_eq!(synced_versions(&r), version_gids(&e)[1..]);
}

#[test]
fn an_append_carrying_many_changed_examples_goes_in_appends() {
    // Phoenix rebuilds the split memberships of every example an append carries with one
    // list of their ids: an append of 12 edits and 3 additions, at a limit of 5, is three
    // appends of at most 5 examples; the edits not yet written are left as they are.
    let mut e = limited(many("a", 12));
    let mut examples = many("a", 12);
    for x in examples.iter_mut() {
        x.output = json!({"edited": true});
    }
    examples.extend(many("b", 3));
    let s = src(examples);
    let r = run(&mut e, small(), &s, &mut []);
    exact(&e, &r, &s);
    assert_eq!(plan_counts(&r), (Action::Append, 3, 12, 0, 0));
    assert_eq!(upload_actions(&r, &s), ["append", "append", "append"]);
    assert_eq!(upload_sizes(&r), [5, 5, 5]);
    assert_eq!(synced_versions(&r), version_gids(&e)[1..]);
    no_op(&mut e, small(), &s);
}

#[test]
fn an_update_with_many_adds_is_an_update_then_appends() {
    let mut e = limited(many("a", 6));
    let mut examples = many("a", 6);
    examples.remove(1);
    examples.remove(3);
    examples[0].output = json!({"edited": true});
    examples.extend(many("b", 8));
    let s = src(examples);
    let r = run(&mut e, small(), &s, &mut []);
    exact(&e, &r, &s);
    assert_eq!(plan_counts(&r), (Action::Update, 8, 1, 0, 2));
    assert_eq!(upload_actions(&r, &s), ["update", "append"]);
    // The update carries the deletions and the edit with the first 5 new examples.
    let first = &upload_bodies(&r, &s)[0];
    assert_eq!(first["inputs"].as_array().unwrap().len(), 4 + 5);
    assert_eq!(synced_versions(&r), version_gids(&e)[1..]);
}

#[test]
fn a_merge_of_many_appends_in_parts_and_deletes_nothing() {
    let mut e = limited(many("a", 4));
    let mut examples = many("b", 9);
    examples.push(ex("a0", json!({"a": 0}), json!({"merged": true})));
    let s = src(examples);
    let cfg = Config {
        merge: true,
        ..small()
    };
    let r = run(&mut e, cfg, &s, &mut []);
    check_holds(&e, r.outcome(), &s, true);
    assert_eq!(plan_counts(&r), (Action::Append, 9, 1, 0, 0));
    assert_eq!(upload_actions(&r, &s), ["append", "append"]);
    let d = e.phoenix.dataset_named(NAME).unwrap().id;
    assert_eq!(e.phoenix.current(d).len(), 13);
}

#[test]
fn a_source_with_splits_in_parts_is_proven_by_versions_then_read_back() {
    let mut e = limited(vec![]);
    let s = a_dozen_in_splits();
    let r = run(&mut e, small(), &s, &mut []);
    exact(&e, &r, &s);
    assert_eq!(synced_versions(&r), version_gids(&e));
    let o = order(&r);
    let uploads: Vec<usize> = (0..o.len()).filter(|&i| o[i] == On::Upload).collect();
    assert_eq!(uploads.len(), 3);
    // The parts before the last are proven by the versions; the last by reading the dataset
    // back — 12 examples, past the read limit: as JSON, then its splits one by one.
    assert_eq!(o[uploads[0] + 1], On::Versions);
    assert_eq!(o[uploads[1] + 1], On::Versions);
    assert_eq!(
        o[uploads[2] + 1..],
        [
            On::Dataset,
            On::Versions,
            On::Examples,
            On::Splits,
            On::Examples,
            On::Examples,
        ]
    );
    assert_eq!(split_reads(&r).len(), 2);
    // A no-op re-reads memberships, not the export, and writes nothing.
    let again = no_op(&mut e, small(), &s);
    assert_eq!((again.count(On::Export), again.count(On::Splits)), (0, 1));
}

#[test]
fn another_writer_moving_splits_between_parts_is_seen_by_the_read_back() {
    // Split names are not versioned: the proof of a part by versions cannot see another
    // writer moving them; the read back after the last part does.
    let mut e = limited(vec![]);
    let s = a_dozen_in_splits();
    let theirs = Other {
        action: "append",
        examples: vec![in_splits(s.examples[0].clone(), &["dev"])],
        splits: true,
    };
    let r = run(
        &mut e,
        small(),
        &s,
        &mut [at(On::Upload, 1, Do::Writer(theirs))],
    );
    exact_with_another_writer(&e, &r, &s);
    r.warned("changed while syncing");
    no_op(&mut e, small(), &s);
}

#[test]
fn a_large_dataset_is_read_as_json_without_a_manifest() {
    let (mut e, s) = a_dozen_one_edited(7);
    let r = run(&mut e, small(), &s, &mut []);
    exact(&e, &r, &s);
    assert_eq!(r.outcome().plan.action, Action::Append);
    assert_eq!((r.count(On::Export), r.count(On::Examples)), (0, 1));
    assert_eq!(
        r.count(On::Splits),
        0,
        "no splits read for a source without"
    );
    // Then a no-op, still as JSON: no write.
    let again = no_op(&mut e, small(), &s);
    assert_eq!(again.count(On::Export), 0);
    assert_eq!(version_count(&e), 2);
    // With a manifest: the first sync reads as JSON and saves one, the next trusts it.
    let cfg = Config {
        manifest: true,
        ..small()
    };
    let r = no_op(&mut e, cfg.clone(), &s);
    assert_eq!((r.count(On::Examples), r.saved.len()), (1, 1));
    assert!(r.saved[0].1);
    let r = no_op(&mut e, cfg, &s);
    assert_eq!((r.count(On::Examples), r.loaded.len()), (0, 1));
}

#[test]
fn a_large_dataset_with_splits_is_read_split_by_split() {
    let names = ["train", "test", "dev", "holdout"];
    let seeded: Vec<Ex> = many("a", 12)
        .into_iter()
        .enumerate()
        .map(|(i, x)| in_splits(x, &[names[i % 4]]))
        .collect();
    let mut e = limited_with(Other {
        action: "create",
        examples: seeded.clone(),
        splits: true,
    });
    // Split-only changes, an edit, a deletion.
    let mut examples = seeded.clone();
    examples[0] = in_splits(examples[0].clone(), &["test", "train"]);
    examples[5].splits = vec![];
    examples[6].output = json!({"edited": true});
    examples.remove(11);
    let s = src_with_splits(examples);
    let r = run(&mut e, small(), &s, &mut []);
    exact(&e, &r, &s);
    assert_eq!(plan_counts(&r), (Action::Update, 0, 1, 2, 1));
    assert_eq!(r.count(On::Export), 0);
    // Read, then read back: each the examples, the splits, and the examples of each split.
    assert_eq!(r.count(On::Splits), 2);
    assert_eq!(split_reads(&r).len(), 8);
    for id in split_reads(&r) {
        assert!(row_of("DatasetSplit", &id).is_some(), "{id}");
    }
    no_op(&mut e, small(), &s);
}

#[test]
fn the_splits_are_listed_page_by_page() {
    // 1,001 split names: two pages of the listing.
    let examples: Vec<Ex> = (0..1001)
        .map(|i| {
            in_splits(
                ex(&format!("a{i}"), json!({ "a": i }), json!({})),
                &[&format!("s{i}")],
            )
        })
        .collect();
    let mut e = limited_with(Other {
        action: "create",
        examples: examples.clone(),
        splits: true,
    });
    e.phoenix.query_limit = 32_767;
    let s = src_with_splits(examples);
    let r = run(&mut e, small(), &s, &mut []);
    exact(&e, &r, &s);
    assert_eq!(r.outcome().plan.action, Action::None);
    let pages: Vec<&Request> = r
        .requests
        .iter()
        .filter(|(on, _)| *on == On::Splits)
        .map(|(_, q)| q)
        .collect();
    assert_eq!(pages.len(), 2);
    assert!(pages[1].query.iter().any(|(k, _)| k == "cursor"));
    assert_eq!(split_reads(&r).len(), 1001);
}

#[test]
fn an_export_answering_500_below_the_read_limit_is_read_as_json() {
    // The server's limit below the engine's: the export of 12 examples answers 500.
    let (mut e, s) = a_dozen_one_edited(2);
    let r = run(&mut e, config(), &s, &mut []);
    exact(&e, &r, &s);
    assert_eq!((r.count(On::Export), r.count(On::Examples)), (1, 1));
    r.logged("export failed (HTTP 500)");
    assert!(r.sleeps.is_empty(), "not retried");
    // A 500 of a small export, as well; with splits, the memberships follow.
    let mut e = limited_with(Other {
        action: "create",
        examples: vec![in_splits(ex("a", json!({"a": 1}), json!({})), &["train"])],
        splits: true,
    });
    let s = src_with_splits(vec![in_splits(
        ex("a", json!({"a": 1}), json!({})),
        &["test"],
    )]);
    let r = run(
        &mut e,
        config(),
        &s,
        &mut [at(On::Export, 0, Do::Status(500))],
    );
    exact(&e, &r, &s);
    assert_eq!(r.outcome().plan.split_changes, [0]);
    assert_eq!((r.count(On::Splits), split_reads(&r).len()), (1, 1));
}

#[test]
fn another_writer_between_two_parts_is_seen_and_the_rest_planned_again() {
    let theirs = other("append", vec![ex("theirs", json!({"t": 1}), json!({}))]);
    let (mut e, s, r) = a_dozen_in_parts(&mut [at(On::Upload, 1, Do::Writer(theirs))]);
    exact_with_another_writer(&e, &r, &s);
    r.warned("changed while syncing");
    // Part 2 landed above theirs, its proof failed: read again, the snapshot of what is left
    // (the rest added, theirs deleted) is the plan reported.
    assert_eq!(plan_counts(&r), (Action::Update, 2, 0, 0, 1));
    // The versions of the proven writes are listed: neither theirs nor our unproven part 2.
    let v = version_gids(&e);
    assert_eq!(v.len(), 4);
    assert_eq!(synced_versions(&r), [v[0].clone(), v[3].clone()]);
    no_op(&mut e, small(), &s);
}

#[test]
fn each_part_has_the_budget_of_a_whole_sync() {
    // With one write allowed, a conflict on the 2nd part (another writer's budget of
    // CONFLICT_WRITES) and the parts after it proven: done, not a failure without a cause.
    let mut e = limited(vec![]);
    let s = src(many("x", 17));
    let theirs = other("append", vec![ex("theirs", json!({"t": 1}), json!({}))]);
    let cfg = Config {
        retries: 1,
        ..small()
    };
    let r = run(
        &mut e,
        cfg,
        &s,
        &mut [at(On::Upload, 1, Do::Writer(theirs))],
    );
    exact_with_another_writer(&e, &r, &s);
    // 5, 5 (landed, its proof spoiled), then what is left: 5 and 2.
    assert_eq!(r.count(On::Upload), 4);
    let s = src(many("x", 12));
    // Past it, a part that fails spends the budget of its own part only: retries 2, each part
    // failing once, every part written.
    let mut e = limited(vec![]);
    let cfg = Config {
        retries: 2,
        ..small()
    };
    let fail = |nth| at(On::Upload, nth, Do::Status(503));
    let r = run(&mut e, cfg, &s, &mut [fail(0), fail(2), fail(4)]);
    exact(&e, &r, &s);
    assert_eq!((r.count(On::Upload), version_count(&e)), (6, 3));
}

#[test]
fn a_lost_answer_of_a_part_is_not_sent_again() {
    let (e, s, r) = a_dozen_in_parts(&mut [at(On::Upload, 1, Do::LoseAnswer)]);
    exact(&e, &r, &s);
    assert_eq!(r.count(On::Upload), 3, "the lost part is seen as done");
    assert_eq!(version_gids(&e).len(), 3);
    assert_eq!(r.outcome().plan.added.len(), 12, "the whole sync's plan");
    // The part whose answer was lost is not proven, so not listed.
    let v = version_gids(&e);
    assert_eq!(synced_versions(&r), [v[0].clone(), v[2].clone()]);
}

#[test]
fn a_failed_second_part_is_planned_again_and_written() {
    let (e, s, r) = a_dozen_in_parts(&mut [at(On::Upload, 1, Do::Status(500))]);
    exact(&e, &r, &s);
    assert_eq!(r.count(On::Upload), 4);
    assert_eq!(version_gids(&e).len(), 3);
    assert_eq!(synced_versions(&r), version_gids(&e));
    assert_eq!(r.outcome().plan.added.len(), 12, "the whole sync's plan");
    r.warned("failed (HTTP 500)");
}

#[test]
fn a_state_not_known_is_written_whole_and_a_500_past_the_limit_read_again_in_parts() {
    // The export cut short: the state is not known, so the whole source goes in one write
    // (the server diffs it) — past the server's limit, a 500; read again, known, in parts.
    let mut e = limited(many("a", 3));
    let mut examples = many("a", 3);
    examples.extend(many("b", 10));
    let s = src(examples);
    let r = run(
        &mut e,
        small(),
        &s,
        &mut [at(On::Export, 0, Do::CutLastLine)],
    );
    exact(&e, &r, &s);
    r.warned("writing the whole source");
    r.warned("failed (HTTP 500)");
    // After a failure the snapshot: the first part an update of 3 + 5, then an append of 5.
    assert_eq!(upload_sizes(&r), [13, 8, 5]);
    assert_eq!(upload_actions(&r, &s), ["update", "update", "append"]);
    assert_eq!(synced_versions(&r), version_gids(&e)[1..]);
}

#[test]
fn at_the_write_limit_one_version_past_it_two() {
    for (n, versions) in [(4, 1), (5, 1), (6, 2), (10, 2), (11, 3)] {
        let mut e = limited(vec![]);
        let s = src(many("x", n));
        let r = run(&mut e, small(), &s, &mut []);
        exact(&e, &r, &s);
        assert_eq!(version_count(&e), versions, "{n} examples");
        assert_eq!(synced_versions(&r).len(), versions, "{n} examples");
        // And the same number of new examples appended to a dataset.
        let mut e = limited(many("a", 2));
        let mut examples = many("a", 2);
        examples.extend(many("x", n));
        let s = src(examples);
        let r = run(&mut e, small(), &s, &mut []);
        exact(&e, &r, &s);
        assert_eq!(version_count(&e), 1 + versions, "{n} examples appended");
    }
    // The read limit: 5 examples exported, 6 read as JSON.
    for (n, exports) in [(5, 1), (6, 0)] {
        let mut e = limited(many("a", n));
        let r = run(&mut e, small(), &src(many("a", n)), &mut []);
        assert_eq!(r.count(On::Export), exports, "{n} examples");
        assert_eq!(r.count(On::Examples), 1 - exports, "{n} examples");
    }
}

#[test]
fn the_model_answers_500_for_an_update_deleting_past_its_query_limit() {
    // Phoenix removes the split memberships of what an update without splits deletes with
    // one list of their ids: past 32,767 on PostgreSQL, HTTP 500 (as the model does).
    let mut e = limited(many("a", 12));
    let s = src(many("a", 1));
    let cfg = Config {
        write_limit: 100,
        ..small()
    };
    let r = run(&mut e, cfg, &s, &mut []);
    assert_eq!(r.server_failure().2, Some(500));
    r.warned("failed (HTTP 500)");
}

#[test]
fn splits_for_many_examples_go_in_parts_and_make_no_version() {
    // 12 examples put in a split at a limit of 5: three appends carrying members only;
    // Phoenix makes no version for them, and the sync reports none made.
    let mut e = limited(many("a", 12));
    let s = src_with_splits(
        many("a", 12)
            .into_iter()
            .map(|x| in_splits(x, &["train"]))
            .collect(),
    );
    let r = run(&mut e, small(), &s, &mut []);
    exact(&e, &r, &s);
    assert_eq!(plan_counts(&r), (Action::Append, 0, 0, 12, 0));
    assert_eq!(upload_sizes(&r), [5, 5, 2]);
    assert_eq!(version_count(&e), 1);
    assert!(synced_versions(&r).is_empty());
}

#[test]
fn deleting_past_the_write_limit_goes_in_updates_keeping_the_rest_as_they_are() {
    // 11 of 12 deleted at a limit of 5: three updates deleting 5, 5 and 1; each part carries
    // the examples deleted later as the server holds them (their content read once, by node
    // id), so every version in between holds the source and some of what it deletes.
    let mut e = limited(many("a", 12));
    let s = src(many("a", 1));
    let r = run(&mut e, small(), &s, &mut []);
    exact(&e, &r, &s);
    assert_eq!(plan_counts(&r), (Action::Update, 0, 0, 0, 11));
    assert_eq!(upload_actions(&r, &s), ["update", "update", "update"]);
    assert_eq!(upload_sizes(&r), [7, 2, 1]);
    assert_eq!(synced_versions(&r), version_gids(&e)[1..]);
    // The state (12 > the read limit) and the contents: two reads of the examples.
    assert_eq!(r.count(On::Examples), 2);
    r.logged("deleting 5 now and the rest in further versions");
    let bodies = upload_bodies(&r, &s);
    let ids = |b: &Value| b["example_ids"].as_array().unwrap().clone();
    assert_eq!(ids(&bodies[0])[0], json!("a0"));
    assert!(ids(&bodies[0])[1..]
        .iter()
        .all(|id| row_of("DatasetExample", id.as_str().unwrap()).is_some()));
    no_op(&mut e, small(), &s);
}

#[test]
fn replacing_every_id_past_the_limit_adds_and_deletes_in_parts() {
    // A new id scheme: 12 examples out, 12 in, at a limit of 5 (each part adds and deletes
    // at most 5), with or without ids in the source, with splits or without.
    for with_splits in [false, true] {
        let mut e = limited(many("a", 12));
        let examples: Vec<Ex> = many("b", 12)
            .into_iter()
            .map(|x| {
                if with_splits {
                    in_splits(x, &["train"])
                } else {
                    x
                }
            })
            .collect();
        let s = if with_splits {
            src_with_splits(examples)
        } else {
            src(examples)
        };
        let r = run(&mut e, small(), &s, &mut []);
        exact(&e, &r, &s);
        assert_eq!(
            plan_counts(&r),
            (Action::Update, 12, 0, 0, 12),
            "{with_splits}"
        );
        assert_eq!(synced_versions(&r), version_gids(&e)[1..]);
        assert_eq!(synced_versions(&r).len(), 3, "{with_splits}");
        no_op(&mut e, small(), &s);
    }
}

#[test]
fn deleting_past_the_limit_from_a_source_without_ids() {
    // Content-matched examples: the parts name the kept ones by node id all the same.
    let mut e = limited(
        (0..12)
            .map(|i| anon(json!({"q": i}), json!({"a": i})))
            .collect(),
    );
    let s = src(vec![anon(json!({"q": 0}), json!({"a": 0}))]);
    let r = run(&mut e, small(), &s, &mut []);
    exact(&e, &r, &s);
    assert_eq!(plan_counts(&r), (Action::Update, 0, 0, 0, 11));
    assert_eq!(synced_versions(&r).len(), 3);
    let bodies = upload_bodies(&r, &s);
    assert_eq!(bodies[0]["example_ids"][0], Value::Null);
    assert_eq!(bodies[2].get("example_ids"), None);
}

#[test]
fn a_deletion_in_parts_when_another_writer_edits_a_kept_example_between_parts() {
    // Another writer edits an example deleted by a later part, between two parts: the next
    // part's proof sees the other version, the sync reads again and still ends exact.
    let mut e = limited(many("a", 12));
    let s = src(many("a", 1));
    let edit = other(
        "append",
        vec![ex("a11", json!({"a": 11}), json!({"other": true}))],
    );
    let r = run(
        &mut e,
        small(),
        &s,
        &mut [at(On::Upload, 1, Do::Writer(edit))],
    );
    exact_with_another_writer(&e, &r, &s);
}

// -- the property: random scenarios ------------------------------------------------------------

struct Dice(phoenix_upsert_native::sync::wire::Random);

impl Dice {
    fn below(&mut self, n: usize) -> usize {
        (self.0.unit() * n as f64) as usize % n.max(1)
    }
    fn chance(&mut self, p: f64) -> bool {
        self.0.unit() < p
    }
}

/// Examples drawn from a small pool (ids `k0`…, a few contents each), so that sources, seeds
/// and other writers collide: `anon` of them without an id.
fn draw(d: &mut Dice, anon_share: f64, splits: bool) -> Vec<Ex> {
    let mut out = vec![];
    for k in 0..10 {
        if d.chance(0.55) {
            let content = d.below(3);
            let mut e = ex(&format!("k{k}"), json!({"k": k}), json!({"v": content}));
            if d.chance(anon_share) {
                e.id = None;
            }
            if splits {
                let names = ["train", "test", "dev"];
                e.splits = (0..d.below(3))
                    .map(|_| names[d.below(3)].to_owned())
                    .collect();
            }
            out.push(e);
        }
    }
    // A source's order is its own.
    for i in (1..out.len()).rev() {
        out.swap(i, d.below(i + 1));
    }
    out
}

fn random_fault(d: &mut Dice) -> Fault {
    let reads = [
        On::FindByName,
        On::Versions,
        On::Export,
        On::Dataset,
        On::Examples,
        On::Splits,
        On::List,
        On::Version,
    ];
    let on = if d.chance(0.4) {
        On::Upload
    } else {
        reads[d.below(reads.len())]
    };
    let nth = d.below(3);
    let writer = |d: &mut Dice| {
        let splits = d.chance(0.2);
        Other {
            action: if d.chance(0.5) { "append" } else { "update" },
            examples: draw(d, 0.2, splits),
            splits,
        }
    };
    let act = match d.below(11) {
        0 => Do::Status([500, 502, 503][d.below(3)]),
        1 => Do::TooMany(d.below(3) as f64),
        2 => Do::Transport(TransportKind::Other),
        3 => Do::Transport(TransportKind::Stale),
        4 => Do::LoseAnswer,
        5 => {
            return Fault {
                times: 1 + d.below(3),
                ..at(On::Export, nth, Do::CutLastLine)
            }
        }
        6 => return at(On::Export, nth, Do::DuplicateFirstLine),
        7 => return always(On::Versions, Do::ReverseVersions),
        8 => return at(On::Upload, nth, Do::LateCommit(writer(d), d.below(4))),
        _ => Do::Writer(writer(d)),
    };
    at(on, nth, act)
}

#[test]
fn random_scenarios_never_end_done_unless_the_dataset_holds_the_source() {
    // More, or others, by hand: SYNC_MACHINE_SEED=7 SYNC_MACHINE_SCENARIOS=20000; the share
    // (in %) of scenarios with small limits: SYNC_MACHINE_SMALL_LIMITS=100.
    let number = |key: &str, default: u64| {
        std::env::var(key)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let dice_seed = number("SYNC_MACHINE_SEED", 20_261_206);
    let scenarios = number("SYNC_MACHINE_SCENARIOS", 400);
    let mut d = Dice(phoenix_upsert_native::sync::wire::Random::new(dice_seed));
    let (mut done, mut failed, mut conflicts, mut writes, mut unseen) = (0, 0, 0, 0, 0);
    let (mut small_limits, mut in_parts, mut as_json) = (0, 0, 0);
    let tick = number("SYNC_MACHINE_TICK", 1) as i64;
    let small_share = number("SYNC_MACHINE_SMALL_LIMITS", 35) as f64 / 100.0;
    for scenario in 0..scenarios {
        let mut e = env();
        e.phoenix.tick = tick;
        if d.chance(0.8) {
            // Sometimes in splits (read split by split when read as JSON).
            let splits = d.chance(0.2);
            let initial = Other {
                action: "create",
                examples: draw(&mut d, 0.2, splits),
                splits,
            };
            seed_with(&mut e.phoenix, NAME, initial);
        }
        let splits = d.chance(0.25);
        let merge = d.chance(0.3);
        let anon_share = if d.chance(0.3) { 0.3 } else { 0.0 };
        let s = Src {
            examples: draw(&mut d, anon_share, splits),
            splits,
        };
        if s.examples.is_empty() {
            continue;
        }
        let mut cfg = Config {
            merge,
            manifest: d.chance(0.4),
            retries: 1 + d.below(4) as u32,
            seed: scenario,
            ..config()
        };
        if d.chance(small_share) {
            // Small limits: writes in parts, reads as JSON, and a server whose own query limit
            // is at the engine's or above it (or its export's below the engine's read limit).
            cfg.write_limit = [1, 2, 3, 5][d.below(4)];
            cfg.read_limit = [1, 3, 5, 8][d.below(4)];
            e.phoenix.query_limit = cfg.write_limit + [0, 2, 32_767][d.below(3)];
            small_limits += 1;
        }
        if !e.phoenix.datasets.is_empty() && d.chance(0.25) {
            cfg.name = None;
            cfg.dataset_id = Some(gid("Dataset", 1));
        }
        // A run to warm the manifest (of this source or another), sometimes; then another
        // writer, sometimes.
        if cfg.manifest && d.chance(0.6) {
            let warm = if d.chance(0.5) {
                s.clone()
            } else {
                Src {
                    examples: draw(&mut d, anon_share, splits),
                    splits,
                }
            };
            if !warm.examples.is_empty() {
                let _ = run(&mut e, cfg.clone(), &warm, &mut []);
            }
        }
        if d.chance(0.2) {
            let action = if d.chance(0.5) { "append" } else { "update" };
            let theirs = other(action, draw(&mut d, 0.2, false));
            let limit = std::mem::replace(&mut e.phoenix.query_limit, usize::MAX);
            seed_with(&mut e.phoenix, NAME, theirs);
            e.phoenix.query_limit = limit;
        }
        let mut faults: Vec<Fault> = (0..d.below(5)).map(|_| random_fault(&mut d)).collect();
        let context = format!("scenario {scenario}: {cfg:?}, splits {splits}, {faults:?}");
        if d.chance(0.05) {
            // A dry run writes nothing, whatever happens.
            let dry = Config {
                dry_run: true,
                ..cfg.clone()
            };
            let uploads = e.phoenix.uploads;
            let r = run(&mut e, dry, &s, &mut faults.clone());
            assert_eq!(r.count(On::Upload), 0, "{context}");
            assert_eq!(e.phoenix.uploads, uploads + r.others.writes, "{context}");
            if let Ok(o) = &r.result {
                assert!(o.synced.is_none(), "{context}");
            }
        }
        let r = run(&mut e, cfg.clone(), &s, &mut faults);
        writes += r.count(On::Upload);
        as_json += (r.count(On::Examples) > r.count(On::Export)) as usize;
        match &r.result {
            Ok(o) => {
                done += 1;
                let synced = o.synced.as_ref().expect("not a dry run");
                conflicts += synced.concurrent_writer as usize;
                in_parts += (synced.versions.len() > 1) as usize;
                // The versions its proven writes made are the dataset's, oldest first, the
                // last the one reported — unless a write whose answer was lost, or whose proof
                // another writer spoiled (not proven, so not listed), made a newer one.
                let d = row_of("Dataset", synced.dataset["id"].as_str().unwrap()).unwrap();
                let rows: Vec<i64> = synced
                    .versions
                    .iter()
                    .map(|v| row_of("DatasetVersion", v).expect("a version id"))
                    .collect();
                let all = e.phoenix.version_ids(d);
                assert!(
                    rows.windows(2).all(|w| w[0] < w[1]) && rows.iter().all(|v| all.contains(v)),
                    "{context}: {:?}",
                    synced.versions
                );
                let lost = faults
                    .iter()
                    .any(|f| f.fired > 0 && matches!(f.act, Do::LoseAnswer));
                if let Some(&last) = rows.last() {
                    let reported = row_of("DatasetVersion", &synced.version_id).unwrap();
                    if lost || synced.concurrent_writer {
                        assert!(last <= reported, "{context}");
                    } else {
                        assert_eq!(last, reported, "{context}");
                    }
                }
                // A write that took a lower version id than the one reported and committed
                // after the last list of versions was read cannot be seen through Phoenix's
                // API: the known limitation of docs/reliability.md. Nor can one that commits
                // after the count was read, with an export cut short to that count (see
                // known_limitation_a_late_commit_and_an_export_cut_short_together_defeat_the_count).
                let last_read = r.requests.iter().rposition(|(on, _)| *on == On::Versions);
                let reported = row_of("DatasetVersion", &synced.version_id).unwrap_or(i64::MAX);
                let unseen_late = r
                    .others
                    .committed
                    .iter()
                    .any(|&(after, v)| last_read.map_or(true, |i| after > i) && v < reported);
                let damaged = faults.iter().any(|f| {
                    f.fired > 0 && matches!(f.act, Do::CutLastLine | Do::DuplicateFirstLine)
                });
                let late_below = r.others.committed.iter().any(|&(_, v)| v < reported);
                if unseen_late || (damaged && late_below) {
                    unseen += 1;
                    continue;
                }
                // The version the sync reports holds the source; split names (not versioned)
                // are the source's unless another writer wrote during the run.
                let content_only = Src {
                    splits: s.splits && r.others.writes == 0,
                    ..s.clone()
                };
                let result = std::panic::catch_unwind(|| check_holds(&e, o, &content_only, merge));
                assert!(result.is_ok(), "{context}\n{:#?}", r.logs);
            }
            Err(Fail::Input(err)) => {
                assert!(
                    merge && err.kind == ErrorKind::DuplicateContent,
                    "{context}: {err:?}"
                );
                assert_eq!(r.count(On::Upload), 0, "{context}");
                continue;
            }
            Err(Fail::Server(f)) => {
                failed += 1;
                assert!(
                    f.exhausted || f.kind == FailureKind::ConcurrentWrite,
                    "{context}: {f:?}\n{:#?}",
                    r.logs
                );
            }
        }
        // A later run, undisturbed, converges — and the one after is a no-op.
        let r = run(&mut e, cfg.clone(), &s, &mut []);
        check_holds(&e, r.outcome(), &s, merge);
        if !merge {
            check_newest(&e, &s);
        }
        let r = run(&mut e, cfg, &s, &mut []);
        assert_eq!(r.outcome().plan.action, Action::None, "{context}");
        assert_eq!(r.count(On::Upload), 0, "{context}");
    }
    eprintln!(
        "{done} done ({unseen} with a late commit unseen), {failed} failed, {conflicts} with \
         another writer, {writes} writes; {small_limits} with small limits: {in_parts} done in \
         parts, {as_json} read as JSON"
    );
    // The scenarios reach what they are for.
    let share = |n: usize| n as u64 * 400 / scenarios;
    let (done, failed, conflicts, writes) =
        (share(done), share(failed), share(conflicts), share(writes));
    assert!(
        done > 250 && failed > 5 && conflicts > 20 && writes > 300,
        "{done} {failed} {conflicts} {writes}"
    );
    let (in_parts, as_json) = (share(in_parts), share(as_json));
    assert!(in_parts > 20 && as_json > 40, "{in_parts} {as_json}");
}

/// The examples of a saved manifest.
fn saved_examples(data: &[u8]) -> manifest::Examples {
    let newline = data.iter().position(|&b| b == b'\n').expect("a header");
    let body: Value = serde_json::from_slice(&data[newline + 1..]).expect("a body");
    serde_json::from_value(body["examples"].clone()).expect("examples")
}

#[test]
fn the_manifest_keeps_no_external_id_for_an_example_without_one() {
    // Phoenix exports an example without an external id with its node id as `id`: that is
    // not an external id (as the hosts' scans have it: `ScanResult::external_id`).
    let mut e = seeded(vec![
        anon(json!({"q": 1}), json!({})),
        ex("k", json!({"q": 2}), json!({})),
    ]);
    let s = src(vec![
        anon(json!({"q": 1}), json!({})),
        ex("k", json!({"q": 2}), json!({})),
    ]);
    let r = run(&mut e, with_manifest(), &s, &mut []);
    assert_eq!(r.outcome().plan.action, Action::None);
    let (file, written) = &r.saved[0];
    assert!(written);
    let examples = saved_examples(&e.manifests[file]);
    assert_eq!(
        examples.external_ids.iter().collect::<Vec<_>>(),
        [None, Some("k")]
    );
    assert!(examples
        .node_ids
        .iter()
        .all(|n| n.is_some_and(|n| n.starts_with("RGF0YXNldEV4YW1wbGU6"))));
}

#[test]
fn a_late_version_below_our_base_committed_after_our_read_is_a_conflict() {
    // A (a script) takes its version id; B writes and commits above it; we read B's version
    // as our base and download it; A commits below our base, changing what it holds.
    let mut e = seeded(v1());
    let s = edited_v1();
    let a = other("append", vec![ex("a", json!({"a": 1}), json!({}))]);
    let b = other("append", vec![ex("b", json!({"b": 1}), json!({}))]);
    let mut faults = [
        at(On::FindByName, 0, Do::LateCommit(a, 2)),
        at(On::Versions, 0, Do::Writer(b)),
    ];
    let r = run(&mut e, config(), &s, &mut faults);
    r.warned("another writer's version appeared below");
    exact_with_another_writer(&e, &r, &s);
}

#[test]
fn known_limitation_a_lower_version_committed_after_the_proof_is_not_seen() {
    // docs/reliability.md: an upload that is not a sync, committing on PostgreSQL after our
    // proof with a lower version id, is not visible through Phoenix's API before it commits:
    // the version we report then also shows that upload's changes.
    let mut e = seeded(v1());
    let s = edited_v1();
    let theirs = other("append", vec![ex("theirs", json!({"t": 1}), json!({}))]);
    // Their write starts before our upload and commits after the sync ended.
    let mut faults = [at(On::Upload, 0, Do::LateCommit(theirs, 100))];
    let r = run(&mut e, config(), &s, &mut faults);
    let o = r.outcome();
    assert!(!o.synced.as_ref().unwrap().concurrent_writer);
    let synced = o.synced.as_ref().unwrap();
    let d = row_of("Dataset", synced.dataset["id"].as_str().unwrap()).unwrap();
    let v = row_of("DatasetVersion", &synced.version_id).unwrap();
    let has = held(&e.phoenix, d, v, false);
    assert!(has.iter().any(|h| h.0.as_deref() == Some("theirs")));
    // The next sync sees it and syncs again.
    let r = run(&mut e, config(), &s, &mut []);
    assert_eq!(r.outcome().plan.deleted, vec!["theirs".to_owned()]);
    check_holds(&e, r.outcome(), &s, false);
}

#[test]
fn a_database_wiped_and_recreated_under_a_warm_manifest_is_not_trusted() {
    let (mut e, s) = warm_manifest();
    assert!(e.saved_manifest());
    // The same name, the same row ids, the same count; other content, a later second.
    let clock = e.phoenix.clock;
    e.phoenix = Phoenix::new();
    e.phoenix.clock = clock + 5;
    let mut other_content = v1();
    other_content[7].output = json!({"tag": "wiped"});
    seed(&mut e.phoenix, NAME, other_content);
    let r = run(&mut e, with_manifest(), &s, &mut []);
    assert_eq!(r.count(On::Export), 1, "{:?}", r.logs);
    assert_eq!(r.outcome().plan.updated, vec![7]);
    check_newest(&e, &s);
}

#[test]
fn a_manifest_is_written_only_when_the_servers_clock_tells_a_recreated_dataset_apart() {
    // A server answering within one second: the dataset's only version and the answers that
    // show it share their second; a dataset deleted and created again in that second (SQLite
    // reuses row ids) would have the same fingerprint.
    let mut e = env();
    e.phoenix.tick = 0;
    let s = src(v1());
    let r = run(&mut e, with_manifest(), &s, &mut []);
    assert_eq!(r.outcome().plan.action, Action::Create);
    assert_eq!(
        r.saved,
        vec![(r.saved[0].0.clone(), false)],
        "no manifest yet"
    );
    let r = run(&mut e, with_manifest(), &s, &mut []);
    assert_eq!(r.outcome().plan.action, Action::None);
    assert!(!e.saved_manifest());
    // Deleted and created again in the same second with other content: read from the server.
    let clock = e.phoenix.clock;
    e.phoenix = Phoenix::new();
    e.phoenix.clock = clock;
    e.phoenix.tick = 0;
    let mut other_content = v1();
    other_content[3].output = json!({"tag": "recreated"});
    seed(&mut e.phoenix, NAME, other_content);
    e.phoenix.clock = clock;
    let r = run(&mut e, with_manifest(), &s, &mut []);
    assert_eq!(r.outcome().plan.updated, vec![3]);
    check_newest(&e, &s);
    // Once the server's clock has passed the version's second, the manifest is written.
    e.phoenix.tick = 1;
    let r = run(&mut e, with_manifest(), &s, &mut []);
    assert_eq!(r.outcome().plan.action, Action::None);
    assert!(e.saved_manifest());
}

impl Env {
    fn saved_manifest(&self) -> bool {
        !self.manifests.is_empty()
    }
}

#[test]
fn an_export_cut_short_by_as_many_lines_as_another_writer_added_is_not_trusted() {
    // The dataset's count is read with its record, before its versions: another writer's
    // version made in between is not counted. An export of that version cut short by as many
    // lines as the writer added would agree with the stale count.
    let mut e = seeded(v1());
    let s = src(v1());
    let theirs = other("append", vec![anon(json!({"theirs": 1}), json!({}))]);
    let mut faults = [
        at(On::Versions, 0, Do::Writer(theirs)),
        at(On::Export, 0, Do::CutLastLine),
    ];
    let r = run(&mut e, config(), &s, &mut faults);
    assert_eq!(r.fired, vec![1, 1]);
    exact(&e, &r, &s);
}

#[test]
fn an_allowed_empty_source_creates_an_empty_dataset() {
    let mut e = env();
    let s = src(vec![]);
    let cfg = Config {
        allow_empty: true,
        ..config()
    };
    let r = run(&mut e, cfg.clone(), &s, &mut []);
    let o = r.outcome();
    assert_eq!(o.plan.action, Action::Create);
    // Its record is found in the list (GET by id answers 500 for it).
    assert_eq!(r.count(On::List), 1);
    check_holds(&e, o, &s, false);
    assert_eq!(version_count(&e), 1);
    let r = run(&mut e, cfg, &s, &mut []);
    assert_eq!(r.outcome().plan.action, Action::None);
}

#[test]
fn known_limitation_a_late_commit_and_an_export_cut_short_together_defeat_the_count() {
    // Two faults at once: a write committing late below the newest version after the
    // dataset's record (its count) was read, and a proxy cutting the export of that version
    // by as many lines as the late write added. The count then agrees with the export, and
    // neither the versions (the late version's time is its start) nor the count can tell.
    // Each fault alone is handled (the tests above); this pair is not.
    let mut e = seeded(v1());
    let mut examples = v1();
    examples[0].output = json!({"tag": "ours"});
    examples.remove(1);
    let s = src(examples);
    let late = other("append", vec![ex("late", json!({"l": 1}), json!({}))]);
    let b = other("append", vec![ex("b", json!({"b": 1}), json!({}))]);
    let mut faults = [
        at(On::Upload, 0, Do::LateCommit(late, 1)),
        at(On::Upload, 0, Do::Writer(b)),
        at(On::Export, 1, Do::CutLastLine),
    ];
    let r = run(&mut e, config(), &s, &mut faults);
    assert_eq!(r.fired, vec![1, 1, 1]);
    let synced = r.outcome().synced.clone().unwrap();
    let d = row_of("Dataset", synced.dataset["id"].as_str().unwrap()).unwrap();
    let v = row_of("DatasetVersion", &synced.version_id).unwrap();
    let has = held(&e.phoenix, d, v, false);
    assert!(
        has.iter().any(|h| h.0.as_deref() == Some("late")),
        "{has:?}"
    );
    // The next sync sees it and syncs again.
    let r = run(&mut e, config(), &s, &mut []);
    assert_eq!(r.outcome().plan.deleted, vec!["late".to_owned()]);
    check_newest(&e, &s);
}
