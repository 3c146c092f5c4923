//! The core's [`ErrorKind`]s as the exception classes of `phoenix_upsert.errors`, and the
//! guard every function of the module runs in: a panic becomes `InternalError` (a bug, with
//! its message), never a `PanicException` in the caller's face.

use std::panic::{catch_unwind, AssertUnwindSafe};

use pyo3::exceptions::{PyOSError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyList, PyModule};

pub use crate::error::Input;
use crate::error::{Error, ErrorKind};

static ERRORS: PyOnceLock<Py<PyModule>> = PyOnceLock::new();

/// The class of `phoenix_upsert.errors` for a kind of native error ("" for kinds raised as
/// Python's own `OSError` / `ValueError`).
fn class_name(kind: ErrorKind, input: Input) -> &'static str {
    kind.class_name(input).unwrap_or("")
}

/// Raise a native [`Error`] about examples as the matching class of `phoenix_upsert.errors`.
pub fn to_py_err(py: Python<'_>, err: Error) -> PyErr {
    to_py_err_in(py, err, Input::Examples)
}

/// Raise a native [`Error`] as the matching class of `phoenix_upsert.errors`.
pub fn to_py_err_in(py: Python<'_>, err: Error, input: Input) -> PyErr {
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
        let class = module.getattr(class_name(err.kind, input))?;
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
pub fn no_panic<T>(f: impl FnOnce() -> Result<T, Error>) -> Result<T, Error> {
    crate::pool::no_panic(f)
}

/// The body of every function of the module: a panic becomes `InternalError`.
pub fn guarded<T>(py: Python<'_>, f: impl FnOnce() -> PyResult<T>) -> PyResult<T> {
    catch_unwind(AssertUnwindSafe(f))
        .unwrap_or_else(|panic| Err(to_py_err(py, Error::from_panic(&*panic))))
}

/// A native error, or one raised by Python code the core called (a callable, `__iter__`).
pub enum Failure {
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

impl Failure {
    pub fn into_py(self, py: Python<'_>) -> PyErr {
        match self {
            Failure::Native(e) => to_py_err(py, e),
            Failure::Python(e) => e,
        }
    }
}
