//! Upload bodies, written by the core from what it parsed: the parts (`input`, `output`,
//! `metadata`) of chosen examples as JSON, the original key order kept, each example
//! checked first to hash as it did when the source was scanned — so that what is sent is,
//! byte for byte, the content that was hashed and planned, or nothing is (an error stops
//! the upload half-sent, and the server rejects the truncated body as a whole).
//!
//! Work is cut into batches run on the ordered [`Pool`]: memory stays bounded by the
//! batches in flight, whatever the number of examples.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::canon::{write_upload_json, Canonicalizer};
use crate::error::{Error, ErrorKind, Result};
use crate::example::{parse_line, LineKeys, Roots};
use crate::pool::Pool;
use crate::tape::Tape;

/// Examples per batch (one job of the pool).
pub const BATCH: usize = 256;

/// Which part of an example to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    Input,
    Output,
    Metadata,
}

impl Part {
    pub fn from_index(part: usize) -> Option<Part> {
        [Part::Input, Part::Output, Part::Metadata]
            .get(part)
            .copied()
    }
}

/// Write one part of an example (metadata absent: `{}`).
pub fn write_part(tape: &Tape, roots: Roots, part: Part, out: &mut Vec<u8>) {
    match (part, roots.metadata) {
        (Part::Input, _) => write_upload_json(tape, roots.input, out),
        (Part::Output, _) => write_upload_json(tape, roots.output, out),
        (Part::Metadata, Some(m)) => write_upload_json(tape, m, out),
        (Part::Metadata, None) => out.extend_from_slice(b"{}"),
    }
}

/// The parts written for a batch: one JSON text per example, back to back.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Written {
    pub bytes: Vec<u8>,
    /// End of each example's text in `bytes`.
    pub ends: Vec<usize>,
}

impl Written {
    /// Each example's JSON text, in order.
    pub fn texts(&self) -> impl Iterator<Item = &[u8]> {
        let starts = std::iter::once(0).chain(self.ends.iter().copied());
        starts.zip(&self.ends).map(|(a, &b)| &self.bytes[a..b])
    }
}

/// Examples of one batch in a tape, with the hashes they had when scanned.
pub struct Batch {
    pub tape: Tape,
    /// (index in the source, roots, hash when scanned).
    pub examples: Vec<(usize, Roots, [u8; 16])>,
}

impl Batch {
    /// Check every example of the batch, then write `part` of each. An example that no
    /// longer hashes as scanned is [`ErrorKind::SourceChanged`], with `changed` as its
    /// message and the example's index.
    pub fn write(&self, part: Part, changed: &str) -> Result<Written> {
        let mut canon = Canonicalizer::new();
        let mut buf = Vec::new();
        let mut out = Written {
            bytes: Vec::with_capacity(self.tape.text_len() + 16 * self.examples.len()),
            ends: Vec::with_capacity(self.examples.len()),
        };
        for &(index, roots, hash) in &self.examples {
            let again = canon.example_hash(
                &self.tape,
                roots.input,
                roots.output,
                roots.metadata,
                &mut buf,
            );
            if again != hash {
                return Err(Error::new(ErrorKind::SourceChanged, changed).with_index(index));
            }
            write_part(&self.tape, roots, part, &mut out.bytes);
            out.ends.push(out.bytes.len());
        }
        Ok(out)
    }
}

/// Where a scanned JSONL example is, and what it hashed to.
#[derive(Debug, Clone, Copy)]
pub struct LineRef {
    /// Index of the example in the source.
    pub index: usize,
    pub offset: u64,
    pub length: u64,
    /// 1-based line number.
    pub line: u64,
    pub hash: [u8; 16],
}

/// Parse the lines of one batch into a [`Batch`], each line's bytes put into the buffer by
/// `read` (`false`: it cannot be read any more). A line that cannot be read or parsed any
/// more is [`ErrorKind::SourceChanged`].
fn parse_lines(
    lines: &[LineRef],
    changed: &str,
    mut read: impl FnMut(&LineRef, &mut Vec<u8>) -> bool,
) -> Result<Batch> {
    let mut batch = Batch {
        tape: Tape::new(),
        examples: Vec::with_capacity(lines.len()),
    };
    let mut text = Vec::new();
    let keys = LineKeys::default();
    for l in lines {
        let gone = || {
            Error::new(ErrorKind::SourceChanged, changed)
                .with_index(l.index)
                .with_line(l.line)
        };
        if !read(l, &mut text) {
            return Err(gone());
        }
        let line = simdutf8::basic::from_utf8(&text).map_err(|_| gone())?;
        let fields = parse_line(line, &keys, &mut batch.tape).map_err(|_| gone())?;
        let (Some(input), Some(output)) = (fields.input, fields.output) else {
            return Err(gone());
        };
        let roots = Roots {
            input,
            output,
            metadata: fields.metadata,
        };
        batch.examples.push((l.index, roots, l.hash));
    }
    Ok(batch)
}

/// Read the lines of one batch again from `path` and parse them into a [`Batch`].
fn read_lines(path: &Path, lines: &[LineRef], changed: &str) -> Result<Batch> {
    let mut file = File::open(path).map_err(|e| {
        Error::new(ErrorKind::SourceChanged, format!("{changed} ({e})"))
            .with_index(lines.first().map_or(0, |l| l.index))
    })?;
    parse_lines(lines, changed, |l, text| {
        let Ok(length) = usize::try_from(l.length) else {
            return false;
        };
        text.resize(length, 0);
        file.seek(SeekFrom::Start(l.offset)).is_ok() && file.read_exact(text).is_ok()
    })
}

/// Name the line of an error about one of `lines`.
fn with_line(lines: &[LineRef], e: Error) -> Error {
    match e.index.and_then(|i| lines.iter().find(|l| l.index == i)) {
        Some(l) => e.with_line(l.line),
        None => e,
    }
}

/// Part `part` of the examples `lines` of JSONL held in memory (`data`), checked against
/// their scanned hashes, written in batches on the calling thread: what the WebAssembly
/// binding sends, its sources being in memory.
pub fn bytes_part(data: &[u8], lines: &[LineRef], part: Part, changed: &str) -> Result<Written> {
    let mut out = Written::default();
    for chunk in lines.chunks(BATCH) {
        let batch = parse_lines(chunk, changed, |l, text| {
            let start = usize::try_from(l.offset).ok();
            let end = start
                .zip(usize::try_from(l.length).ok())
                .map(|(s, n)| s + n);
            match start.zip(end).and_then(|(s, e)| data.get(s..e)) {
                Some(line) => {
                    text.clear();
                    text.extend_from_slice(line);
                    true
                }
                None => false,
            }
        })?;
        let written = batch
            .write(part, changed)
            .map_err(|e| with_line(chunk, e))?;
        let base = out.bytes.len();
        out.bytes.extend_from_slice(&written.bytes);
        out.ends.extend(written.ends.iter().map(|end| base + end));
    }
    Ok(out)
}

/// Part `part` of the JSONL examples `lines`, read again from `path` and checked against
/// their scanned hashes, in batches on the pool; one [`Written`] per batch, in order.
pub fn jsonl_part(
    path: &Path,
    lines: &[LineRef],
    part: Part,
    changed: &str,
) -> Result<Vec<Written>> {
    let path: Arc<PathBuf> = Arc::new(path.to_owned());
    let changed: Arc<str> = Arc::from(changed);
    let mut pool: Pool<Written> = Pool::new();
    for chunk in lines.chunks(BATCH) {
        let (path, changed, chunk) = (Arc::clone(&path), Arc::clone(&changed), chunk.to_vec());
        pool.submit(move || {
            read_lines(&path, &chunk, &changed)?
                .write(part, &changed)
                .map_err(|e| with_line(&chunk, e))
        });
    }
    pool.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jsonl::{scan_bytes, ScanOptions};

    fn refs(data: &[u8]) -> Vec<LineRef> {
        let opts = ScanOptions {
            keep_positions: true,
            ..Default::default()
        };
        let r = scan_bytes(data, &opts).unwrap();
        (0..r.len())
            .map(|i| LineRef {
                index: i,
                offset: r.offsets[i],
                length: r.lengths[i],
                line: r.line_numbers[i],
                hash: r.hashes[i],
            })
            .collect()
    }

    #[test]
    fn parts_keep_key_order_and_values() {
        let data = concat!(
            "{\"output\": {\"z\": 1, \"a\": [1.0, -0.0, 1e21, 12345678901234567890]}, ",
            "\"input\": {\"q\": \"\u{e9}\\n\\\"\u{2028}\", \"b\": null}}\n",
            "\n",
            "{\"input\": {}, \"output\": {}, \"metadata\": {\"k\": true}}\r\n",
        );
        let dir = std::env::temp_dir().join(format!("pu-upload-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("a.jsonl");
        std::fs::write(&path, data).unwrap();
        let lines = refs(data.as_bytes());
        let text = |part| {
            let written = jsonl_part(&path, &lines, part, "x").unwrap();
            let texts: Vec<&[u8]> = written.iter().flat_map(Written::texts).collect();
            String::from_utf8(texts.join(&b","[..])).unwrap()
        };
        assert_eq!(
            text(Part::Input),
            "{\"q\":\"\u{e9}\\n\\\"\u{2028}\",\"b\":null},{}"
        );
        assert_eq!(
            text(Part::Output),
            "{\"z\":1,\"a\":[1.0,-0.0,1e+21,12345678901234567890]},{}"
        );
        assert_eq!(text(Part::Metadata), "{},{\"k\":true}");
        // The same from the bytes in memory.
        let written = bytes_part(data.as_bytes(), &lines, Part::Metadata, "x").unwrap();
        let texts: Vec<&[u8]> = written.texts().collect();
        assert_eq!(texts.join(&b","[..]), b"{},{\"k\":true}");
        let e = bytes_part(&data.as_bytes()[..40], &lines, Part::Input, "gone").unwrap_err();
        assert_eq!(
            (e.kind, e.index, e.line),
            (ErrorKind::SourceChanged, Some(0), Some(1))
        );
        // The file changes: the upload stops at the line, naming it.
        std::fs::write(&path, data.replace("true", "fals")).unwrap();
        let e = jsonl_part(&path, &lines, Part::Input, "changed").unwrap_err();
        assert_eq!(e.kind, ErrorKind::SourceChanged);
        assert_eq!((e.index, e.line), (Some(1), Some(3)));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
