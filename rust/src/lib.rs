//! Native core of phoenix-upsert.
//!
//! - [`canon`]: RFC 8785 canonical JSON and Phoenix's example `content_hash`;
//! - [`json`]: JSON values (text) into the [`tape`], after a fast path for the common case
//!   (`fast`) that gives up on anything unusual;
//! - [`number`]: how numbers are read from JSON text and written (one rule for every path);
//! - [`example`]: the example schema of a JSONL line (content, source id, splits, span id);
//! - [`jsonl`]: JSONL files scanned and hashed in parallel, on the ordered [`pool`];
//! - [`upload`]: upload bodies written from what was parsed, checked against the scan;
//! - [`storable`]: what a sync rejects because Phoenix cannot store it (numbers, U+0000),
//!   and what a source id means;
//! - [`manifest`]: the sync manifest's format and when it may be trusted or written;
//! - [`diff`] and [`node_id`]: Phoenix's example matching rules and its decoding of example
//!   node ids, run on the client;
//! - `python` (feature `python`): the `phoenix_upsert._native` extension module;
//! - `wasm` (feature `wasm`): the WebAssembly module of the `js/` package (wasm-bindgen).
//!
//! The pure-Rust parts build and test without Python (`cargo test`).

#![forbid(unsafe_op_in_unsafe_fn)]

pub mod canon;
pub mod diff;
pub mod error;
pub mod example;
mod fast;
pub mod json;
pub mod jsonl;
pub mod manifest;
pub mod memory;
pub mod node_id;
pub mod number;
pub mod plan;
pub mod pool;
pub mod storable;
pub mod strings;
pub mod sync;
pub mod tape;
pub mod upload;

#[cfg(feature = "python")]
mod python;
#[cfg(feature = "wasm")]
mod wasm;

/// Deepest nesting of arrays and objects accepted inside an example's `input`, `output` or
/// `metadata` (that object itself is level 1), and inside a value given to `canonicalize`.
///
/// Phoenix's server parses and canonicalizes with recursive Python code; 100 levels stay far
/// from its recursion limit, and serde_json's own limit (128) is never the one that bites.
pub const MAX_DEPTH: usize = 100;

pub use canon::{cmp_utf16, hash_hex, Canonicalizer};
pub use error::{Error, ErrorKind};

/// Canonical JSON of a JSON text (one value).
pub fn canonicalize_text(text: &str) -> Result<Vec<u8>, Error> {
    let mut tape = tape::Tape::new();
    let root = json::parse_value(text, &mut tape)?;
    let mut out = Vec::new();
    Canonicalizer::new().write(&tape, root, &mut out);
    Ok(out)
}
