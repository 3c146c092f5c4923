//! Canonical JSON and content hashes of Python values and JSON text.

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyString};

use super::errors::{guarded, no_panic, to_py_err, to_py_err_in, Input};
use super::scanning::{hex_list, scan_examples_impl, ExampleSource};
use super::walk::{source_id_of_py, ExampleRoots, Walker};
use crate::canon::{hash_hex, Canonicalizer};
use crate::error::{Error, ErrorKind};
use crate::tape::Tape;

/// `canonicalize(value) -> bytes`: RFC 8785 canonical JSON, byte-identical to Phoenix's.
#[pyfunction]
pub fn canonicalize<'py>(
    py: Python<'py>,
    value: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyBytes>> {
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
pub fn canonicalize_json<'py>(
    py: Python<'py>,
    text: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyBytes>> {
    guarded(py, || canonicalize_json_impl(py, text))
}

fn canonicalize_json_impl<'py>(
    py: Python<'py>,
    text: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyBytes>> {
    let text_err = |e: Error| to_py_err_in(py, e, Input::JsonText);
    let owned: String = if let Ok(b) = text.cast::<PyBytes>() {
        String::from_utf8(b.as_bytes().to_vec()).map_err(|e| {
            text_err(
                Error::new(ErrorKind::InvalidUtf8, "text is not valid UTF-8")
                    .with_column(e.utf8_error().valid_up_to() as u64 + 1),
            )
        })?
    } else if let Ok(s) = text.cast::<PyString>() {
        s.to_cow()
            .map_err(|_| {
                text_err(Error::new(
                    ErrorKind::LoneSurrogate,
                    "text contains a lone surrogate",
                ))
            })?
            .into_owned()
    } else {
        return Err(PyTypeError::new_err("canonicalize_json takes str or bytes"));
    };
    let out = py
        .detach(|| no_panic(|| crate::canonicalize_text(&owned)))
        .map_err(text_err)?;
    Ok(PyBytes::new(py, &out))
}

/// `content_hash(input, output, metadata) -> str`: Phoenix's content hash of one example.
#[pyfunction]
#[pyo3(signature = (input, output, metadata))]
pub fn content_hash(
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
pub fn source_id(py: Python<'_>, value: &Bound<'_, PyAny>) -> PyResult<String> {
    guarded(py, || source_id_of_py(value).map_err(|e| to_py_err(py, e)))
}

/// `hash_examples(examples, *, storable=False, progress=None) -> list[str]`: content hashes
/// of many examples, in order. With `storable`, what Phoenix cannot store is an error too.
#[pyfunction]
#[pyo3(signature = (examples, *, storable = false, progress = None))]
pub fn hash_examples<'py>(
    py: Python<'py>,
    examples: &Bound<'py, PyAny>,
    storable: bool,
    progress: Option<Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyList>> {
    guarded(py, || {
        let source = ExampleSource {
            storable,
            progress,
            ..ExampleSource::default()
        };
        match scan_examples_impl(py, examples, &source) {
            Ok(result) => hex_list(py, &result.hashes),
            Err(f) => Err(f.into_py(py)),
        }
    })
}
