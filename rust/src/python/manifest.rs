//! The sync manifest's rules ([`crate::manifest`]) for `phoenix_upsert._engine.manifest`,
//! which keeps the file work (directory, gzip, atomic writes). Fingerprints cross as JSON
//! text (a handful of fields), example columns as lists.

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::manifest::{self, Examples, Fingerprint, Loaded};

fn fingerprint(text: &str) -> PyResult<Fingerprint> {
    let value = serde_json::from_str(text)
        .map_err(|e| PyValueError::new_err(format!("fingerprint is not JSON: {e}")))?;
    Fingerprint::from_json(&value).map_err(PyValueError::new_err)
}

/// `manifest_file_name(server, dataset_id) -> str`.
#[pyfunction]
pub fn manifest_file_name(server: &str, dataset_id: &str) -> String {
    manifest::file_name(server, dataset_id)
}

/// `manifest_provable(fingerprint_json, proven_at) -> bool` (`proven_at`: seconds since the
/// epoch of the server's clock when it showed the manifest's content, or None).
#[pyfunction]
#[pyo3(signature = (fingerprint_json, proven_at))]
pub fn manifest_provable(fingerprint_json: &str, proven_at: Option<i64>) -> PyResult<bool> {
    Ok(manifest::provable(
        &fingerprint(fingerprint_json)?,
        proven_at,
    ))
}

/// `manifest_encode(fingerprint_json, node_ids, external_ids, hashes, splits) -> bytes`: the
/// manifest before compression.
#[pyfunction]
pub fn manifest_encode<'py>(
    py: Python<'py>,
    fingerprint_json: &str,
    node_ids: Vec<String>,
    external_ids: Vec<Option<String>>,
    hashes: Vec<String>,
    splits: Vec<Vec<String>>,
) -> PyResult<Bound<'py, PyBytes>> {
    let fp = fingerprint(fingerprint_json)?;
    let examples = Examples {
        node_ids,
        external_ids,
        hashes,
        splits,
    };
    examples.check().map_err(PyValueError::new_err)?;
    Ok(PyBytes::new(py, &manifest::encode(&fp, &examples)))
}

type Columns = (
    Vec<String>,
    Vec<Option<String>>,
    Vec<String>,
    Vec<Vec<String>>,
);

/// `manifest_decode(data, expected_json) -> (node_ids, external_ids, hashes, splits) | None`:
/// the examples of a manifest that applies to `expected`, None for a stale one; ValueError
/// (saying why) for bytes that are not a sound manifest.
#[pyfunction]
pub fn manifest_decode(data: &[u8], expected_json: &str) -> PyResult<Option<Columns>> {
    let expected = fingerprint(expected_json)?;
    match manifest::decode(data, &expected).map_err(PyValueError::new_err)? {
        Loaded::Current(e) => Ok(Some((e.node_ids, e.external_ids, e.hashes, e.splits))),
        Loaded::Stale => Ok(None),
    }
}

/// `manifest_after_write(previous, ids, hashes, splits, matched, merge) -> columns`: what a
/// dataset holds after a write landed (`previous`: its columns before; `splits`: None for a
/// source without splits; `matched`: (source index, previous index) pairs).
#[pyfunction]
pub fn manifest_after_write(
    previous: Columns,
    ids: Vec<Option<String>>,
    hashes: Vec<String>,
    splits: Option<Vec<Vec<String>>>,
    matched: Vec<(usize, usize)>,
    merge: bool,
) -> PyResult<Columns> {
    let (node_ids, external_ids, prev_hashes, prev_splits) = previous;
    let previous = Examples {
        node_ids,
        external_ids,
        hashes: prev_hashes,
        splits: prev_splits,
    };
    previous.check().map_err(PyValueError::new_err)?;
    let e = manifest::after_write(&previous, &ids, &hashes, splits.as_deref(), &matched, merge)
        .map_err(PyValueError::new_err)?;
    Ok((e.node_ids, e.external_ids, e.hashes, e.splits))
}
