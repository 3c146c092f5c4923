//! The sync's plan ([`crate::plan`]) for `phoenix_upsert._engine.sync`: the previous
//! examples as the manifest's columns, the source as its columns; the plan back as a tuple.

use pyo3::prelude::*;

use super::errors::{guarded, no_panic, to_py_err};
use super::manifest::{examples, Columns};
use crate::plan::{parse_hashes, plan as plan_core, Options, Source};

/// `(action, added, updated, split_changes, deleted, unchanged, matched, full)`.
type PlanTuple = (
    &'static str,
    Vec<usize>,
    Vec<usize>,
    Vec<usize>,
    Vec<usize>,
    usize,
    Vec<(usize, usize)>,
    bool,
);

/// `plan(previous, ids, hashes, splits, lines, *, merge, exists, snapshot, unknown)`: what
/// it takes to make a dataset holding `previous` (node ids, external ids, hashes, splits)
/// hold the source. Raises the typed error of a source that cannot be planned.
#[pyfunction]
#[pyo3(signature = (previous, ids, hashes, splits, lines, *, merge, exists, snapshot, unknown))]
#[allow(clippy::too_many_arguments)]
pub fn plan(
    py: Python<'_>,
    previous: Columns,
    ids: Vec<Option<String>>,
    hashes: Vec<String>,
    splits: Option<Vec<Vec<String>>>,
    lines: Option<Vec<u64>>,
    merge: bool,
    exists: bool,
    snapshot: bool,
    unknown: bool,
) -> PyResult<PlanTuple> {
    guarded(py, || {
        let previous = examples(previous)?;
        let hashes = parse_hashes(&hashes, "source hashes").map_err(|e| to_py_err(py, e))?;
        let ids = ids.into_iter().collect();
        let source = Source {
            ids: &ids,
            hashes: &hashes,
            splits: splits.as_deref(),
            lines: lines.as_deref(),
        };
        let options = Options {
            merge,
            exists,
            snapshot,
            unknown,
        };
        let p = py
            .detach(|| no_panic(|| plan_core(&previous, &source, options)))
            .map_err(|e| to_py_err(py, e))?;
        Ok((
            p.action.as_str(),
            p.added,
            p.updated,
            p.split_changes,
            p.deleted,
            p.unchanged,
            p.matched,
            p.full,
        ))
    })
}
