//! The WebAssembly bindings of the `js/` package (feature `wasm`, built for
//! `wasm32-unknown-unknown` with wasm-bindgen): thin wrappers over the core, like
//! `rust/src/python` is for PyO3. [`errors`] maps each [`ErrorKind`](crate::ErrorKind) to the
//! name of a JavaScript error class; [`api`] holds the exported functions,
//! [`sync`] the sync engine (`SyncMachine`) that `js/src/driver.ts` drives.
//!
//! Values cross the boundary as text: JSON texts in (what an upload sends), and the results
//! of scans and diffs out as JSON text that `js/src/core.ts` parses — one copy each way and
//! no per-element calls, and nothing for JavaScript to free.
//!
//! A panic cannot be caught on `wasm32-unknown-unknown` (it aborts: the call traps with a
//! `WebAssembly.RuntimeError`). The panic hook installed at start-up keeps the panic's
//! message; `js/src/core.ts` turns the trap into an `InternalError` with that message
//! (`takePanicMessage`) and instantiates the module afresh, so nothing of the trap leaks.

mod api;
mod errors;
mod sync;
