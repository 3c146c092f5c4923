//! The `phoenix_upsert._native` extension module: thin wrappers over the core, one file per
//! concern — [`errors`] (kinds → exception classes, panics → `InternalError`), [`hashing`]
//! (canonical JSON, content hashes), [`scanning`] (JSONL and Python objects into one
//! `Scan`), [`manifest`] (the sync manifest's rules), [`upload`] (upload bodies from a scan), [`diff`] (Phoenix's matching rules),
//! [`plan`] (the sync's plan), [`sync`] (the sync engine's state machine);
//! [`walk`] reads Python values.

mod diff;
mod errors;
mod hashing;
mod manifest;
mod plan;
mod scanning;
mod sync;
mod upload;
mod walk;

use pyo3::prelude::*;
use pyo3::types::PyModule;

use crate::jsonl;

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("MAX_DEPTH", crate::MAX_DEPTH)?;
    m.add("DEFAULT_MAX_LINE_BYTES", jsonl::DEFAULT_MAX_LINE_BYTES)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("CONFLICT_WRITES", crate::sync::CONFLICT_WRITES)?;
    m.add_function(wrap_pyfunction!(hashing::canonicalize, m)?)?;
    m.add_function(wrap_pyfunction!(hashing::canonicalize_json, m)?)?;
    m.add_function(wrap_pyfunction!(hashing::content_hash, m)?)?;
    m.add_function(wrap_pyfunction!(hashing::source_id, m)?)?;
    m.add_function(wrap_pyfunction!(hashing::hash_examples, m)?)?;
    m.add_function(wrap_pyfunction!(scanning::hash_jsonl, m)?)?;
    m.add_function(wrap_pyfunction!(scanning::scan_jsonl, m)?)?;
    m.add_function(wrap_pyfunction!(scanning::scan_examples, m)?)?;
    m.add_function(wrap_pyfunction!(diff::diff, m)?)?;
    m.add_function(wrap_pyfunction!(manifest::manifest_file_name, m)?)?;
    m.add_function(wrap_pyfunction!(manifest::manifest_provable, m)?)?;
    m.add_function(wrap_pyfunction!(manifest::manifest_encode, m)?)?;
    m.add_function(wrap_pyfunction!(manifest::manifest_decode, m)?)?;
    m.add_function(wrap_pyfunction!(manifest::manifest_after_write, m)?)?;
    m.add_function(wrap_pyfunction!(plan::plan, m)?)?;
    m.add_class::<scanning::Scan>()?;
    m.add("JsonlScan", m.getattr("Scan")?)?;
    m.add_class::<diff::Diff>()?;
    m.add_class::<sync::SyncMachine>()?;
    Ok(())
}
