//! Upload bodies: the parts of chosen examples written by the core ([`crate::upload`]),
//! from a JSONL file read again or from the Python examples walked again — each example
//! checked to hash as it did when scanned.

use std::path::PathBuf;

use pyo3::exceptions::{PyIndexError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList};

use super::errors::{no_panic, to_py_err};
use super::scanning::Scan;
use super::walk::Walker;
use crate::error::{Error, ErrorKind};
use crate::pool::Pool;
use crate::tape::Tape;
use crate::upload::{self, Batch, LineRef, Part, Written};

fn part_of(part: usize) -> PyResult<Part> {
    Part::from_index(part).ok_or_else(|| PyValueError::new_err("part must be 0, 1 or 2"))
}

fn check_indices(scan: &Scan, indices: &[usize]) -> PyResult<()> {
    match indices.iter().find(|&&i| i >= scan.result.len()) {
        Some(i) => Err(PyIndexError::new_err(format!("no example {i} in the scan"))),
        None => Ok(()),
    }
}

/// Name the example's source id in an error about it.
fn with_id(scan: &Scan, e: Error) -> Error {
    let id = e.index.and_then(|i| scan.result.ids.get(i));
    e.with_source_id(id)
}

fn texts<'py>(py: Python<'py>, written: &[Written]) -> PyResult<Bound<'py, PyList>> {
    PyList::new(
        py,
        written
            .iter()
            .flat_map(Written::texts)
            .map(|t| PyBytes::new(py, t)),
    )
}

/// The JSON texts of part `part` of the examples at `indices` of a JSONL scan, read again
/// from `path`.
pub fn jsonl_rows<'py>(
    py: Python<'py>,
    scan: &Scan,
    path: PathBuf,
    indices: Vec<usize>,
    part: usize,
) -> PyResult<Bound<'py, PyList>> {
    let part = part_of(part)?;
    check_indices(scan, &indices)?;
    let r = &scan.result;
    if r.offsets.len() != r.len() {
        return Err(PyValueError::new_err("the scan kept no line positions"));
    }
    let lines: Vec<LineRef> = indices
        .iter()
        .map(|&i| LineRef {
            index: i,
            offset: r.offsets[i],
            length: r.lengths[i],
            line: r.line_numbers[i],
            hash: r.hashes[i],
        })
        .collect();
    let changed = format!(
        "the file changed while syncing: {} no longer holds here what was read and planned; \
         nothing was written — run the sync again",
        path.display()
    );
    let written = py
        .detach(|| no_panic(|| upload::jsonl_part(&path, &lines, part, &changed)))
        .map_err(|e| to_py_err(py, with_id(scan, e)))?;
    texts(py, &written)
}

/// The JSON texts of part `part` of the Python examples at `indices` (a sequence scanned
/// into `scan`), walked again.
pub fn example_rows<'py>(
    py: Python<'py>,
    scan: &Scan,
    examples: &Bound<'py, PyAny>,
    indices: Vec<usize>,
    part: usize,
) -> PyResult<Bound<'py, PyList>> {
    let part = part_of(part)?;
    check_indices(scan, &indices)?;
    const CHANGED: &str = "the example changed while syncing (it no longer holds what was \
                           hashed and planned); nothing was written — run the sync again";
    let mut pool: Pool<Written> = Pool::new();
    let mut failure = None;
    'batches: for chunk in indices.chunks(upload::BATCH) {
        let mut batch = Batch {
            tape: Tape::new(),
            examples: Vec::with_capacity(chunk.len()),
        };
        for &i in chunk {
            // The example is gone (a shorter sequence) or no longer an example at all: it
            // changed since the scan, whatever the walk would say of it now.
            let changed = |detail: String| {
                Error::new(ErrorKind::SourceChanged, format!("{CHANGED} ({detail})")).with_index(i)
            };
            let item = match examples.get_item(i) {
                Ok(item) => item,
                Err(e) => {
                    failure = Some(changed(e.to_string()));
                    break 'batches;
                }
            };
            let mut walker = Walker::new(&mut batch.tape);
            walker.storable = true;
            match walker.example(&item) {
                Ok(roots) => batch.examples.push((i, roots, scan.result.hashes[i])),
                Err(e) => {
                    failure = Some(changed(e.to_string()));
                    break 'batches;
                }
            }
        }
        if !pool.has_room() {
            py.detach(|| pool.make_room());
        }
        if pool.failed() {
            break;
        }
        pool.submit(move || batch.write(part, CHANGED));
    }
    let written = py.detach(move || pool.finish());
    let written = match (written, failure) {
        (Err(e), _) | (Ok(_), Some(e)) => return Err(to_py_err(py, with_id(scan, e))),
        (Ok(w), None) => w,
    };
    texts(py, &written)
}
