//! The keyed diff: Phoenix's matching rules over tuples or scans.

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyList, PyString, PyTuple};

use super::errors::{guarded, no_panic, to_py_err};
use super::scanning::Scan;
use super::walk::utf8;
use crate::canon::parse_hash_hex;
use crate::diff::{self as diff_core, DiffResult, Incoming, Previous};

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

fn previous_from_scan(scan: &Scan) -> PyResult<Vec<Previous<'_>>> {
    if !scan.has_node_ids || !scan.has_ids {
        return Err(PyValueError::new_err(
            "previous examples need node ids and ids: scan with id_key and node_id_key",
        ));
    }
    let r = &scan.result;
    r.node_ids
        .iter()
        .zip(&r.hashes)
        .enumerate()
        .map(|(i, (node, hash))| {
            let node = node.ok_or_else(|| {
                PyValueError::new_err(format!("previous example {i} has no node id"))
            })?;
            Ok(Previous {
                node_id: node,
                external_id: r.external_id(i),
                hash: *hash,
            })
        })
        .collect()
}

/// `diff(previous, incoming, *, merge=False) -> Diff`: Phoenix's matching rules.
#[pyfunction]
#[pyo3(signature = (previous, incoming, *, merge = false))]
pub fn diff<'py>(
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
    let prev_scan = previous.cast::<Scan>().ok();
    let inc_scan = incoming.cast::<Scan>().ok();
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
                    id: if scan.has_ids { r.ids.get(i) } else { None },
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
        .detach(|| no_panic(|| diff_core::diff(&prev, &inc, merge)))
        .map_err(|e| to_py_err(py, e))?;
    Ok(Diff { result })
}
