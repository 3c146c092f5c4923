//! The `phoenix_upsert._native` extension module.

mod walk;

use std::fs::File;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::sync::mpsc;

use pyo3::exceptions::{PyKeyboardInterrupt, PyOSError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBytes, PyDict, PyList, PyModule, PyString, PyTuple};

use crate::canon::{hash_hex, parse_hash_hex, Canonicalizer};
use crate::diff::{self as diff_core, DiffResult, Incoming, Previous};
use crate::error::{Error, ErrorKind};
use crate::json::LineKeys;
use crate::jsonl::{self, internal_error, ScanOptions, ScanResult};
use crate::storable;
use crate::tape::Tape;
use walk::{is_mapping, source_id_of_py, utf8, ExampleRoots, Walker};

static ERRORS: PyOnceLock<Py<PyModule>> = PyOnceLock::new();

/// The class of `phoenix_upsert.errors` that stands for each kind of native error.
fn class_name(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::NonFiniteNumber => "NonFiniteNumberError",
        ErrorKind::NumberOutOfRange => "NumberOutOfRangeError",
        ErrorKind::LoneSurrogate => "LoneSurrogateError",
        ErrorKind::NullCharacter => "NullCharacterError",
        ErrorKind::NestingTooDeep => "NestingTooDeepError",
        ErrorKind::CircularReference => "CircularReferenceError",
        ErrorKind::NonJsonType => "NonJSONTypeError",
        ErrorKind::NonStringKey => "NonStringKeyError",
        ErrorKind::InvalidExample => "InvalidExampleError",
        ErrorKind::InvalidSourceId => "InvalidSourceIdError",
        ErrorKind::JsonSyntax => "JSONLSyntaxError",
        ErrorKind::InvalidUtf8 => "JSONLEncodingError",
        ErrorKind::LineTooLong => "LineTooLongError",
        ErrorKind::DuplicateId => "DuplicateSourceIdError",
        ErrorKind::Internal => "InternalError",
        ErrorKind::Io | ErrorKind::InvalidArgument => "",
    }
}

/// Raise a native [`Error`] as the matching class of `phoenix_upsert.errors`.
fn to_py_err(py: Python<'_>, err: Error) -> PyErr {
    let message = err.to_string();
    if err.kind == ErrorKind::InvalidArgument {
        return PyValueError::new_err(message);
    }
    if err.kind == ErrorKind::Io {
        return PyOSError::new_err(message);
    }
    let build = || -> PyResult<PyErr> {
        let module = ERRORS
            .get_or_try_init(py, || py.import("phoenix_upsert.errors").map(Bound::unbind))?
            .bind(py);
        let class = module.getattr(class_name(err.kind))?;
        if err.kind == ErrorKind::Internal {
            return Ok(PyErr::from_value(class.call1((message.as_str(),))?));
        }
        let kwargs = PyDict::new(py);
        kwargs.set_item("path", err.path())?;
        kwargs.set_item("index", err.index)?;
        kwargs.set_item("line", err.line)?;
        kwargs.set_item("column", err.column)?;
        kwargs.set_item("source_id", err.source_id.as_deref())?;
        if !err.ids.is_empty() {
            kwargs.set_item("ids", PyList::new(py, &err.ids)?)?;
        }
        let instance = class.call((message.as_str(),), Some(&kwargs))?;
        Ok(PyErr::from_value(instance))
    };
    build().unwrap_or_else(|e| e)
}

/// Run a closure that must not panic (off the GIL, or on another thread); if it does anyway,
/// report a bug instead of unwinding.
fn no_panic<T>(f: impl FnOnce() -> T) -> Result<T, Error> {
    catch_unwind(AssertUnwindSafe(f)).map_err(|panic| internal_error(&*panic))
}

/// The body of every function of the module: a panic becomes `InternalError` (a bug, with
/// its message), never a `PanicException` in the caller's face.
fn guarded<T>(py: Python<'_>, f: impl FnOnce() -> PyResult<T>) -> PyResult<T> {
    catch_unwind(AssertUnwindSafe(f))
        .unwrap_or_else(|panic| Err(to_py_err(py, internal_error(&*panic))))
}

fn hex_list<'py>(py: Python<'py>, hashes: &[[u8; 16]]) -> PyResult<Bound<'py, PyList>> {
    PyList::new(py, hashes.iter().map(hash_hex))
}

/// `canonicalize(value) -> bytes`: RFC 8785 canonical JSON, byte-identical to Phoenix's.
#[pyfunction]
fn canonicalize<'py>(py: Python<'py>, value: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyBytes>> {
    guarded(py, || {
        let mut tape = Tape::new();
        let root = Walker::new(&mut tape)
            .value(value, 1)
            .map_err(|e| to_py_err(py, e))?;
        let mut out = Vec::new();
        Canonicalizer::new().write(&tape, root, &mut out);
        Ok(PyBytes::new(py, &out))
    })
}

/// `canonicalize_json(text) -> bytes`: canonical JSON of a JSON text (str or bytes).
#[pyfunction]
fn canonicalize_json<'py>(
    py: Python<'py>,
    text: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyBytes>> {
    guarded(py, || canonicalize_json_impl(py, text))
}

fn canonicalize_json_impl<'py>(
    py: Python<'py>,
    text: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyBytes>> {
    let owned: String = if let Ok(b) = text.cast::<PyBytes>() {
        String::from_utf8(b.as_bytes().to_vec()).map_err(|e| {
            to_py_err(
                py,
                Error::new(ErrorKind::InvalidUtf8, "text is not valid UTF-8")
                    .with_column(e.utf8_error().valid_up_to() as u64 + 1),
            )
        })?
    } else if let Ok(s) = text.cast::<PyString>() {
        s.to_cow()
            .map_err(|_| {
                to_py_err(
                    py,
                    Error::new(ErrorKind::LoneSurrogate, "text contains a lone surrogate"),
                )
            })?
            .into_owned()
    } else {
        return Err(PyTypeError::new_err("canonicalize_json takes str or bytes"));
    };
    let out = py
        .detach(|| no_panic(|| crate::canonicalize_text(&owned)).and_then(|r| r))
        .map_err(|e| to_py_err(py, e))?;
    Ok(PyBytes::new(py, &out))
}

/// `content_hash(input, output, metadata) -> str`: Phoenix's content hash of one example.
#[pyfunction]
#[pyo3(signature = (input, output, metadata))]
fn content_hash(
    py: Python<'_>,
    input: &Bound<'_, PyAny>,
    output: &Bound<'_, PyAny>,
    metadata: &Bound<'_, PyAny>,
) -> PyResult<String> {
    guarded(py, || {
        let mut tape = Tape::new();
        let mut walker = Walker::new(&mut tape);
        let roots = (|| {
            Ok::<_, Error>(ExampleRoots {
                input: walker.object(input, "input")?,
                output: walker.object(output, "output")?,
                metadata: Some(walker.object(metadata, "metadata")?),
            })
        })()
        .map_err(|e| to_py_err(py, e))?;
        let hash = Canonicalizer::new().example_hash(
            &tape,
            roots.input,
            roots.output,
            roots.metadata,
            &mut Vec::new(),
        );
        Ok(hash_hex(&hash))
    })
}

/// `source_id(value) -> str`: the source id a Python value stands for (a non-empty str
/// without U+0000 as it is, an int as its decimal text), or `InvalidSourceIdError`.
#[pyfunction]
fn source_id(py: Python<'_>, value: &Bound<'_, PyAny>) -> PyResult<String> {
    guarded(py, || source_id_of_py(value).map_err(|e| to_py_err(py, e)))
}

/// Examples walked into one tape, hashed together on a worker thread.
struct Batch {
    tape: Tape,
    roots: Vec<ExampleRoots>,
    /// Index of the first example of the batch in the caller's sequence.
    first: usize,
}

const BATCH_EXAMPLES: usize = 256;
const BATCH_TEXT_BYTES: usize = 8 << 20;

impl Batch {
    fn new(first: usize) -> Self {
        Batch {
            tape: Tape::new(),
            roots: Vec::with_capacity(BATCH_EXAMPLES),
            first,
        }
    }

    fn is_full(&self) -> bool {
        self.roots.len() >= BATCH_EXAMPLES || self.tape.text_len() >= BATCH_TEXT_BYTES
    }

    /// The content hashes; with `storable`, the first example holding U+0000 is an error
    /// (the canonicalizer notes U+0000 while escaping strings, at no cost).
    fn hash(&self, storable: bool) -> Result<Vec<[u8; 16]>, Error> {
        let mut canon = Canonicalizer::new();
        let mut buf = Vec::new();
        let mut out = Vec::with_capacity(self.roots.len());
        for (k, r) in self.roots.iter().enumerate() {
            out.push(canon.example_hash(&self.tape, r.input, r.output, r.metadata, &mut buf));
            if canon.take_nul() && storable {
                let err = storable::find_nul_in_example(&self.tape, r.input, r.output, r.metadata)
                    .unwrap_or_else(storable::nul_in_string);
                return Err(err.with_index(self.first + k));
            }
        }
        Ok(out)
    }
}

type BatchOutcome = (usize, Result<Vec<[u8; 16]>, Error>);

/// Of two errors, the one of the earlier example.
fn earliest(a: Option<Error>, b: Error) -> Option<Error> {
    match a {
        Some(a) if a.index <= b.index => Some(a),
        _ => Some(b),
    }
}

/// Receive batch results (with the GIL released) until at most `target` are in flight;
/// the error of the earliest example, if any failed.
fn collect(
    py: Python<'_>,
    rx: &mut mpsc::Receiver<BatchOutcome>,
    in_flight: &mut usize,
    parts: &mut [Option<Vec<[u8; 16]>>],
    target: usize,
) -> Result<(), Error> {
    let waiting = *in_flight;
    let received: Vec<BatchOutcome> = py.detach(move || {
        let mut got = Vec::new();
        while waiting - got.len() > target {
            match rx.recv() {
                Ok(msg) => got.push(msg),
                Err(_) => break,
            }
        }
        got
    });
    let mut failure = None;
    for (index, result) in received {
        *in_flight -= 1;
        match result {
            Ok(hashes) => parts[index] = Some(hashes),
            Err(e) => failure = earliest(failure, e),
        }
    }
    failure.map_or(Ok(()), Err)
}

enum Failure {
    Native(Error),
    Python(PyErr),
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        Failure::Native(e)
    }
}

impl From<PyErr> for Failure {
    fn from(e: PyErr) -> Self {
        Failure::Python(e)
    }
}

/// Walk `examples` (an iterable of mappings) under the GIL while worker threads canonicalize
/// and hash the batches already walked.
///
/// Of several bad examples the first is reported, whichever way each was found: by the walk
/// (under the GIL, in order) or, for U+0000 when `storable`, while hashing (on the workers,
/// possibly after the walk went further).
fn hash_examples_impl(
    py: Python<'_>,
    examples: &Bound<'_, PyAny>,
    storable: bool,
) -> Result<Vec<[u8; 16]>, Failure> {
    if is_mapping(examples) {
        return Err(PyTypeError::new_err(
            "expected an iterable of examples, got a single mapping (wrap it in a list)",
        )
        .into());
    }
    let iter = examples.try_iter()?;
    let (tx, mut rx) = mpsc::channel::<BatchOutcome>();
    let max_in_flight = rayon::current_num_threads().max(1) * 2 + 1;
    let mut parts: Vec<Option<Vec<[u8; 16]>>> = Vec::new();
    let mut in_flight = 0usize;
    let mut batch = Batch::new(0);
    let mut count = 0usize;
    let mut failure: Option<Error> = None;

    for item in iter {
        let item = item?;
        let mut walker = Walker::new(&mut batch.tape);
        walker.storable = storable;
        match walker.example(&item) {
            Ok(roots) => batch.roots.push(roots),
            Err(e) => {
                failure = Some(e.with_index(count));
                break;
            }
        }
        count += 1;
        if batch.is_full() {
            if count % (BATCH_EXAMPLES * 16) == 0 {
                py.check_signals()?;
            }
            let full = std::mem::replace(&mut batch, Batch::new(count));
            let index = parts.len();
            parts.push(None);
            let tx = tx.clone();
            in_flight += 1;
            rayon::spawn(move || {
                let _ = tx.send((index, no_panic(|| full.hash(storable)).and_then(|r| r)));
            });
            if in_flight >= max_in_flight {
                if let Err(e) = collect(py, &mut rx, &mut in_flight, &mut parts, max_in_flight - 1)
                {
                    failure = Some(e); // before every example not yet walked
                    break;
                }
            }
        }
    }
    // The last, partial batch is hashed here, while the workers finish theirs — also after a
    // failed walk, since its examples come before the one that failed.
    let behind = failure
        .as_ref()
        .is_some_and(|f| f.index < Some(batch.first));
    let last = if behind || batch.roots.is_empty() {
        Ok(Vec::new())
    } else if parts.is_empty() && batch.roots.len() < 16 {
        no_panic(|| batch.hash(storable)).and_then(|r| r)
    } else {
        py.detach(|| no_panic(|| batch.hash(storable)).and_then(|r| r))
    };
    if let Err(e) = collect(py, &mut rx, &mut in_flight, &mut parts, 0) {
        failure = earliest(failure, e);
    }
    let last = match last {
        Ok(hashes) => hashes,
        Err(e) => {
            failure = earliest(failure, e);
            Vec::new()
        }
    };
    if let Some(e) = failure {
        return Err(e.into());
    }
    let mut out = Vec::with_capacity(count);
    for part in parts {
        match part {
            Some(hashes) => out.extend_from_slice(&hashes),
            None => {
                return Err(
                    Error::new(ErrorKind::Internal, "internal error: a batch was lost").into(),
                )
            }
        }
    }
    out.extend_from_slice(&last);
    Ok(out)
}

/// `hash_examples(examples, *, storable=False) -> list[str]`: content hashes of many
/// examples, in order. With `storable`, what Phoenix cannot store is an error too.
#[pyfunction]
#[pyo3(signature = (examples, *, storable = false))]
fn hash_examples<'py>(
    py: Python<'py>,
    examples: &Bound<'py, PyAny>,
    storable: bool,
) -> PyResult<Bound<'py, PyList>> {
    guarded(py, || match hash_examples_impl(py, examples, storable) {
        Ok(hashes) => hex_list(py, &hashes),
        Err(Failure::Native(e)) => Err(to_py_err(py, e)),
        Err(Failure::Python(e)) => Err(e),
    })
}

/// The result of scanning JSONL: per-example hashes and the fields asked for, in file order.
#[pyclass(frozen, module = "phoenix_upsert._native")]
pub struct JsonlScan {
    result: ScanResult,
    has_ids: bool,
    has_node_ids: bool,
    has_splits: bool,
    has_span_ids: bool,
}

fn opt_str_list<'py>(py: Python<'py>, values: &[Option<Box<str>>]) -> PyResult<Bound<'py, PyList>> {
    PyList::new(py, values.iter().map(|v| v.as_deref()))
}

#[pymethods]
impl JsonlScan {
    fn __len__(&self) -> usize {
        self.result.len()
    }

    fn __repr__(&self) -> String {
        format!("<JsonlScan examples={}>", self.result.len())
    }

    /// Content hashes (32 hex characters each).
    #[getter]
    fn hashes<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        hex_list(py, &self.result.hashes)
    }

    /// Values under `id_key` (ints as decimal text), `None` where absent or null.
    #[getter]
    fn ids<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyList>>> {
        self.has_ids
            .then(|| opt_str_list(py, &self.result.ids))
            .transpose()
    }

    /// Values under `node_id_key`.
    #[getter]
    fn node_ids<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyList>>> {
        self.has_node_ids
            .then(|| opt_str_list(py, &self.result.node_ids))
            .transpose()
    }

    /// Values under `span_id_key`.
    #[getter]
    fn span_ids<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyList>>> {
        self.has_span_ids
            .then(|| opt_str_list(py, &self.result.span_ids))
            .transpose()
    }

    /// Split names under `splits_key`: stripped, sorted, de-duplicated; `None` where the key
    /// is absent.
    #[getter]
    fn splits<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyList>>> {
        if !self.has_splits {
            return Ok(None);
        }
        let items = self
            .result
            .splits
            .iter()
            .map(|s| {
                s.as_ref()
                    .map(|names| PyList::new(py, names.iter().map(|n| &**n)))
                    .transpose()
            })
            .collect::<PyResult<Vec<_>>>()?;
        PyList::new(py, items).map(Some)
    }

    /// 1-based line numbers of the examples.
    #[getter]
    fn line_numbers<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        PyList::new(py, &self.result.line_numbers)
    }

    /// Byte offsets of the examples' lines.
    #[getter]
    fn offsets<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        PyList::new(py, &self.result.offsets)
    }

    /// Byte lengths of the examples' lines (without the newline).
    #[getter]
    fn lengths<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        PyList::new(py, &self.result.lengths)
    }
}

fn scan_options(
    id_key: Option<String>,
    splits_key: Option<String>,
    span_id_key: Option<String>,
    node_id_key: Option<String>,
    max_line_bytes: usize,
    keep_positions: bool,
    storable: bool,
) -> PyResult<ScanOptions> {
    for key in [&id_key, &splits_key, &span_id_key, &node_id_key]
        .into_iter()
        .flatten()
    {
        if matches!(key.as_str(), "input" | "output" | "metadata") {
            return Err(PyValueError::new_err(format!(
                "{key:?} holds example content and cannot also be an id, splits or span id key"
            )));
        }
    }
    if max_line_bytes == 0 {
        return Err(PyValueError::new_err("max_line_bytes must be positive"));
    }
    Ok(ScanOptions {
        keys: LineKeys {
            id: id_key,
            splits: splits_key,
            span_id: span_id_key,
            node_id: node_id_key,
        },
        max_line_bytes,
        keep_positions,
        storable,
        ..ScanOptions::default()
    })
}

fn open_file(path: &PathBuf) -> PyResult<File> {
    File::open(path).map_err(|e| {
        let errno = e.raw_os_error().unwrap_or(0);
        // OSError(errno, strerror, filename) picks the subclass (FileNotFoundError, ...).
        PyOSError::new_err((errno, e.to_string(), path.to_string_lossy().into_owned()))
    })
}

/// Scan a JSONL file with the GIL released, asking Python for pending signals between blocks.
fn scan_file(py: Python<'_>, path: &PathBuf, opts: &ScanOptions) -> PyResult<ScanResult> {
    let file = open_file(path)?;
    let mut interrupted: Option<PyErr> = None;
    let outcome = py.detach(|| {
        no_panic(|| {
            jsonl::scan_reader(std::io::BufReader::with_capacity(0, file), opts, || {
                Python::attach(|py| match py.check_signals() {
                    Ok(()) => true,
                    Err(e) => {
                        interrupted = Some(e);
                        false
                    }
                })
            })
        })
        .and_then(|r| r)
    });
    match outcome {
        Ok(Ok(result)) => Ok(result),
        Ok(Err(jsonl::Cancelled)) => {
            Err(interrupted.unwrap_or_else(|| PyKeyboardInterrupt::new_err("scan cancelled")))
        }
        Err(e) if e.kind == ErrorKind::Io => Err(PyOSError::new_err(format!(
            "reading {}: {}",
            path.display(),
            e.message
        ))),
        Err(e) => Err(to_py_err(py, e)),
    }
}

/// `hash_jsonl(path, *, max_line_bytes=..., storable=False) -> list[str]`: content hashes of
/// the examples of a JSONL file.
#[pyfunction]
#[pyo3(signature = (path, *, max_line_bytes = jsonl::DEFAULT_MAX_LINE_BYTES, storable = false))]
fn hash_jsonl<'py>(
    py: Python<'py>,
    path: PathBuf,
    max_line_bytes: usize,
    storable: bool,
) -> PyResult<Bound<'py, PyList>> {
    guarded(py, || {
        let opts = scan_options(None, None, None, None, max_line_bytes, false, storable)?;
        let result = scan_file(py, &path, &opts)?;
        hex_list(py, &result.hashes)
    })
}

fn make_scan(result: ScanResult, opts: &ScanOptions) -> JsonlScan {
    JsonlScan {
        result,
        has_ids: opts.keys.id.is_some(),
        has_node_ids: opts.keys.node_id.is_some(),
        has_splits: opts.keys.splits.is_some(),
        has_span_ids: opts.keys.span_id.is_some(),
    }
}

/// `scan_jsonl(source, *, id_key=None, ...) -> JsonlScan`: hashes plus ids, splits, span ids
/// and line positions of JSONL — a file (path) or data in memory (bytes).
#[pyfunction]
#[pyo3(signature = (source, *, id_key = None, splits_key = None, span_id_key = None, node_id_key = None, max_line_bytes = jsonl::DEFAULT_MAX_LINE_BYTES, storable = false))]
#[allow(clippy::too_many_arguments)]
fn scan_jsonl(
    py: Python<'_>,
    source: &Bound<'_, PyAny>,
    id_key: Option<String>,
    splits_key: Option<String>,
    span_id_key: Option<String>,
    node_id_key: Option<String>,
    max_line_bytes: usize,
    storable: bool,
) -> PyResult<JsonlScan> {
    guarded(py, || {
        let opts = scan_options(
            id_key,
            splits_key,
            span_id_key,
            node_id_key,
            max_line_bytes,
            true,
            storable,
        )?;
        let result = if let Ok(data) = source.cast::<PyBytes>() {
            let bytes = data.as_bytes();
            py.detach(|| no_panic(|| jsonl::scan_bytes(bytes, &opts)).and_then(|r| r))
                .map_err(|e| to_py_err(py, e))?
        } else {
            scan_file(py, &source.extract::<PathBuf>()?, &opts)?
        };
        Ok(make_scan(result, &opts))
    })
}

/// The result of [`diff`]: indices into the two inputs, each list in input order.
#[pyclass(frozen, module = "phoenix_upsert._native")]
pub struct Diff {
    result: DiffResult,
}

fn pair_list<'py>(py: Python<'py>, pairs: &[(u32, u32)]) -> PyResult<Bound<'py, PyList>> {
    PyList::new(py, pairs.iter().copied())
}

#[pymethods]
impl Diff {
    /// Incoming indices of examples to create.
    #[getter]
    fn added<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        PyList::new(py, &self.result.added)
    }

    /// (incoming, previous) index pairs whose content changed.
    #[getter]
    fn updated<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        pair_list(py, &self.result.updated)
    }

    /// (incoming, previous) index pairs whose content is the same.
    #[getter]
    fn unchanged<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        pair_list(py, &self.result.unchanged)
    }

    /// Previous indices of examples to delete (empty when merging).
    #[getter]
    fn deleted<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        PyList::new(py, &self.result.deleted)
    }

    /// Incoming indices whose id is a node id of no previous example (Phoenix rejects these).
    #[getter]
    fn unknown_node_ids<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        PyList::new(py, &self.result.unknown_node_ids)
    }

    fn __repr__(&self) -> String {
        let r = &self.result;
        format!(
            "<Diff added={} updated={} unchanged={} deleted={}>",
            r.added.len(),
            r.updated.len(),
            r.unchanged.len(),
            r.deleted.len()
        )
    }
}

/// Python str objects kept alive here, so that their UTF-8 can be lent to the diff while
/// the GIL is released (the strings are immutable; holding them makes the borrow sound).
#[derive(Default)]
struct HeldStrs<'py> {
    items: Vec<Bound<'py, PyString>>,
}

impl<'py> HeldStrs<'py> {
    fn hold(&mut self, obj: &Bound<'py, PyAny>) -> Option<u32> {
        let s = obj.cast::<PyString>().ok()?;
        utf8(s)?;
        self.items.push(s.clone());
        Some((self.items.len() - 1) as u32)
    }

    fn get(&self, i: u32) -> &str {
        self.items
            .get(i as usize)
            .and_then(|s| utf8(s))
            .unwrap_or_default()
    }
}

fn parse_hash(obj: &Bound<'_, PyAny>) -> Option<[u8; 16]> {
    obj.cast::<PyString>()
        .ok()
        .and_then(|s| utf8(s))
        .and_then(parse_hash_hex)
}

fn bad_item(side: &str, i: usize, shape: &str) -> PyErr {
    PyTypeError::new_err(format!(
        "{side}[{i}] must be a {shape} tuple (hash: 32 hex characters)"
    ))
}

/// A previous example as indices into [`HeldStrs`]: (node id, external id, hash).
type PrevRef = (u32, Option<u32>, [u8; 16]);

/// `(node_id, external_id | None, hash)` tuples from any iterable.
fn previous_tuples<'py>(
    obj: &Bound<'py, PyAny>,
    strs: &mut HeldStrs<'py>,
) -> PyResult<Vec<PrevRef>> {
    const SHAPE: &str = "(node_id: str, external_id: str | None, hash: str)";
    let mut out = Vec::with_capacity(obj.len().unwrap_or(0));
    for (i, item) in obj.try_iter()?.enumerate() {
        let item = item?;
        let t = item
            .cast::<PyTuple>()
            .map_err(|_| bad_item("previous", i, SHAPE))?;
        if t.len() != 3 {
            return Err(bad_item("previous", i, SHAPE));
        }
        let node = strs
            .hold(&t.get_item(0)?)
            .ok_or_else(|| bad_item("previous", i, SHAPE))?;
        let ext = t.get_item(1)?;
        let ext = if ext.is_none() {
            None
        } else {
            Some(
                strs.hold(&ext)
                    .ok_or_else(|| bad_item("previous", i, SHAPE))?,
            )
        };
        let hash = parse_hash(&t.get_item(2)?).ok_or_else(|| bad_item("previous", i, SHAPE))?;
        out.push((node, ext, hash));
    }
    Ok(out)
}

/// `(id | None, hash)` tuples from any iterable.
fn incoming_tuples<'py>(
    obj: &Bound<'py, PyAny>,
    strs: &mut HeldStrs<'py>,
) -> PyResult<Vec<(Option<u32>, [u8; 16])>> {
    const SHAPE: &str = "(id: str | None, hash: str)";
    let mut out = Vec::with_capacity(obj.len().unwrap_or(0));
    for (i, item) in obj.try_iter()?.enumerate() {
        let item = item?;
        let t = item
            .cast::<PyTuple>()
            .map_err(|_| bad_item("incoming", i, SHAPE))?;
        if t.len() != 2 {
            return Err(bad_item("incoming", i, SHAPE));
        }
        let id = t.get_item(0)?;
        let id = if id.is_none() {
            None
        } else {
            Some(
                strs.hold(&id)
                    .ok_or_else(|| bad_item("incoming", i, SHAPE))?,
            )
        };
        let hash = parse_hash(&t.get_item(1)?).ok_or_else(|| bad_item("incoming", i, SHAPE))?;
        out.push((id, hash));
    }
    Ok(out)
}

fn previous_from_scan(scan: &JsonlScan) -> PyResult<Vec<Previous<'_>>> {
    if !scan.has_node_ids || !scan.has_ids {
        return Err(PyValueError::new_err(
            "previous examples need node ids and ids: scan with id_key and node_id_key",
        ));
    }
    let r = &scan.result;
    r.node_ids
        .iter()
        .zip(&r.ids)
        .zip(&r.hashes)
        .enumerate()
        .map(|(i, ((node, id), hash))| {
            let node = node.as_deref().ok_or_else(|| {
                PyValueError::new_err(format!("previous example {i} has no node id"))
            })?;
            // Phoenix exports `id` as the external id, or the node id when there is none.
            let external_id = id.as_deref().filter(|id| *id != node);
            Ok(Previous {
                node_id: node,
                external_id,
                hash: *hash,
            })
        })
        .collect()
}

/// `diff(previous, incoming, *, merge=False) -> Diff`: Phoenix's matching rules.
#[pyfunction]
#[pyo3(signature = (previous, incoming, *, merge = false))]
fn diff<'py>(
    py: Python<'py>,
    previous: &Bound<'py, PyAny>,
    incoming: &Bound<'py, PyAny>,
    merge: bool,
) -> PyResult<Diff> {
    guarded(py, || diff_impl(py, previous, incoming, merge))
}

fn diff_impl<'py>(
    py: Python<'py>,
    previous: &Bound<'py, PyAny>,
    incoming: &Bound<'py, PyAny>,
    merge: bool,
) -> PyResult<Diff> {
    let prev_scan = previous.cast::<JsonlScan>().ok();
    let inc_scan = incoming.cast::<JsonlScan>().ok();
    let mut strs = HeldStrs::default();
    let prev_tuples = match prev_scan {
        Some(_) => Vec::new(),
        None => previous_tuples(previous, &mut strs)?,
    };
    let inc_tuples = match inc_scan {
        Some(_) => Vec::new(),
        None => incoming_tuples(incoming, &mut strs)?,
    };
    let prev: Vec<Previous<'_>> = match prev_scan {
        Some(scan) => previous_from_scan(scan.get())?,
        None => prev_tuples
            .iter()
            .map(|&(node, ext, hash)| Previous {
                node_id: strs.get(node),
                external_id: ext.map(|e| strs.get(e)),
                hash,
            })
            .collect(),
    };
    let inc: Vec<Incoming<'_>> = match inc_scan {
        Some(scan) => {
            let scan = scan.get();
            let r = &scan.result;
            r.hashes
                .iter()
                .enumerate()
                .map(|(i, hash)| Incoming {
                    id: if scan.has_ids {
                        r.ids.get(i).and_then(|id| id.as_deref())
                    } else {
                        None
                    },
                    hash: *hash,
                })
                .collect()
        }
        None => inc_tuples
            .iter()
            .map(|&(id, hash)| Incoming {
                id: id.map(|i| strs.get(i)),
                hash,
            })
            .collect(),
    };
    let result = py
        .detach(|| no_panic(|| diff_core::diff(&prev, &inc, merge)).and_then(|r| r))
        .map_err(|e| to_py_err(py, e))?;
    Ok(Diff { result })
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("MAX_DEPTH", crate::MAX_DEPTH)?;
    m.add("DEFAULT_MAX_LINE_BYTES", jsonl::DEFAULT_MAX_LINE_BYTES)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_function(wrap_pyfunction!(canonicalize, m)?)?;
    m.add_function(wrap_pyfunction!(canonicalize_json, m)?)?;
    m.add_function(wrap_pyfunction!(content_hash, m)?)?;
    m.add_function(wrap_pyfunction!(source_id, m)?)?;
    m.add_function(wrap_pyfunction!(hash_examples, m)?)?;
    m.add_function(wrap_pyfunction!(hash_jsonl, m)?)?;
    m.add_function(wrap_pyfunction!(scan_jsonl, m)?)?;
    m.add_function(wrap_pyfunction!(diff, m)?)?;
    m.add_class::<JsonlScan>()?;
    m.add_class::<Diff>()?;
    Ok(())
}
