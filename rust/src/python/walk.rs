//! Python objects → [`Tape`], under the GIL.
//!
//! Accepted, exactly as Phoenix's canonicalizer and a JSON upload agree on them: `dict` with
//! `str` keys, `list`, `tuple`, `str`, `int`, `float`, `bool`, `None` (subclasses included,
//! read by value: no user code runs during the walk). Anything else is an error naming the
//! path to the value. With `storable`, numbers Phoenix cannot store are errors too
//! ([`crate::storable`]; U+0000 in strings is found while hashing, see `scanning.rs`).
//! The fields of an example besides content (source id, splits, span id) are read here
//! from Python values and checked by the same core rules as a JSONL line's.

use std::os::raw::c_char;

use pyo3::exceptions::PyKeyError;
use pyo3::ffi;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{
    PyBool, PyDict, PyFloat, PyFrozenSet, PyInt, PyList, PySet, PyString, PyTuple, PyType,
};
use pyo3::Borrowed;

use crate::error::{Error, ErrorKind, Result};
use crate::example;
use crate::storable;
use crate::tape::Tape;
use crate::MAX_DEPTH;

unsafe extern "C" {
    // Exported by every CPython since 3.3 and part of the limited API from 3.10; declared here
    // so that the abi3 (3.9+) build reads a str's UTF-8 without copying it into a bytes object.
    #[link_name = "PyUnicode_AsUTF8AndSize"]
    fn unicode_as_utf8_and_size(
        unicode: *mut ffi::PyObject,
        size: *mut ffi::Py_ssize_t,
    ) -> *const c_char;
}

/// Borrow a Python str as UTF-8; `None` if it holds a lone surrogate.
pub fn utf8<'a>(s: &'a Bound<'_, PyString>) -> Option<&'a str> {
    let mut size: ffi::Py_ssize_t = 0;
    // SAFETY: `s` is a live str; the buffer it returns is owned by (cached on) that str and
    // lives as long as `s` is borrowed. A NULL return sets an exception, cleared below.
    let data = unsafe { unicode_as_utf8_and_size(s.as_ptr(), &mut size) };
    if data.is_null() {
        // SAFETY: clearing the pending exception while attached to the interpreter.
        drop(PyErr::take(s.py()));
        return None;
    }
    let len = usize::try_from(size).ok()?;
    // SAFETY: CPython guarantees `len` readable bytes at `data`, valid UTF-8 (its strict
    // encoder fails, returning NULL above, on the only str content that has no UTF-8: lone
    // surrogates).
    let bytes = unsafe { std::slice::from_raw_parts(data.cast::<u8>(), len) };
    debug_assert!(std::str::from_utf8(bytes).is_ok());
    // SAFETY: as above.
    Some(unsafe { std::str::from_utf8_unchecked(bytes) })
}

/// Describe where the lone surrogate is: its code point and index in the string.
fn lone_surrogate_error(s: &Bound<'_, PyString>, what: &str) -> Error {
    let detail = s
        .call_method1("encode", ("utf-16-le", "surrogatepass"))
        .ok()
        .and_then(|b| b.extract::<Vec<u8>>().ok())
        .and_then(|bytes| {
            let units: Vec<u16> = bytes
                .chunks_exact(2)
                .map(|c| u16::from_le_bytes([c[0], c[1]]))
                .collect();
            let mut index = 0usize;
            for r in char::decode_utf16(units.iter().copied()) {
                match r {
                    Ok(_) => index += 1,
                    Err(e) => {
                        return Some(format!(
                            " (U+{:04X} at index {index})",
                            e.unpaired_surrogate()
                        ))
                    }
                }
            }
            None
        })
        .unwrap_or_default();
    Error::new(
        ErrorKind::LoneSurrogate,
        format!("{what} contains a lone surrogate{detail}, which is not valid Unicode text"),
    )
}

fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type()
        .qualname()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "object".to_owned())
}

fn non_json(obj: &Bound<'_, PyAny>) -> Error {
    Error::new(
        ErrorKind::NonJsonType,
        format!(
            "{} is not a JSON type (use dict, list, tuple, str, int, float, bool or None)",
            type_name(obj)
        ),
    )
}

/// The exact decimal text of an int, via `int.__repr__` (an int subclass's own `__repr__`
/// or `__str__` is never called).
fn int_text(obj: &Bound<'_, PyAny>) -> Option<String> {
    let py = obj.py();
    let repr = py.get_type::<PyInt>().getattr("__repr__").ok()?;
    repr.call1((obj,)).ok()?.extract::<String>().ok()
}

/// Walks Python values into a tape.
pub struct Walker<'t> {
    pub tape: &'t mut Tape,
    /// Addresses of the containers being walked (for cycles), without a heap allocation.
    ancestors: [usize; MAX_DEPTH + 1],
    open: usize,
    /// Reject numbers Phoenix cannot store ([`storable::is_storable_double`]): it hashes
    /// them, but cannot store them or read them back.
    pub storable: bool,
}

impl<'t> Walker<'t> {
    pub fn new(tape: &'t mut Tape) -> Self {
        Walker {
            tape,
            ancestors: [0; MAX_DEPTH + 1],
            open: 0,
            storable: false,
        }
    }

    /// Walk `obj` as a value at nesting level `depth` (a container here is level `depth`).
    pub fn value(&mut self, obj: &Bound<'_, PyAny>, depth: usize) -> Result<usize> {
        let py = obj.py();
        // The exact built-in types first, by type pointer: a subclass check is a call into
        // the interpreter for each value under the stable ABI.
        // SAFETY: `obj` is a live object; only the addresses of the static types are taken.
        let (ty, str_type, dict_type, float_type) = unsafe {
            (
                ffi::Py_TYPE(obj.as_ptr()),
                std::ptr::addr_of_mut!(ffi::PyUnicode_Type),
                std::ptr::addr_of_mut!(ffi::PyDict_Type),
                std::ptr::addr_of_mut!(ffi::PyFloat_Type),
            )
        };
        if ty == str_type {
            // SAFETY: its type is exactly str.
            let s = unsafe { obj.cast_unchecked::<PyString>() };
            return match utf8(s) {
                Some(text) => self.tape.push_str(text),
                None => Err(lone_surrogate_error(s, "string")),
            };
        }
        if ty == dict_type {
            // SAFETY: its type is exactly dict.
            return self.dict(unsafe { obj.cast_unchecked::<PyDict>() }, depth);
        }
        if ty == float_type {
            return self.float(obj);
        }
        if let Ok(s) = obj.cast::<PyString>() {
            return match utf8(s) {
                Some(text) => self.tape.push_str(text),
                None => Err(lone_surrogate_error(s, "string")),
            };
        }
        if let Ok(d) = obj.cast::<PyDict>() {
            return self.dict(d, depth);
        }
        if let Ok(l) = obj.cast::<PyList>() {
            self.enter(obj, depth)?;
            let index = self.tape.begin_array()?;
            let mut len = 0;
            for i in 0..l.len() {
                // SAFETY: a live list, an index below its length (no code that could change
                // it runs during the walk): a borrowed reference, valid while the list is.
                let item = unsafe {
                    Borrowed::from_ptr_or_opt(py, ffi::PyList_GetItem(l.as_ptr(), i as isize))
                };
                let Some(item) = item else {
                    drop(PyErr::take(py));
                    break;
                };
                self.value(&item, depth + 1).map_err(|e| e.at_index(i))?;
                len += 1;
            }
            self.tape.end_array(index, len)?;
            self.open -= 1;
            return Ok(index);
        }
        if let Ok(t) = obj.cast::<PyTuple>() {
            self.enter(obj, depth)?;
            let index = self.tape.begin_array()?;
            let mut len = 0;
            for (i, item) in t.iter_borrowed().enumerate() {
                self.value(&item, depth + 1).map_err(|e| e.at_index(i))?;
                len += 1;
            }
            self.tape.end_array(index, len)?;
            self.open -= 1;
            return Ok(index);
        }
        if let Ok(b) = obj.cast::<PyBool>() {
            return self.tape.push_bool(b.is_true());
        }
        if obj.is_instance_of::<PyInt>() {
            return self.int(obj);
        }
        if obj.is_instance_of::<PyFloat>() {
            return self.float(obj);
        }
        if obj.is_none() {
            return self.tape.push_null();
        }
        Err(non_json(obj))
    }

    fn float(&mut self, obj: &Bound<'_, PyAny>) -> Result<usize> {
        // SAFETY: `obj` is a float (or subclass): reads its value, calls no user code.
        let f = unsafe { ffi::PyFloat_AsDouble(obj.as_ptr()) };
        if !f.is_finite() {
            let what = if f.is_nan() {
                "NaN"
            } else if f > 0.0 {
                "Infinity"
            } else {
                "-Infinity"
            };
            return Err(Error::new(
                ErrorKind::NonFiniteNumber,
                format!("{what} is not a JSON number"),
            ));
        }
        if self.storable && !storable::is_storable_double(f) {
            return Err(storable::not_storable());
        }
        self.tape.push_f64(f)
    }

    fn int(&mut self, obj: &Bound<'_, PyAny>) -> Result<usize> {
        let py = obj.py();
        let mut overflow: std::os::raw::c_int = 0;
        // SAFETY: `obj` is an int (or subclass); on error -1 is returned with an exception set.
        let v = unsafe { ffi::PyLong_AsLongLongAndOverflow(obj.as_ptr(), &mut overflow) };
        if overflow == 0 {
            if v == -1 && PyErr::take(py).is_some() {
                return Err(non_json(obj));
            }
            return self.tape.push_i64(v);
        }
        // SAFETY: as above; an OverflowError is cleared below.
        let u = unsafe { ffi::PyLong_AsUnsignedLongLong(obj.as_ptr()) };
        if PyErr::take(py).is_none() {
            return self.tape.push_u64(u);
        }
        // SAFETY: as above; an OverflowError means the int does not fit a double.
        let f = unsafe { ffi::PyLong_AsDouble(obj.as_ptr()) };
        if PyErr::take(py).is_some() || !f.is_finite() {
            return Err(Error::new(
                ErrorKind::NumberOutOfRange,
                "int too large to convert to a double (Phoenix hashes every number as a double)",
            ));
        }
        if self.storable {
            return Err(storable::not_storable());
        }
        match int_text(obj) {
            Some(text) => self.tape.push_big_int(f, &text),
            None => Err(non_json(obj)),
        }
    }

    fn enter(&mut self, obj: &Bound<'_, PyAny>, depth: usize) -> Result<()> {
        let id = obj.as_ptr() as usize;
        if self.ancestors[..self.open].contains(&id) {
            return Err(Error::new(
                ErrorKind::CircularReference,
                format!(
                    "circular reference: this {} contains itself",
                    type_name(obj)
                ),
            ));
        }
        if depth > MAX_DEPTH || self.open >= self.ancestors.len() {
            return Err(Error::new(
                ErrorKind::NestingTooDeep,
                format!("arrays and objects nest deeper than {MAX_DEPTH} levels"),
            ));
        }
        self.ancestors[self.open] = id;
        self.open += 1;
        Ok(())
    }

    fn dict(&mut self, d: &Bound<'_, PyDict>, depth: usize) -> Result<usize> {
        self.enter(d.as_any(), depth)?;
        let py = d.py();
        let index = self.tape.begin_object()?;
        let mut len = 0;
        let mut pos: ffi::Py_ssize_t = 0;
        let mut key_ptr: *mut ffi::PyObject = std::ptr::null_mut();
        let mut value_ptr: *mut ffi::PyObject = std::ptr::null_mut();
        // SAFETY: PyDict_Next over a live dict, which no code changes while it is walked.
        while unsafe { ffi::PyDict_Next(d.as_ptr(), &mut pos, &mut key_ptr, &mut value_ptr) } != 0 {
            // SAFETY: PyDict_Next returned borrowed, non-NULL references. The key is owned
            // here: on the way out of an error, user code may have run (a key's `__repr__`, a
            // str subclass's `encode`) and emptied this dict, and the error still names the
            // key (its text is borrowed from it). The value is borrowed: a successful walk
            // runs no user code, and nothing reads the value after its walk failed.
            let key = unsafe { Bound::from_borrowed_ptr(py, key_ptr) };
            // SAFETY: as above.
            let value = unsafe { Borrowed::from_ptr(py, value_ptr) };
            let Ok(key_str) = key.cast::<PyString>() else {
                let shown = key
                    .repr()
                    .map(|r| r.to_string())
                    .unwrap_or_else(|_| type_name(&key));
                return Err(Error::new(
                    ErrorKind::NonStringKey,
                    format!(
                        "dict key {shown} ({}) is not a str; JSON object keys are strings",
                        type_name(&key)
                    ),
                ));
            };
            let Some(key_text) = utf8(key_str) else {
                return Err(lone_surrogate_error(key_str, "key"));
            };
            self.tape.push_str(key_text)?;
            self.value(&value, depth + 1)
                .map_err(|e| e.at_key(key_text))?;
            len += 1;
        }
        self.tape.end_object(index, len)?;
        self.open -= 1;
        Ok(index)
    }

    /// Walk an object that must be a dict (input/output/metadata), named `name` in errors.
    pub fn object(&mut self, obj: &Bound<'_, PyAny>, name: &str) -> Result<usize> {
        match obj.cast::<PyDict>() {
            Ok(d) => self.dict(d, 1).map_err(|e| e.at_key(name)),
            Err(_) => Err(Error::new(
                ErrorKind::InvalidExample,
                format!("must be a dict (a JSON object), got {}", type_name(obj)),
            )
            .at_key(name)),
        }
    }
}

pub use crate::example::Roots as ExampleRoots;

static MAPPING: PyOnceLock<Py<PyType>> = PyOnceLock::new();

/// Is `obj` a `collections.abc.Mapping`?
pub fn is_mapping(obj: &Bound<'_, PyAny>) -> bool {
    if obj.is_instance_of::<PyDict>() {
        return true;
    }
    MAPPING
        .import(obj.py(), "collections.abc", "Mapping")
        .and_then(|m| obj.is_instance(m))
        .unwrap_or(false)
}

fn not_a_mapping(obj: &Bound<'_, PyAny>) -> Error {
    Error::new(
        ErrorKind::InvalidExample,
        format!(
            "an example must be a mapping with \"input\" and \"output\", got {}",
            type_name(obj)
        ),
    )
}

/// Look up `key` in a mapping: `Ok(None)` if absent.
fn lookup<'py>(
    obj: &Bound<'py, PyAny>,
    key: &Bound<'py, PyString>,
) -> Result<Option<Bound<'py, PyAny>>> {
    if let Ok(d) = obj.cast::<PyDict>() {
        return d.get_item(key).map_err(|e| {
            Error::new(
                ErrorKind::InvalidExample,
                format!("reading {key:?} failed: {e}"),
            )
        });
    }
    match obj.get_item(key) {
        Ok(v) => Ok(Some(v)),
        Err(e) if e.is_instance_of::<PyKeyError>(obj.py()) => Ok(None),
        Err(e) => Err(Error::new(
            ErrorKind::InvalidExample,
            format!("reading {key:?} failed: {e}"),
        )),
    }
}

impl Walker<'_> {
    /// Walk one example: a mapping with dict `input` and `output` and an optional dict
    /// `metadata` (absent means `{}`).
    pub fn example(&mut self, obj: &Bound<'_, PyAny>) -> Result<ExampleRoots> {
        if !is_mapping(obj) {
            return Err(not_a_mapping(obj));
        }
        let py = obj.py();
        let mut roots = [0usize; 2];
        let keys = [intern!(py, "input"), intern!(py, "output")];
        for ((slot, key), name) in roots.iter_mut().zip(keys).zip(["input", "output"]) {
            let Some(v) = lookup(obj, key)? else {
                return Err(Error::new(
                    ErrorKind::InvalidExample,
                    format!("missing required key \"{name}\""),
                ));
            };
            *slot = self.object(&v, name)?;
        }
        let metadata = match lookup(obj, intern!(py, "metadata"))? {
            Some(v) => Some(self.object(&v, "metadata")?),
            None => None,
        };
        Ok(ExampleRoots {
            input: roots[0],
            output: roots[1],
            metadata,
        })
    }
}

/// The source id a Python value stands for, by the rule every source follows (see
/// [`crate::example::source_id_of_json`] for JSON text): a `str` as it is, an `int` (not a
/// `bool`) as its decimal text (`int.__repr__`, so a subclass's own `__str__` is not used);
/// anything else, an empty str, a lone surrogate or U+0000 is an error.
pub fn source_id_of_py(obj: &Bound<'_, PyAny>) -> Result<String> {
    if let Ok(s) = obj.cast::<PyString>() {
        let Some(text) = utf8(s) else {
            return Err(Error::new(
                ErrorKind::InvalidSourceId,
                "the source id holds a lone surrogate, which is not valid Unicode text",
            ));
        };
        storable::check_source_id(text)?;
        return Ok(text.to_owned());
    }
    if obj.is_instance_of::<PyInt>() && !obj.is_instance_of::<PyBool>() {
        return match int_text(obj) {
            Some(text) => storable::integer_id(&text),
            // int.__repr__ refuses ints beyond Python's digit limit.
            None => Err(Error::new(
                ErrorKind::InvalidSourceId,
                format!(
                    "the source id is an integer of more than {} digits, which Python cannot \
                     write as text",
                    storable::MAX_ID_DIGITS
                ),
            )),
        };
    }
    Err(Error::new(
        ErrorKind::InvalidSourceId,
        format!(
            "the source id must be a str or an int, got {}",
            type_name(obj)
        ),
    ))
}

/// Where an example's source id comes from.
pub enum IdFrom<'a, 'py> {
    /// The source has no ids.
    Nothing,
    /// The value under this key of the example.
    Key(&'a Bound<'py, PyString>),
    /// A value computed by the caller (a Python callable's result).
    Value(Bound<'py, PyAny>),
}

/// The keys of the fields besides content that a source names.
#[derive(Default)]
pub struct FieldKeys<'py> {
    pub splits: Option<Bound<'py, PyString>>,
    pub span_id: Option<Bound<'py, PyString>>,
}

/// The fields of one example besides its content, read by the core's rules
/// ([`crate::example`], [`crate::storable`]): the same as for a JSONL line.
#[derive(Default)]
pub struct ExampleFields {
    pub id: Option<String>,
    /// `None`: the example has no splits key.
    pub splits: Option<Vec<String>>,
    pub span_id: Option<String>,
}

/// A str field's text, or a lone-surrogate error.
fn text_of<'a>(s: &'a Bound<'_, PyString>, what: &str) -> Result<&'a str> {
    utf8(s).ok_or_else(|| lone_surrogate_error(s, what))
}

/// Read the source id, split names and span id of `obj` (a mapping). With `storable` (a
/// sync's source), an example without a source id is an error when the source has ids, and
/// U+0000 in a split name or span id is one.
pub fn example_fields(
    obj: &Bound<'_, PyAny>,
    id: IdFrom<'_, '_>,
    keys: &FieldKeys<'_>,
    storable: bool,
) -> Result<ExampleFields> {
    if !is_mapping(obj) {
        return Err(not_a_mapping(obj));
    }
    let mut out = ExampleFields::default();
    let raw_id = match id {
        IdFrom::Nothing => None,
        IdFrom::Key(key) => Some(lookup(obj, key)?),
        IdFrom::Value(v) => Some(Some(v)),
    };
    if let Some(raw) = raw_id {
        match raw {
            Some(v) if !v.is_none() => out.id = Some(source_id_of_py(&v)?),
            _ if storable => return Err(example::missing_source_id()),
            _ => {}
        }
    }
    let named = |e: Error| e.with_source_id(out.id.as_deref());
    if let Some(key) = &keys.splits {
        let name = key.to_string();
        if let Some(v) = lookup(obj, key).map_err(named)? {
            out.splits = Some(py_splits(&v, storable).map_err(|e| named(e.at_key(&name)))?);
        }
    }
    if let Some(key) = &keys.span_id {
        let name = key.to_string();
        if let Some(v) = lookup(obj, key).map_err(named)? {
            out.span_id = py_span_id(&v, storable).map_err(|e| named(e.at_key(&name)))?;
        }
    }
    Ok(out)
}

/// Split names from a Python value: a str, a list, tuple, set or frozenset of str (or
/// None, skipped), or None; normalized by [`example::normalize_splits`].
fn py_splits(v: &Bound<'_, PyAny>, storable: bool) -> Result<Vec<String>> {
    const WHAT: &str = "a split name";
    let name = |s: &Bound<'_, PyString>| -> Result<String> {
        let t = text_of(s, WHAT)?;
        if storable {
            storable::check_name(t, WHAT)?;
        }
        Ok(t.to_owned())
    };
    if v.is_none() {
        return Ok(Vec::new());
    }
    if let Ok(s) = v.cast::<PyString>() {
        return Ok(example::normalize_splits([name(s)?]));
    }
    let is_collection = v.is_instance_of::<PyList>()
        || v.is_instance_of::<PyTuple>()
        || v.is_instance_of::<PySet>()
        || v.is_instance_of::<PyFrozenSet>();
    if !is_collection {
        return Err(Error::new(
            ErrorKind::InvalidExample,
            format!(
                "splits must be a str, a list of str or None, got {}",
                type_name(v)
            ),
        ));
    }
    let mut names = Vec::new();
    let items = v.try_iter().map_err(|e| {
        Error::new(
            ErrorKind::InvalidExample,
            format!("reading the split names failed: {e}"),
        )
    })?;
    for (k, item) in items.enumerate() {
        let item = item.map_err(|e| {
            Error::new(
                ErrorKind::InvalidExample,
                format!("reading the split names failed: {e}"),
            )
        })?;
        if item.is_none() {
            continue;
        }
        let Ok(s) = item.cast::<PyString>() else {
            return Err(Error::new(
                ErrorKind::InvalidExample,
                format!("split names must be str, got {}", type_name(&item)),
            )
            .at_index(k));
        };
        names.push(name(s).map_err(|e| e.at_index(k))?);
    }
    Ok(example::normalize_splits(names))
}

/// A span id from a Python value: a str ([`example::span_id`]) or None.
fn py_span_id(v: &Bound<'_, PyAny>, storable: bool) -> Result<Option<String>> {
    const WHAT: &str = "the span id";
    if v.is_none() {
        return Ok(None);
    }
    let Ok(s) = v.cast::<PyString>() else {
        return Err(Error::new(
            ErrorKind::InvalidExample,
            format!("{WHAT} must be a str or None, got {}", type_name(v)),
        ));
    };
    let t = text_of(s, WHAT)?;
    if storable {
        storable::check_name(t, WHAT)?;
    }
    Ok(example::span_id(t))
}
