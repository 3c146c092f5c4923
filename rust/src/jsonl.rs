//! Streaming, parallel hashing of JSONL.
//!
//! The calling thread reads the input in blocks and cuts them at the last newline; each
//! chunk of whole lines is a job of the ordered [`Pool`], which parses, canonicalizes and
//! hashes its lines with buffers of its own. At most a few chunks are in flight, so memory
//! stays bounded whatever the size of the file; results come back in file order.
//!
//! Lines are separated by `\n` (a trailing `\r` is whitespace). Blank lines are skipped.
//! A UTF-8 byte order mark at the start of the input is skipped.

use std::io::Read;
use std::sync::Arc;

use crate::canon::Canonicalizer;
use crate::error::{Error, ErrorKind, Result};
pub use crate::example::ScanResult;
use crate::example::{missing_source_id, parse_line_with, LineKeys};
use crate::pool::Pool;
use crate::storable;
use crate::tape::Tape;

/// Options of a scan.
#[derive(Debug, Clone)]
pub struct ScanOptions {
    pub keys: LineKeys,
    /// Longest line accepted, in bytes (without its newline).
    pub max_line_bytes: usize,
    /// Keep line numbers, byte offsets and lengths of the lines (for reading them again).
    pub keep_positions: bool,
    /// Bytes read per block; a chunk holds the whole lines of one or more blocks.
    pub block_bytes: usize,
    /// Read the input as a sync's source: reject what Phoenix cannot store
    /// ([`crate::storable`]), and with an id key, require a source id on every example and
    /// no id twice.
    pub storable: bool,
    /// Write each example's canonical JSON into [`ScanResult::canonical`] instead of hashing
    /// it (for a caller with a faster SHA-256 of its own: Node's, for the wasm build).
    pub canonical: bool,
}

/// Default longest line: 64 MiB.
pub const DEFAULT_MAX_LINE_BYTES: usize = 64 << 20;

impl Default for ScanOptions {
    fn default() -> Self {
        ScanOptions {
            keys: LineKeys::default(),
            max_line_bytes: DEFAULT_MAX_LINE_BYTES,
            keep_positions: false,
            block_bytes: 1 << 20,
            storable: false,
            canonical: false,
        }
    }
}

/// Parses and hashes lines, reusing its buffers.
pub struct LineHasher {
    tape: Tape,
    canon: Canonicalizer,
    buf: Vec<u8>,
}

impl Default for LineHasher {
    fn default() -> Self {
        Self::new()
    }
}

impl LineHasher {
    pub fn new() -> Self {
        LineHasher {
            tape: Tape::new(),
            canon: Canonicalizer::new(),
            buf: Vec::new(),
        }
    }

    fn hash_line(&mut self, line: &[u8], opts: &ScanOptions, out: &mut ScanResult) -> Result<()> {
        let text = simdutf8::compat::from_utf8(line).map_err(|e| {
            Error::new(ErrorKind::InvalidUtf8, "line is not valid UTF-8")
                .with_column(e.valid_up_to() as u64 + 1)
        })?;
        self.tape.clear();
        let fields = parse_line_with(text, &opts.keys, opts.storable, &mut self.tape)?;
        let (Some(input), Some(output)) = (fields.input, fields.output) else {
            return Err(Error::new(
                ErrorKind::InvalidExample,
                "missing input or output",
            ));
        };
        let hash = if opts.canonical {
            self.canon.write_example(
                &self.tape,
                input,
                output,
                fields.metadata,
                &mut out.canonical,
            );
            if self.canon.take_nul() && opts.storable {
                return Err(self.nul_error(input, output, fields.metadata, &fields.id));
            }
            None
        } else {
            let hash =
                self.canon
                    .example_hash(&self.tape, input, output, fields.metadata, &mut self.buf);
            // U+0000 can only come from a `\u0000` escape, and escaped strings are scanned
            // for escapes while hashing anyway: the canonicalizer notes it, for free.
            if self.canon.take_nul() && opts.storable {
                return Err(self.nul_error(input, output, fields.metadata, &fields.id));
            }
            Some(hash)
        };
        if opts.storable && opts.keys.id.is_some() && fields.id.is_none() {
            return Err(missing_source_id());
        }
        match hash {
            Some(hash) => out.hashes.push(hash),
            None => out.canonical_ends.push(out.canonical.len() as u64),
        }
        if opts.keys.id.is_some() {
            out.ids.push(fields.id.as_deref());
        }
        if opts.keys.node_id.is_some() {
            out.node_ids.push(fields.node_id.as_deref());
        }
        if opts.keys.span_id.is_some() {
            out.span_ids.push(fields.span_id.as_deref());
        }
        if opts.keys.splits.is_some() {
            out.splits.push(fields.splits.map(|v| {
                v.into_iter()
                    .map(String::into_boxed_str)
                    .collect::<Vec<_>>()
                    .into_boxed_slice()
            }));
        }
        Ok(())
    }
}

impl LineHasher {
    fn nul_error(
        &self,
        input: usize,
        output: usize,
        metadata: Option<usize>,
        id: &Option<String>,
    ) -> Error {
        storable::find_nul_in_example(&self.tape, input, output, metadata)
            .unwrap_or_else(storable::nul_in_string)
            .with_source_id(id.as_deref())
    }
}

fn is_blank(line: &[u8]) -> bool {
    line.iter().all(|b| matches!(b, b' ' | b'\t' | b'\r'))
}

/// Hash every line of one chunk. `offset` is the chunk's byte offset in the input and
/// `first_line` the number of its first line.
pub fn scan_chunk(
    chunk: &[u8],
    offset: u64,
    first_line: u64,
    opts: &ScanOptions,
    hasher: &mut LineHasher,
) -> Result<ScanResult> {
    let mut out = ScanResult::default();
    let mut line_no = first_line;
    let mut start = 0usize;
    while start < chunk.len() {
        let end = memchr::memchr(b'\n', &chunk[start..]).map_or(chunk.len(), |p| start + p);
        let mut line = &chunk[start..end];
        if let [rest @ .., b'\r'] = line {
            line = rest;
        }
        if !is_blank(line) {
            if line.len() > opts.max_line_bytes {
                return Err(line_too_long(opts.max_line_bytes).with_line(line_no));
            }
            hasher
                .hash_line(line, opts, &mut out)
                .map_err(|e| e.with_line(line_no))?;
            if opts.keep_positions {
                out.line_numbers.push(line_no);
                out.offsets.push(offset + start as u64);
                out.lengths.push(line.len() as u64);
            }
        }
        line_no += 1;
        start = end + 1;
    }
    Ok(out)
}

fn line_too_long(max: usize) -> Error {
    Error::new(
        ErrorKind::LineTooLong,
        format!("line is longer than the maximum of {max} bytes"),
    )
}

/// Why a scan stopped early on the caller's request.
pub struct Cancelled;

/// Scan JSONL from `reader`. `keep_going` is asked before each block is read, with the
/// number of bytes read so far (and once more at the end); when it says no, the scan stops
/// and returns `Ok(Err(Cancelled))`.
pub fn scan_reader<R: Read>(
    mut reader: R,
    opts: &ScanOptions,
    mut keep_going: impl FnMut(u64) -> bool,
) -> Result<std::result::Result<ScanResult, Cancelled>> {
    if opts.block_bytes == 0 || opts.max_line_bytes == 0 {
        return Err(Error::new(
            ErrorKind::InvalidArgument,
            "sizes must be positive",
        ));
    }
    let opts = Arc::new(opts.clone());
    let mut pool: Pool<ScanResult> = Pool::new();

    let mut pending: Vec<u8> = Vec::new();
    let mut pending_offset = 0u64; // input offset of pending[0]
    let mut pending_line = 1u64; // line number of pending[0]
    let mut scanned = 0usize; // bytes of `pending` known to hold no newline
    let mut first_block = true;
    let mut eof = false;
    let mut failure: Option<Error> = None;
    let mut cancelled = false;
    let mut bytes_read = 0u64;

    while !eof {
        if !keep_going(bytes_read) {
            cancelled = true;
            break;
        }
        // Read one block onto the end of `pending` (without zeroing it first): fewer bytes
        // than a block only at the end of the input.
        let want = opts.block_bytes as u64;
        match (&mut reader).take(want).read_to_end(&mut pending) {
            Ok(n) => {
                bytes_read += n as u64;
                eof = (n as u64) < want;
            }
            Err(e) => {
                failure = Some(Error::new(ErrorKind::Io, e.to_string()));
                eof = true;
            }
        }
        if failure.is_some() {
            break;
        }
        if first_block {
            // A byte order mark is three bytes at the very start: decide once they are in
            // (a read may deliver fewer), or when the first line or the input ends sooner.
            if pending.len() < 3 && !eof && !pending.contains(&b'\n') {
                continue;
            }
            first_block = false;
            if pending.starts_with(b"\xEF\xBB\xBF") {
                pending.drain(..3);
                pending_offset = 3;
                scanned = scanned.saturating_sub(3);
            }
        }
        // Cut at the last newline; keep the partial line for the next round.
        let cut = if eof {
            Some(pending.len())
        } else {
            pending
                .get(scanned..)
                .and_then(|rest| memchr::memrchr(b'\n', rest))
                .map(|p| scanned + p + 1)
        };
        let Some(cut) = cut else {
            scanned = pending.len();
            if pending.len() > opts.max_line_bytes {
                failure = Some(line_too_long(opts.max_line_bytes).with_line(pending_line));
                break;
            }
            continue;
        };
        let rest = pending.split_off(cut);
        let chunk = std::mem::replace(&mut pending, rest);
        scanned = 0;
        let lines_in_chunk = memchr::memchr_iter(b'\n', &chunk).count() as u64;
        let (offset, first_line) = (pending_offset, pending_line);
        pending_offset += chunk.len() as u64;
        pending_line += lines_in_chunk;
        if chunk.is_empty() {
            continue;
        }

        // Stop reading once a chunk failed: no later line can be the first bad one.
        pool.make_room();
        if pool.failed() {
            break;
        }
        let opts = Arc::clone(&opts);
        pool.submit(move || scan_chunk(&chunk, offset, first_line, &opts, &mut LineHasher::new()));
    }

    // The first bad line of the input wins: a failed chunk comes before the place where
    // reading stopped (a read error, a line too long).
    if failure.is_none() && !cancelled && !keep_going(bytes_read) {
        cancelled = true;
    }
    let release = bytes_read >= crate::memory::RELEASE_AFTER_BYTES;
    let result = ScanResult::concat(pool.finish()?, release);
    if let Some(e) = failure {
        return Err(e);
    }
    if opts.storable && opts.keys.id.is_some() {
        result.check_unique_ids()?;
    }
    if cancelled {
        return Ok(Err(Cancelled));
    }
    Ok(Ok(result))
}

/// Lines given as separate slices (the examples of a JSON answer) read as one JSONL text —
/// each slice, then a newline — without joining them into a copy.
pub struct Lines<'a, I> {
    parts: I,
    current: &'a [u8],
    newline: bool,
}

impl<'a, I: Iterator<Item = &'a [u8]>> Lines<'a, I> {
    pub fn new(parts: I) -> Self {
        Lines {
            parts,
            current: &[],
            newline: false,
        }
    }
}

impl<'a, I: Iterator<Item = &'a [u8]>> Read for Lines<'a, I> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let mut n = 0;
        while n < buf.len() {
            if !self.current.is_empty() {
                let k = self.current.len().min(buf.len() - n);
                buf[n..n + k].copy_from_slice(&self.current[..k]);
                self.current = &self.current[k..];
                n += k;
            } else if self.newline {
                buf[n] = b'\n';
                n += 1;
                self.newline = false;
            } else if let Some(part) = self.parts.next() {
                self.current = part;
                self.newline = true;
            } else {
                break;
            }
        }
        Ok(n)
    }
}

/// Scan in-memory JSONL (e.g. a server's export).
pub fn scan_bytes(data: &[u8], opts: &ScanOptions) -> Result<ScanResult> {
    scan_all(data, opts)
}

/// Scan all of `reader`'s JSONL (never cancelled).
pub fn scan_all<R: Read>(reader: R, opts: &ScanOptions) -> Result<ScanResult> {
    match scan_reader(reader, opts, |_| true)? {
        Ok(r) => Ok(r),
        Err(Cancelled) => Err(Error::new(ErrorKind::Io, "cancelled")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts() -> ScanOptions {
        ScanOptions {
            keys: LineKeys {
                id: Some("id".into()),
                ..Default::default()
            },
            keep_positions: true,
            block_bytes: 7, // tiny blocks: lines straddle block boundaries
            ..Default::default()
        }
    }

    #[test]
    fn lines_read_as_one_text() {
        let parts: [&[u8]; 3] = [b"{\"a\":1}", b"[2]", b"\"three\""];
        for size in [1, 2, 5, 64] {
            let mut lines = Lines::new(parts.iter().copied());
            let (mut out, mut buf) = (Vec::new(), vec![0; size]);
            loop {
                let n = lines.read(&mut buf).unwrap();
                if n == 0 {
                    break;
                }
                out.extend_from_slice(&buf[..n]);
            }
            assert_eq!(out, b"{\"a\":1}\n[2]\n\"three\"\n");
        }
    }

    #[test]
    fn positions_ids_and_order_survive_chunking() {
        let mut data = Vec::new();
        data.extend_from_slice(b"\xEF\xBB\xBF");
        let mut expected_offsets = Vec::new();
        for i in 0..200 {
            if i % 7 == 3 {
                data.extend_from_slice(b"  \r\n");
            }
            expected_offsets.push(data.len() as u64);
            data.extend_from_slice(
                format!("{{\"id\":\"q{i}\",\"input\":{{\"i\":{i}}},\"output\":{{}}}}\r\n")
                    .as_bytes(),
            );
        }
        let r = scan_bytes(&data, &opts()).unwrap();
        assert_eq!(r.len(), 200);
        assert_eq!(r.ids.get(150), Some("q150"));
        assert_eq!(r.offsets, expected_offsets);
        let i = 10;
        let (o, l) = (r.offsets[i] as usize, r.lengths[i] as usize);
        assert!(data[o..o + l].starts_with(b"{\"id\":\"q10\""));
        assert_eq!(r.line_numbers[0], 1);
        assert_eq!(r.line_numbers[4], 6); // one blank line before the fourth example
    }

    #[test]
    fn first_bad_line_is_reported() {
        let mut data = Vec::new();
        for i in 0..100 {
            if i == 40 || i == 80 {
                data.extend_from_slice(b"{\"input\": {}, \"output\": oops}\n");
            } else {
                data.extend_from_slice(b"{\"input\": {}, \"output\": {}}\n");
            }
        }
        let e = scan_bytes(&data, &opts()).unwrap_err();
        assert_eq!(e.line, Some(41));
        assert_eq!(e.kind, ErrorKind::JsonSyntax);
    }

    #[test]
    fn long_lines_and_bad_utf8_are_errors() {
        let mut o = opts();
        o.max_line_bytes = 20;
        let e = scan_bytes(b"{\"input\": {}, \"output\": {\"a\": 1234567}}\n", &o).unwrap_err();
        assert_eq!(e.kind, ErrorKind::LineTooLong);
        assert_eq!(e.line, Some(1));
        let e = scan_bytes(
            b"{\"input\": {}, \"output\": {}}\n{\"input\": {\"a\": \"\xff\"}}",
            &opts(),
        )
        .unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidUtf8);
        assert_eq!(e.line, Some(2));
        assert_eq!(e.column, Some(18));
    }

    #[test]
    fn byte_order_mark_split_across_tiny_reads() {
        // Found by cargo fuzz: a first read shorter than the mark, then the mark's rest.
        let mut o = opts();
        for block in 1..5 {
            o.block_bytes = block;
            let r = scan_bytes(b"\xEF\xBB\xBF{\"input\":{},\"output\":{}}\n", &o).unwrap();
            assert_eq!(r.offsets, vec![3], "block {block}");
            // A mark that is not at the very start is not skipped (it is then invalid JSON).
            let e = scan_bytes(b"\n\xEF\xBB\xBF{\"input\":{},\"output\":{}}\n", &o).unwrap_err();
            assert_eq!(e.line, Some(2), "block {block}");
        }
    }

    #[test]
    fn nul_in_content_is_found_when_syncing() {
        let mut o = opts();
        o.storable = true;
        let data = concat!(
            "{\"id\": \"a\", \"input\": {\"q\": \"fine\"}, \"output\": {}}\n",
            "{\"input\": {\"t\": [\"x\", {\"k\": \"nul \\u0000 here\"}]}, \"output\": {}, \"id\": \"b\"}\n",
            "{\"id\": \"c\", \"input\": {}, \"output\": {\"a\": 1e30}}\n",
        );
        let e = scan_bytes(data.as_bytes(), &o).unwrap_err();
        assert_eq!(e.kind, ErrorKind::NullCharacter);
        assert_eq!(e.line, Some(2));
        assert_eq!(e.path(), "input.t[1].k");
        assert_eq!(e.source_id.as_deref(), Some("b"));
        assert_eq!(
            e.to_string(),
            "line 2 (id 'b'), input.t[1].k: string holds U+0000 (NUL), which PostgreSQL \
             cannot store (Phoenix answers HTTP 500); remove it"
        );
        // In a key: the path names the object holding it.
        let e = scan_bytes(
            b"{\"input\": {}, \"output\": {}, \"metadata\": {\"m\": {\"a\\u0000\": 1}}}",
            &o,
        )
        .unwrap_err();
        assert_eq!(e.path(), "metadata.m");
        assert!(e.message.starts_with(r#"key "a\u0000" holds"#), "{e}");
        // Hashing alone takes it (Phoenix hashes it); so does a sync if a later duplicate
        // key overrides it (Python's json keeps the last, so it is never sent).
        assert_eq!(scan_bytes(data.as_bytes(), &opts()).unwrap().len(), 3);
        let r = scan_bytes(
            b"{\"id\": \"z\", \"input\": {\"a\": \"\\u0000\", \"a\": 1}, \"output\": {}}",
            &o,
        );
        assert_eq!(r.unwrap().len(), 1);
    }

    #[test]
    fn empty_input_is_empty() {
        assert!(scan_bytes(b"", &opts()).unwrap().is_empty());
        assert!(scan_bytes(b"\n\n \n", &opts()).unwrap().is_empty());
    }
}
