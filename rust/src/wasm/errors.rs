//! The core's [`ErrorKind`]s as the names of the error classes of `js/src/errors.ts`, set on
//! a JavaScript `Error` with the location fields (`path`, `index`, `line`, `column`,
//! `sourceId`, `ids`); `core.ts` rebuilds the typed error from them.

use std::sync::Mutex;

use wasm_bindgen::JsValue;

pub use crate::error::Input;
use crate::error::{Error, ErrorKind};

/// The class of `js/src/errors.ts` for a kind of native error (the core's names, as in
/// Python), or JavaScript's own `RangeError` / `Error`.
pub fn class_name(kind: ErrorKind, input: Input) -> &'static str {
    kind.class_name(input).unwrap_or(match kind {
        ErrorKind::InvalidArgument => "RangeError",
        _ => "Error",
    })
}

fn set(target: &JsValue, key: &str, value: JsValue) {
    // Setting a property on a fresh Error object cannot fail.
    let _ = js_sys::Reflect::set(target, &JsValue::from_str(key), &value);
}

fn opt_number(n: Option<u64>) -> JsValue {
    n.map_or(JsValue::NULL, |n| JsValue::from_f64(n as f64))
}

/// A native [`Error`] as a JavaScript `Error` named after its class, with its location.
pub fn to_js(err: Error, input: Input) -> JsValue {
    if err.kind == ErrorKind::InvalidArgument {
        // An argument outside its range: a JavaScript RangeError (Python's ValueError).
        return js_sys::RangeError::new(&err.to_string()).into();
    }
    let js = js_sys::Error::new(&err.to_string());
    js.set_name(class_name(err.kind, input));
    let value: JsValue = js.into();
    set(&value, "path", JsValue::from_str(&err.path()));
    set(&value, "index", opt_number(err.index.map(|i| i as u64)));
    set(&value, "line", opt_number(err.line));
    set(&value, "column", opt_number(err.column));
    set(
        &value,
        "sourceId",
        err.source_id
            .as_deref()
            .map_or(JsValue::NULL, JsValue::from_str),
    );
    let ids = js_sys::Array::new();
    for id in &err.ids {
        ids.push(&JsValue::from_str(id));
    }
    set(&value, "ids", ids.into());
    value
}

/// A wrong argument (its type or shape): a JavaScript `TypeError`.
pub fn type_error(message: &str) -> JsValue {
    js_sys::TypeError::new(message).into()
}

static PANIC_MESSAGE: Mutex<Option<String>> = Mutex::new(None);

/// Keep the message of a panic for [`take_panic_message`]: on this target a panic aborts
/// (the call traps), so the message is all that can be saved.
pub fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let what = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".to_owned());
        let at = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        if let Ok(mut slot) = PANIC_MESSAGE.lock() {
            *slot = Some(format!("{what}{at}"));
        }
    }));
}

/// The message of the last panic, once; the text of the `InternalError` the trap becomes.
pub fn take_panic_message() -> Option<String> {
    let what = PANIC_MESSAGE.lock().ok()?.take()?;
    Some(Error::from_panic(&what).to_string())
}
