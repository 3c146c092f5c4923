//! The sync manifest's rules ([`crate::manifest`]) for `phoenix_upsert._engine.manifest`,
//! which keeps the file work (directory, gzip, atomic writes). Fingerprints cross as JSON
//! text (a handful of fields), example columns as lists.

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::canon::hash_hex;
use crate::manifest::{self, Examples, Fingerprint, Loaded};
use crate::plan::parse_hashes;

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
        node_ids: node_ids.iter().map(Some).collect(),
        external_ids: external_ids.into_iter().collect(),
        hashes: hashes_of(&hashes, "hashes")?,
        splits,
    };
    examples.check().map_err(PyValueError::new_err)?;
    Ok(PyBytes::new(py, &manifest::encode(&fp, &examples)))
}

/// Hex content hashes from Python, read (ValueError for one that is not).
fn hashes_of(hex: &[String], what: &str) -> PyResult<Vec<[u8; 16]>> {
    parse_hashes(hex, what).map_err(|e| PyValueError::new_err(e.message.clone()))
}

/// A dataset's columns as Python sees them (hashes in hex).
fn columns(e: Examples) -> Columns {
    let hashes = e.hashes.iter().map(hash_hex).collect();
    let node_ids = (0..e.len()).map(|p| e.node_id(p).to_owned()).collect();
    let external_ids = e
        .external_ids
        .iter()
        .map(|i| i.map(str::to_owned))
        .collect();
    (node_ids, external_ids, hashes, e.splits)
}

pub(super) type Columns = (
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
        Loaded::Current(e) => Ok(Some(columns(e))),
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
    let previous = examples(previous)?;
    previous.check().map_err(PyValueError::new_err)?;
    let hashes = hashes_of(&hashes, "hashes")?;
    let ids = ids.into_iter().collect();
    let e = manifest::after_write(&previous, &ids, &hashes, splits.as_deref(), &matched, merge)
        .map_err(PyValueError::new_err)?;
    Ok(columns(e))
}

/// A dataset's columns from Python (hashes in hex), as the core holds them.
pub(super) fn examples(columns: Columns) -> PyResult<Examples> {
    let (node_ids, external_ids, hashes, splits) = columns;
    Ok(Examples {
        node_ids: node_ids.iter().map(Some).collect(),
        external_ids: external_ids.into_iter().collect(),
        hashes: hashes_of(&hashes, "previous hashes")?,
        splits,
    })
}
