//! The sync engine ([`crate::sync`]) for `phoenix_upsert._engine.driver`: a `SyncMachine`
//! whose steps come out as tuples (the driver only sends, reads files, sleeps and logs).

use std::borrow::Cow;

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyTuple};
use pyo3::IntoPyObjectExt;

use super::errors::{guarded, no_panic, to_py_err};
use super::scanning::Scan;
use crate::sync::{Config, Fail, Input, Machine, Purpose, Response, Segment, Step, TransportKind};

/// `SyncMachine(*, name, dataset_id, ..., scan, lines)`: one sync of a scanned source; `poll()` says what
/// to do next, `handle_*` hands it the answers.
#[pyclass(module = "phoenix_upsert._native")]
pub struct SyncMachine {
    inner: Machine,
    /// The answer's chunks fed so far, in one buffer (`feed`).
    body: Vec<u8>,
}

#[pymethods]
impl SyncMachine {
    #[new]
    #[pyo3(signature = (*, name, dataset_id, merge, dry_run, description, allow_empty, manifest, server, retries, timeout, server_version, credentials, source_name, seed, scan, lines))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        name: Option<String>,
        dataset_id: Option<String>,
        merge: bool,
        dry_run: bool,
        description: Option<String>,
        allow_empty: bool,
        manifest: bool,
        server: String,
        retries: u32,
        timeout: Option<f64>,
        server_version: Option<Vec<u64>>,
        credentials: String,
        source_name: String,
        seed: u64,
        scan: PyRef<'_, Scan>,
        lines: Option<Vec<u64>>,
    ) -> PyResult<Self> {
        guarded(py, || {
            let cfg = Config {
                name,
                dataset_id,
                merge,
                dry_run,
                description,
                allow_empty,
                manifest,
                server,
                retries,
                timeout,
                server_version,
                credentials,
                source_name,
                seed,
                ..Config::default()
            };
            let src = scan.columns(lines);
            let inner = py
                .detach(|| no_panic(|| Machine::new(cfg, src)))
                .map_err(|e| to_py_err(py, e))?;
            Ok(SyncMachine {
                inner,
                body: Vec::new(),
            })
        })
    }

    /// The next step, as a tuple whose first item names it: `("http", method, path, query,
    /// headers, timeout, connect_timeout, purpose, examples, what, label, body)`, `("load", file)`,
    /// `("save", file, data)`, `("sleep", seconds)`, `("log", level, message)`, `("done",
    /// plan, synced, server_version)`, `("failed", class, message, status, detail,
    /// retry_after, exhausted)`; an input error is raised.
    fn poll(&mut self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        guarded(py, || {
            // A poll may plan (seconds at a million examples): without the GIL.
            let inner = &mut self.inner;
            let step = py
                .detach(|| no_panic(|| Ok(inner.poll())))
                .map_err(|e| to_py_err(py, e))?;
            step_tuple(py, step)
        })
    }

    /// A chunk of the answer to the last `http` step, as it came: appended to one buffer,
    /// so that a large answer (the examples of a big dataset) is held once, not as its
    /// chunks and their join.
    fn feed(&mut self, chunk: &[u8]) {
        self.body.extend_from_slice(chunk);
    }

    /// The answer to the last `http` step: its body, or `None` for the chunks fed.
    #[pyo3(signature = (status, headers, body))]
    fn handle_response(
        &mut self,
        py: Python<'_>,
        status: u16,
        headers: Vec<(String, String)>,
        body: Option<&[u8]>,
    ) -> PyResult<()> {
        let fed = std::mem::take(&mut self.body);
        let body: Cow<'_, [u8]> = match body {
            Some(bytes) => Cow::Borrowed(bytes),
            None => Cow::Owned(fed),
        };
        let input = Input::Response(Response {
            status,
            headers: headers
                .into_iter()
                .map(|(k, v)| (k.to_ascii_lowercase(), v))
                .collect(),
            body,
        });
        self.handle(py, input)
    }

    /// The last `http` step got no answer: `stale` for a kept-alive connection the server
    /// had closed; `message` says what happened.
    fn handle_transport(&mut self, py: Python<'_>, stale: bool, message: String) -> PyResult<()> {
        self.body = Vec::new(); // what came before the connection failed is not an answer
        let kind = if stale {
            TransportKind::Stale
        } else {
            TransportKind::Other
        };
        self.handle(py, Input::Transport { kind, message })
    }

    /// The manifest file's bytes, gunzipped: `data`, or with `fed` the chunks fed; neither:
    /// no file, or not readable (and whatever was fed is dropped).
    #[pyo3(signature = (data, *, fed = false))]
    fn handle_manifest(&mut self, py: Python<'_>, data: Option<&[u8]>, fed: bool) -> PyResult<()> {
        let chunks = std::mem::take(&mut self.body);
        let bytes = match data {
            Some(data) => Some(Cow::Borrowed(data)),
            None => fed.then_some(Cow::Owned(chunks)),
        };
        self.handle(py, Input::Manifest(bytes))
    }
}

impl SyncMachine {
    fn handle(&mut self, py: Python<'_>, input: Input) -> PyResult<()> {
        guarded(py, || {
            let inner = &mut self.inner;
            py.detach(|| {
                no_panic(|| {
                    inner.handle(input);
                    Ok(())
                })
            })
            .map_err(|e| to_py_err(py, e))
        })
    }
}

fn step_tuple(py: Python<'_>, step: Step) -> PyResult<Py<PyAny>> {
    let t = match step {
        Step::Http(r) => {
            let body = match r.body {
                None => py.None(),
                Some(b) => {
                    let segments = b
                        .segments
                        .into_iter()
                        .map(|s| match s {
                            Segment::Bytes(bytes) => PyBytes::new(py, &bytes).into_any().unbind(),
                            Segment::Rows(part) => part.into_py_any(py).expect("an int"),
                        })
                        .collect::<Vec<_>>();
                    (segments, b.indices).into_py_any(py)?
                }
            };
            let purpose = match r.purpose {
                Purpose::Read => "read",
                Purpose::Export => "export",
                Purpose::Upload => "upload",
            };
            let headers: Vec<(&str, &str)> = r.headers;
            (
                "http",
                r.method.as_str(),
                r.path,
                r.query,
                headers,
                r.timeout,
                r.connect_timeout,
                purpose,
                r.examples,
                r.what,
                r.label,
                body,
            )
                .into_py_any(py)?
        }
        Step::LoadManifest { file } => ("load", file).into_py_any(py)?,
        Step::SaveManifest { file, data } => {
            let data = data.map(|d| PyBytes::new(py, &d).unbind());
            ("save", file, data).into_py_any(py)?
        }
        Step::Sleep(seconds) => ("sleep", seconds).into_py_any(py)?,
        Step::Log(level, message) => ("log", level.as_str(), message).into_py_any(py)?,
        Step::Done(outcome) => {
            let p = outcome.plan;
            let plan = (
                p.dataset_name,
                p.dataset_id,
                p.base_version_id,
                p.action.as_str(),
                p.added,
                p.updated,
                p.split_changes,
                p.deleted,
                p.unchanged,
            )
                .into_py_any(py)?;
            let synced = match outcome.synced {
                None => py.None(),
                Some(s) => (
                    serde_json::Value::Object(s.dataset).to_string(),
                    s.version_id,
                    s.attempts,
                    s.concurrent_writer,
                    s.versions,
                )
                    .into_py_any(py)?,
            };
            ("done", plan, synced, outcome.server_version).into_py_any(py)?
        }
        Step::Failed(Fail::Input(e)) => return Err(to_py_err(py, e)),
        Step::Failed(Fail::Server(f)) => PyTuple::new(
            py,
            [
                "failed".into_py_any(py)?,
                f.kind.class_name().into_py_any(py)?,
                f.message.into_py_any(py)?,
                f.status.into_py_any(py)?,
                f.detail.into_py_any(py)?,
                f.retry_after.into_py_any(py)?,
                f.exhausted.into_py_any(py)?,
            ],
        )?
        .into_any()
        .unbind(),
    };
    Ok(t)
}
