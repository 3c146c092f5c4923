//! Scans: JSONL (a file or bytes) and Python objects read by the one example schema of the
//! core, into the one [`Scan`] type.

use std::fs::File;
use std::path::PathBuf;

use pyo3::exceptions::{PyKeyboardInterrupt, PyOSError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyString, PyTuple};

use super::errors::{guarded, no_panic, to_py_err, Failure};
use super::walk::{example_fields, is_mapping, ExampleRoots, FieldKeys, IdFrom, Walker};
use crate::canon::{hash_hex, Canonicalizer};
use crate::error::{Error, Result};
use crate::example::LineKeys;
use crate::jsonl::{self, ScanOptions, ScanResult};
use crate::pool::Pool;
use crate::storable;
use crate::strings::StrColumn;
use crate::sync::SourceColumns;
use crate::tape::Tape;

pub fn hex_list<'py>(py: Python<'py>, hashes: &[[u8; 16]]) -> PyResult<Bound<'py, PyList>> {
    PyList::new(py, hashes.iter().map(hash_hex))
}

/// The result of a scan — of JSONL or of Python objects: per-example hashes and the fields
/// asked for, in source order. (`JsonlScan` is another name of this class.)
#[pyclass(frozen, name = "Scan", module = "phoenix_upsert._native")]
pub struct Scan {
    pub(super) result: ScanResult,
    pub(super) has_ids: bool,
    pub(super) has_node_ids: bool,
    pub(super) has_splits: bool,
    pub(super) has_span_ids: bool,
}

pub fn opt_str_list<'py>(py: Python<'py>, values: &StrColumn) -> PyResult<Bound<'py, PyList>> {
    PyList::new(py, values.iter())
}

#[pymethods]
impl Scan {
    fn __len__(&self) -> usize {
        self.result.len()
    }

    fn __repr__(&self) -> String {
        format!("<Scan examples={}>", self.result.len())
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

    /// Of a Phoenix export scanned with an id key and a node id key: each example's
    /// external id (its `id` unless that is its node id, Phoenix's spelling of "none").
    #[getter]
    fn external_ids<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyList>>> {
        (self.has_ids && self.has_node_ids)
            .then(|| {
                PyList::new(
                    py,
                    (0..self.result.len()).map(|i| self.result.external_id(i)),
                )
            })
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

    /// The split names as a sync reads them: `None` unless some example has a splits key,
    /// else a tuple per example (empty where the example has no key).
    #[getter]
    fn _sync_splits<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyList>>> {
        if !self.declares_splits() {
            return Ok(None);
        }
        let items = self
            .result
            .splits
            .iter()
            .map(|s| PyTuple::new(py, s.as_deref().unwrap_or_default().iter().map(|n| &**n)))
            .collect::<PyResult<Vec<_>>>()?;
        PyList::new(py, items).map(Some)
    }

    /// The span ids as a sync reads them: `None` unless some example has one.
    #[getter]
    fn _sync_span_ids<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyList>>> {
        self.declares_span_ids()
            .then(|| opt_str_list(py, &self.result.span_ids))
            .transpose()
    }

    /// `size_of(indices) -> int`: the byte lengths of the lines at `indices`, summed (0
    /// where the scan kept no positions).
    fn size_of(&self, indices: Vec<usize>) -> u64 {
        indices
            .iter()
            .filter_map(|&i| self.result.lengths.get(i))
            .sum()
    }

    /// `jsonl_rows(path, indices, part) -> list[bytes]`: the JSON of part `part` (0 input,
    /// 1 output, 2 metadata) of the examples at `indices`, their lines read again from
    /// `path` and checked to hash as scanned (else `SourceChangedError`).
    fn jsonl_rows<'py>(
        &self,
        py: Python<'py>,
        path: PathBuf,
        indices: Vec<usize>,
        part: usize,
    ) -> PyResult<Bound<'py, PyList>> {
        guarded(py, || {
            super::upload::jsonl_rows(py, self, path, indices, part)
        })
    }

    /// `example_rows(examples, indices, part) -> list[bytes]`: the same for the Python
    /// examples this scan was made of (a sequence), walked again.
    fn example_rows<'py>(
        &self,
        py: Python<'py>,
        examples: &Bound<'py, PyAny>,
        indices: Vec<usize>,
        part: usize,
    ) -> PyResult<Bound<'py, PyList>> {
        guarded(py, || {
            super::upload::example_rows(py, self, examples, indices, part)
        })
    }
}

impl Scan {
    /// Whether the source says anything of splits: some example has a splits key.
    fn declares_splits(&self) -> bool {
        self.has_splits && self.result.splits.iter().any(Option::is_some)
    }

    /// Whether some example has a span id.
    fn declares_span_ids(&self) -> bool {
        self.has_span_ids && self.result.span_ids.any()
    }

    /// The engine's columns of this scan: the source ids (none without an id key), content
    /// hashes (16 bytes each), split names (`None` unless some example has a splits key; an
    /// example without it has none), span ids (`None` unless some example has one) and line
    /// numbers (the scan's, if it kept them, unless `lines` is given).
    pub(super) fn columns(&self, lines: Option<Vec<u64>>) -> SourceColumns {
        let r = &self.result;
        let n = r.len();
        let ids = if self.has_ids {
            r.ids.clone()
        } else {
            StrColumn::absent(n)
        };
        let splits = self.declares_splits().then(|| {
            r.splits
                .iter()
                .map(|s| {
                    s.as_deref()
                        .unwrap_or_default()
                        .iter()
                        .map(|name| name.to_string())
                        .collect()
                })
                .collect()
        });
        let span_ids = self.declares_span_ids().then(|| r.span_ids.clone());
        let lines =
            lines.or_else(|| (n > 0 && r.line_numbers.len() == n).then(|| r.line_numbers.clone()));
        SourceColumns {
            has_ids: ids.any(),
            ids,
            hashes: r.hashes.clone(),
            splits,
            lines,
            span_ids,
        }
    }
}

pub fn scan_options(
    id_key: Option<String>,
    splits_key: Option<String>,
    span_id_key: Option<String>,
    node_id_key: Option<String>,
    max_line_bytes: usize,
    keep_positions: bool,
    storable: bool,
) -> PyResult<ScanOptions> {
    if max_line_bytes == 0 {
        return Err(PyValueError::new_err("max_line_bytes must be positive"));
    }
    let keys = LineKeys {
        id: id_key,
        splits: splits_key,
        span_id: span_id_key,
        node_id: node_id_key,
    };
    keys.check()
        .map_err(|e| PyValueError::new_err(e.message.clone()))?;
    Ok(ScanOptions {
        keys,
        max_line_bytes,
        keep_positions,
        storable,
        ..ScanOptions::default()
    })
}

pub fn open_file(path: &PathBuf) -> PyResult<File> {
    File::open(path).map_err(|e| {
        let errno = e.raw_os_error().unwrap_or(0);
        // OSError(errno, strerror, filename) picks the subclass (FileNotFoundError, ...).
        PyOSError::new_err((errno, e.to_string(), path.to_string_lossy().into_owned()))
    })
}

/// Scan a JSONL file with the GIL released. Between blocks, the reading thread takes the GIL
/// to ask Python for pending signals and to report the bytes read so far to `progress`; an
/// exception from either stops the scan and is raised.
fn scan_file(
    py: Python<'_>,
    path: &PathBuf,
    opts: &ScanOptions,
    progress: Option<&Bound<'_, PyAny>>,
) -> PyResult<ScanResult> {
    let file = open_file(path)?;
    let progress = progress.map(|p| p.clone().unbind());
    let mut interrupted: Option<PyErr> = None;
    let outcome = py.detach(|| {
        no_panic(|| {
            jsonl::scan_reader(std::io::BufReader::with_capacity(0, file), opts, |read| {
                Python::attach(|py| {
                    let step = py.check_signals().and_then(|()| match &progress {
                        Some(p) => p.bind(py).call1((read,)).map(drop),
                        None => Ok(()),
                    });
                    match step {
                        Ok(()) => true,
                        Err(e) => {
                            interrupted = Some(e);
                            false
                        }
                    }
                })
            })
        })
    });
    match outcome {
        Ok(Ok(result)) => Ok(result),
        Ok(Err(jsonl::Cancelled)) => {
            Err(interrupted.unwrap_or_else(|| PyKeyboardInterrupt::new_err("scan cancelled")))
        }
        Err(e) if e.kind == crate::error::ErrorKind::Io => Err(PyOSError::new_err(format!(
            "reading {}: {}",
            path.display(),
            e.message
        ))),
        Err(e) => Err(to_py_err(py, e)),
    }
}

/// `hash_jsonl(path, *, max_line_bytes=..., storable=False, progress=None) -> list[str]`:
/// content hashes of the examples of a JSONL file.
#[pyfunction]
#[pyo3(signature = (path, *, max_line_bytes = jsonl::DEFAULT_MAX_LINE_BYTES, storable = false, progress = None))]
pub fn hash_jsonl<'py>(
    py: Python<'py>,
    path: PathBuf,
    max_line_bytes: usize,
    storable: bool,
    progress: Option<Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyList>> {
    guarded(py, || {
        let opts = scan_options(None, None, None, None, max_line_bytes, false, storable)?;
        let result = scan_file(py, &path, &opts, progress.as_ref())?;
        hex_list(py, &result.hashes)
    })
}

fn make_scan(result: ScanResult, opts: &ScanOptions) -> Scan {
    Scan {
        result,
        has_ids: opts.keys.id.is_some(),
        has_node_ids: opts.keys.node_id.is_some(),
        has_splits: opts.keys.splits.is_some(),
        has_span_ids: opts.keys.span_id.is_some(),
    }
}

/// `scan_jsonl(source, *, id_key=None, ...) -> Scan`: hashes plus ids, splits, span ids
/// and line positions of JSONL — a file (path) or data in memory (bytes).
#[pyfunction]
#[pyo3(signature = (source, *, id_key = None, splits_key = None, span_id_key = None, node_id_key = None, max_line_bytes = jsonl::DEFAULT_MAX_LINE_BYTES, storable = false, progress = None))]
#[allow(clippy::too_many_arguments)]
pub fn scan_jsonl(
    py: Python<'_>,
    source: &Bound<'_, PyAny>,
    id_key: Option<String>,
    splits_key: Option<String>,
    span_id_key: Option<String>,
    node_id_key: Option<String>,
    max_line_bytes: usize,
    storable: bool,
    progress: Option<Bound<'_, PyAny>>,
) -> PyResult<Scan> {
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
            py.detach(|| no_panic(|| jsonl::scan_bytes(bytes, &opts)))
                .map_err(|e| to_py_err(py, e))?
        } else {
            scan_file(py, &source.extract::<PathBuf>()?, &opts, progress.as_ref())?
        };
        Ok(make_scan(result, &opts))
    })
}

/// What [`scan_examples_impl`] reads of Python examples, and how.
#[derive(Default)]
pub struct ExampleSource<'py> {
    /// The key of the source id in each example...
    pub id_key: Option<Bound<'py, PyString>>,
    /// ... or the raw source ids, one per example, computed by the caller.
    pub ids: Option<Bound<'py, PyAny>>,
    pub keys: FieldKeys<'py>,
    /// A sync's source: what Phoenix cannot store is an error; with ids, every example has
    /// one and no id occurs twice.
    pub storable: bool,
    /// Called with the number of examples walked, once per batch.
    pub progress: Option<Bound<'py, PyAny>>,
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
    fn hash(&self, storable: bool) -> Result<Vec<[u8; 16]>> {
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

/// Walk one example into the batch, its fields besides content into `result`.
fn walk_example(
    item: &Bound<'_, PyAny>,
    id: IdFrom<'_, '_>,
    src: &ExampleSource<'_>,
    has_ids: bool,
    batch: &mut Batch,
    result: &mut ScanResult,
) -> Result<()> {
    let fields = example_fields(item, id, &src.keys, src.storable)?;
    let mut walker = Walker::new(&mut batch.tape);
    walker.storable = src.storable;
    let roots = walker
        .example(item)
        .map_err(|e| e.with_source_id(fields.id.as_deref()))?;
    batch.roots.push(roots);
    if has_ids {
        result.ids.push(fields.id.as_deref());
    }
    if src.keys.splits.is_some() {
        result.splits.push(fields.splits.map(|names| {
            names
                .into_iter()
                .map(String::into_boxed_str)
                .collect::<Vec<_>>()
                .into_boxed_slice()
        }));
    }
    if src.keys.span_id.is_some() {
        result.span_ids.push(fields.span_id.as_deref());
    }
    Ok(())
}

/// Walk `examples` (an iterable of mappings) under the GIL while the ordered pool hashes
/// the batches already walked.
///
/// Of several bad examples the first is reported, whichever way each was found: by the walk
/// (under the GIL, in order) or, for U+0000 when `storable`, while hashing (on the workers,
/// possibly after the walk went further).
pub fn scan_examples_impl(
    py: Python<'_>,
    examples: &Bound<'_, PyAny>,
    src: &ExampleSource<'_>,
) -> std::result::Result<ScanResult, Failure> {
    if is_mapping(examples) {
        return Err(PyTypeError::new_err(
            "expected an iterable of examples, got a single mapping (wrap it in a list)",
        )
        .into());
    }
    let iter = examples.try_iter()?;
    let mut ids = src.ids.as_ref().map(|v| v.try_iter()).transpose()?;
    let has_ids = src.id_key.is_some() || ids.is_some();
    let storable = src.storable;
    let mut result = ScanResult::default();
    let mut pool: Pool<Vec<[u8; 16]>> = Pool::new();
    let mut batch = Batch::new(0);
    let mut count = 0usize;
    let mut failure: Option<Error> = None;

    for item in iter {
        let item = item?;
        let id = match (&mut ids, &src.id_key) {
            (Some(values), _) => IdFrom::Value(values.next().ok_or_else(|| {
                PyValueError::new_err("ids has fewer values than there are examples")
            })??),
            (None, Some(key)) => IdFrom::Key(key),
            (None, None) => IdFrom::Nothing,
        };
        if let Err(e) = walk_example(&item, id, src, has_ids, &mut batch, &mut result) {
            failure = Some(e.with_index(count));
            break;
        }
        count += 1;
        if batch.is_full() {
            let full = std::mem::replace(&mut batch, Batch::new(count));
            if !pool.has_room() {
                py.detach(|| pool.make_room());
            }
            if pool.failed() {
                break; // an earlier example is bad: no need to walk further
            }
            pool.submit(move || full.hash(storable));
            if let Some(progress) = &src.progress {
                progress.call1((count,))?;
            }
            if pool.submitted() % 16 == 0 {
                py.check_signals()?;
            }
        }
    }
    if failure.is_none() && !pool.failed() {
        if let Some(values) = &mut ids {
            if values.next().is_some() {
                return Err(
                    PyValueError::new_err("ids has more values than there are examples").into(),
                );
            }
        }
    }
    // The last, partial batch: hashed here when it is all there is and small, else by the
    // pool — also after a failed walk, since its examples come before the one that failed.
    let mut last = Ok(Vec::new());
    if !batch.roots.is_empty() {
        if pool.submitted() == 0 && batch.roots.len() < 16 {
            last = no_panic(|| batch.hash(storable));
        } else {
            pool.submit(move || batch.hash(storable));
        }
    }
    let parts = if pool.submitted() == 0 {
        Ok(Vec::new())
    } else {
        py.detach(move || pool.finish())
    };
    let hashes = parts.and_then(|parts| {
        let mut hashes = Vec::with_capacity(count);
        for part in parts {
            hashes.extend_from_slice(&part);
        }
        hashes.extend_from_slice(&last?);
        match failure {
            Some(e) => Err(e),
            None => Ok(hashes),
        }
    });
    result.hashes = hashes.map_err(|e| {
        let id = e.index.and_then(|i| result.ids.get(i));
        e.with_source_id(id)
    })?;
    if let Some(progress) = &src.progress {
        progress.call1((count,))?;
    }
    if storable && has_ids {
        result.check_unique_ids()?;
    }
    Ok(result)
}

/// `scan_examples(examples, *, id_key=None, ids=None, splits_key=None, span_id_key=None,
/// storable=False, progress=None) -> Scan`: the examples' hashes, source ids, split names
/// and span ids, by the same rules as [`scan_jsonl`]'s.
#[pyfunction]
#[pyo3(signature = (examples, *, id_key = None, ids = None, splits_key = None, span_id_key = None, storable = false, progress = None))]
#[allow(clippy::too_many_arguments)]
pub fn scan_examples<'py>(
    py: Python<'py>,
    examples: &Bound<'py, PyAny>,
    id_key: Option<Bound<'py, PyString>>,
    ids: Option<Bound<'py, PyAny>>,
    splits_key: Option<Bound<'py, PyString>>,
    span_id_key: Option<Bound<'py, PyString>>,
    storable: bool,
    progress: Option<Bound<'py, PyAny>>,
) -> PyResult<Scan> {
    guarded(py, || {
        if id_key.is_some() && ids.is_some() {
            return Err(PyValueError::new_err("pass id_key or ids, not both"));
        }
        let src = ExampleSource {
            id_key,
            ids,
            keys: FieldKeys {
                splits: splits_key,
                span_id: span_id_key,
            },
            storable,
            progress,
        };
        let has_ids = src.id_key.is_some() || src.ids.is_some();
        let result = scan_examples_impl(py, examples, &src).map_err(|f| f.into_py(py))?;
        Ok(Scan {
            result,
            has_ids,
            has_node_ids: false,
            has_splits: src.keys.splits.is_some(),
            has_span_ids: src.keys.span_id.is_some(),
        })
    })
}
