//! RFC 8785 (JSON Canonicalization Scheme) output, the Phoenix content hash, and the
//! faithful (non-canonical) JSON writer used for uploads.
//!
//! Canonical form, as Phoenix's server computes it:
//! - object members sorted by the UTF-16 code units of their keys; no whitespace;
//! - strings escape `"` `\` and the C0 controls only (`\b \f \n \r \t`, others `\u00xx`),
//!   everything else is written as UTF-8;
//! - numbers are written the way ECMAScript's `Number.prototype.toString` writes the
//!   nearest double (so ints beyond 2^53 lose digits and 1e21 and up use exponent form).

use std::cmp::Ordering;

use sha2::{Digest, Sha256};

use crate::number::{parse_double, write_double};
use crate::tape::{Node, Span, Tape};

/// 2^53: every integer with at most this magnitude is exactly a double.
const MAX_SAFE_INT: u64 = 1 << 53;

/// Compare two strings by their UTF-16 code units, as RFC 8785 sorts keys.
///
/// UTF-8 byte order equals code point order, which equals UTF-16 order except between
/// U+E000..U+FFFF and the supplementary planes (stored as surrogates D800..DFFF in UTF-16).
/// So compare bytes, and look at the differing characters only when they are not ASCII.
pub fn cmp_utf16(a: &str, b: &str) -> Ordering {
    let (ab, bb) = (a.as_bytes(), b.as_bytes());
    let common = ab.iter().zip(bb).take_while(|(x, y)| x == y).count();
    if common == ab.len() || common == bb.len() {
        return ab.len().cmp(&bb.len());
    }
    if ab[common] < 0x80 && bb[common] < 0x80 {
        return ab[common].cmp(&bb[common]);
    }
    // Back up to the start of the character that differs (same position in both strings,
    // since their bytes agree up to `common`).
    let mut start = common;
    while start > 0 && !a.is_char_boundary(start) {
        start -= 1;
    }
    let ca = a[start..].chars().next();
    let cb = b[start..].chars().next();
    match (ca, cb) {
        (Some(ca), Some(cb)) => {
            let mut ua = [0u16; 2];
            let mut ub = [0u16; 2];
            ca.encode_utf16(&mut ua).cmp(&cb.encode_utf16(&mut ub))
        }
        // Unreachable for valid strings; fall back to byte order rather than panic.
        _ => ab.cmp(bb),
    }
}

/// Bytes that must be escaped inside a JSON string: C0 controls, `"` and `\`.
const fn escape_table() -> [bool; 256] {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 0x20 {
        t[i] = true;
        i += 1;
    }
    t[b'"' as usize] = true;
    t[b'\\' as usize] = true;
    t
}

static ESCAPES: [bool; 256] = escape_table();

const HEX: &[u8; 16] = b"0123456789abcdef";

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// Bytes of an 8-byte word that may need escaping: the lowest set high bit marks the first
/// byte below 0x20, `"` or `\\` (the zero-byte trick: no false positive below the first
/// true one).
#[inline]
pub(crate) fn attention(x: u64) -> u64 {
    let control = x.wrapping_sub(ONES * 0x20) & !x;
    let q = x ^ (ONES * u64::from(b'"'));
    let quote = q.wrapping_sub(ONES) & !q;
    let b = x ^ (ONES * u64::from(b'\\'));
    let backslash = b.wrapping_sub(ONES) & !b;
    (control | quote | backslash) & HIGHS
}

/// Write `s` as a JSON string, escaping what RFC 8785 (and Python's `json.dumps`) escapes.
/// Returns whether `s` holds U+0000 (found by the escape scan, for free).
fn write_string(out: &mut Vec<u8>, s: &str) -> bool {
    let bytes = s.as_bytes();
    out.reserve(bytes.len() + 2);
    out.push(b'"');
    let mut run = 0;
    let mut i = 0;
    let mut nul = false;
    while i < bytes.len() {
        // Skip eight bytes at a time while none of them needs a look.
        while let Some(word) = bytes.get(i..).and_then(|rest| rest.first_chunk::<8>()) {
            let mask = attention(u64::from_le_bytes(*word));
            if mask == 0 {
                i += 8;
            } else {
                i += (mask.trailing_zeros() / 8) as usize;
                break;
            }
        }
        let Some(&b) = bytes.get(i) else {
            break;
        };
        if !ESCAPES[b as usize] {
            i += 1;
            continue;
        }
        out.extend_from_slice(&bytes[run..i]);
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x0C => out.extend_from_slice(b"\\f"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            _ => {
                nul |= b == 0;
                out.extend_from_slice(b"\\u00");
                out.push(HEX[(b >> 4) as usize]);
                out.push(HEX[(b & 0xF) as usize]);
            }
        }
        i += 1;
        run = i;
    }
    out.extend_from_slice(&bytes[run..]);
    out.push(b'"');
    nul
}

fn write_int<I: itoa::Integer>(out: &mut Vec<u8>, i: I) {
    out.extend_from_slice(itoa::Buffer::new().format(i).as_bytes());
}

/// The double a number node stands for, as the server computes `float(value)`.
pub fn number_value(tape: &Tape, node: Node) -> Option<f64> {
    match node {
        // `as` rounds to nearest, ties to even — exactly what Python's float(int) does.
        Node::Int(i) => Some(i as f64),
        Node::UInt(u) => Some(u as f64),
        Node::Float(f) => Some(f),
        Node::BigInt { value, .. } => Some(value),
        Node::Decimal { text } => parse_double(tape.str_at(text).as_bytes()),
        _ => None,
    }
}

/// Writes canonical JSON. Holds scratch space so that hashing many values allocates little.
#[derive(Default)]
pub struct Canonicalizer {
    members: Vec<(Span, bool, u32)>,
    /// Set when a string or key written held U+0000 (see [`Canonicalizer::take_nul`]).
    nul: bool,
}

impl Canonicalizer {
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether a string or key written since the last call held U+0000 (which Phoenix
    /// hashes, but PostgreSQL cannot store). Clears the flag.
    pub fn take_nul(&mut self) -> bool {
        std::mem::take(&mut self.nul)
    }

    /// Append the canonical JSON of the value at `index` to `out`.
    pub fn write(&mut self, tape: &Tape, index: usize, out: &mut Vec<u8>) {
        match tape.node(index) {
            Node::Null => out.extend_from_slice(b"null"),
            Node::Bool(true) => out.extend_from_slice(b"true"),
            Node::Bool(false) => out.extend_from_slice(b"false"),
            Node::Int(i) if i.unsigned_abs() <= MAX_SAFE_INT => write_int(out, i),
            Node::UInt(u) if u <= MAX_SAFE_INT => write_int(out, u),
            node @ (Node::Int(_) | Node::UInt(_) | Node::Float(_) | Node::BigInt { .. }) => {
                write_double(out, number_value(tape, node).unwrap_or(0.0))
            }
            Node::Decimal { text } => out.extend_from_slice(tape.str_at(text).as_bytes()),
            Node::Str { span, clean: true } | Node::Escaped { span } => {
                out.push(b'"');
                out.extend_from_slice(tape.str_at(span).as_bytes());
                out.push(b'"');
            }
            Node::Str { span, clean: false } => {
                self.nul |= write_string(out, tape.str_at(span));
            }
            Node::Array { len, .. } => {
                out.push(b'[');
                let mut child = index + 1;
                for k in 0..len {
                    if k > 0 {
                        out.push(b',');
                    }
                    self.write(tape, child, out);
                    child = tape.end_of(child);
                }
                out.push(b']');
            }
            Node::Object { len, .. } => self.write_object(tape, index, len as usize, out),
        }
    }

    fn write_object(&mut self, tape: &Tape, index: usize, len: usize, out: &mut Vec<u8>) {
        let base = self.members.len();
        let mut child = index + 1;
        for _ in 0..len {
            if let Node::Str { span, clean } = tape.node(child) {
                self.members.push((span, clean, (child + 1) as u32));
            }
            child = tape.end_of(child + 1);
        }
        // Stable: of equal keys (possible in a JSONL line) the last one stays last.
        self.members[base..].sort_by(|a, b| cmp_utf16(tape.str_at(a.0), tape.str_at(b.0)));
        out.push(b'{');
        let end = self.members.len();
        let mut first = true;
        for k in base..end {
            let (key, clean, value) = self.members[k];
            if k + 1 < end && tape.str_at(self.members[k + 1].0) == tape.str_at(key) {
                continue; // a later duplicate wins, as in Python's json.loads
            }
            if !first {
                out.push(b',');
            }
            first = false;
            if clean {
                out.push(b'"');
                out.extend_from_slice(tape.str_at(key).as_bytes());
                out.push(b'"');
            } else {
                self.nul |= write_string(out, tape.str_at(key));
            }
            out.push(b':');
            self.write(tape, value as usize, out);
        }
        out.push(b'}');
        self.members.truncate(base);
    }

    /// The canonical bytes of `{"input":…,"metadata":…,"output":…}` (metadata `{}` if absent).
    pub fn write_example(
        &mut self,
        tape: &Tape,
        input: usize,
        output: usize,
        metadata: Option<usize>,
        out: &mut Vec<u8>,
    ) {
        out.extend_from_slice(b"{\"input\":");
        self.write(tape, input, out);
        out.extend_from_slice(b",\"metadata\":");
        match metadata {
            Some(m) => self.write(tape, m, out),
            None => out.extend_from_slice(b"{}"),
        }
        out.extend_from_slice(b",\"output\":");
        self.write(tape, output, out);
        out.push(b'}');
    }

    /// Phoenix's `content_hash`: the first 16 bytes of SHA-256 over the canonical example.
    /// `buf` is scratch space (cleared first).
    pub fn example_hash(
        &mut self,
        tape: &Tape,
        input: usize,
        output: usize,
        metadata: Option<usize>,
        buf: &mut Vec<u8>,
    ) -> [u8; 16] {
        buf.clear();
        self.write_example(tape, input, output, metadata, buf);
        truncated_sha256(buf)
    }
}

/// First 16 bytes of SHA-256.
pub fn truncated_sha256(data: &[u8]) -> [u8; 16] {
    let digest = Sha256::digest(data);
    let mut out = [0u8; 16];
    out.copy_from_slice(&digest[..16]);
    out
}

/// Lowercase hex of a content hash (32 characters).
pub fn hash_hex(hash: &[u8; 16]) -> String {
    // Into a buffer, not character by character (`hex::encode` collects chars).
    let mut out = [0u8; 32];
    if hex::encode_to_slice(hash, &mut out).is_err() {
        return hex::encode(hash); // cannot happen: 16 bytes make 32 hex digits
    }
    std::str::from_utf8(&out).unwrap_or_default().to_owned()
}

/// Parse a 32-character hex content hash.
pub fn parse_hash_hex(s: &str) -> Option<[u8; 16]> {
    let mut out = [0u8; 16];
    hex::decode_to_slice(s, &mut out).ok()?;
    Some(out)
}

/// Make the number written from `start` on read back as a float: `5` becomes `5.0`.
fn keep_float(out: &mut Vec<u8>, start: usize) {
    if !out[start..].iter().any(|b| matches!(b, b'.' | b'e')) {
        out.extend_from_slice(b".0");
    }
}

/// Write the value at `index` as compact JSON that a JSON parser reads back to the same
/// value: key order kept (duplicate keys too: the reader keeps the last, as the hash did),
/// integers exact (also beyond 2^53), floats written so that they stay floats (`5.0`, not
/// `5`; `-0.0` keeps its sign).
pub fn write_upload_json(tape: &Tape, index: usize, out: &mut Vec<u8>) {
    match tape.node(index) {
        Node::Null => out.extend_from_slice(b"null"),
        Node::Bool(true) => out.extend_from_slice(b"true"),
        Node::Bool(false) => out.extend_from_slice(b"false"),
        Node::Int(i) => write_int(out, i),
        Node::UInt(u) => write_int(out, u),
        Node::BigInt { text, .. } => out.extend_from_slice(tape.str_at(text).as_bytes()),
        Node::Float(f) if f == 0.0 && f.is_sign_negative() => out.extend_from_slice(b"-0.0"),
        Node::Float(f) => {
            let start = out.len();
            write_double(out, f);
            keep_float(out, start);
        }
        Node::Decimal { text } => {
            let start = out.len();
            out.extend_from_slice(tape.str_at(text).as_bytes());
            keep_float(out, start);
        }
        Node::Str { span, clean: true } | Node::Escaped { span } => {
            out.push(b'"');
            out.extend_from_slice(tape.str_at(span).as_bytes());
            out.push(b'"');
        }
        Node::Str { span, clean: false } => {
            write_string(out, tape.str_at(span));
        }
        Node::Array { len, .. } => {
            out.push(b'[');
            let mut child = index + 1;
            for k in 0..len {
                if k > 0 {
                    out.push(b',');
                }
                write_upload_json(tape, child, out);
                child = tape.end_of(child);
            }
            out.push(b']');
        }
        Node::Object { len, .. } => {
            out.push(b'{');
            let mut child = index + 1;
            for k in 0..len {
                if k > 0 {
                    out.push(b',');
                }
                write_upload_json(tape, child, out);
                out.push(b':');
                write_upload_json(tape, child + 1, out);
                child = tape.end_of(child + 1);
            }
            out.push(b'}');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canon_str(s: &str) -> String {
        let mut out = Vec::new();
        write_string(&mut out, s);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn utf16_order_differs_from_code_point_order() {
        // U+FF61 (BMP, above the surrogates) vs U+1F600 (surrogates D83D DE00).
        assert_eq!(cmp_utf16("\u{ff61}", "\u{1f600}"), Ordering::Greater);
        assert_eq!("\u{ff61}".cmp("\u{1f600}"), Ordering::Less);
        assert_eq!(cmp_utf16("a", "ab"), Ordering::Less);
        assert_eq!(cmp_utf16("b", "ab"), Ordering::Greater);
        assert_eq!(cmp_utf16("é", "e"), Ordering::Greater);
        assert_eq!(cmp_utf16("x\u{10000}", "x\u{10001}"), Ordering::Less);
    }

    #[test]
    fn strings_escape_only_what_rfc8785_says() {
        assert_eq!(canon_str("a\"b\\c"), r#""a\"b\\c""#);
        assert_eq!(canon_str("\u{8}\u{c}\n\r\t"), r#""\b\f\n\r\t""#);
        assert_eq!(canon_str("\u{1}\u{1f}"), r#""\u0001\u001f""#);
        assert_eq!(canon_str("\u{7f}\u{2028}€"), "\"\u{7f}\u{2028}€\"");
    }

    fn num(node: Node) -> String {
        let mut t = Tape::new();
        let i = match node {
            Node::Int(i) => t.push_i64(i).unwrap(),
            Node::UInt(u) => t.push_u64(u).unwrap(),
            Node::Float(f) => t.push_f64(f).unwrap(),
            _ => unreachable!(),
        };
        let mut out = Vec::new();
        Canonicalizer::new().write(&t, i, &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn numbers_follow_ecmascript() {
        assert_eq!(num(Node::Float(-0.0)), "0");
        assert_eq!(num(Node::Float(1.0)), "1");
        assert_eq!(num(Node::Float(1e21)), "1e+21");
        assert_eq!(num(Node::Float(1e20)), "100000000000000000000");
        assert_eq!(num(Node::Float(1e-7)), "1e-7");
        assert_eq!(num(Node::Float(0.000001)), "0.000001");
        assert_eq!(num(Node::Float(5e-324)), "5e-324");
        assert_eq!(num(Node::Int(9007199254740993)), "9007199254740992");
        assert_eq!(num(Node::Int(-9007199254740993)), "-9007199254740992");
        assert_eq!(num(Node::UInt(u64::MAX)), "18446744073709552000");
        assert_eq!(num(Node::Int(i64::MIN)), "-9223372036854776000");
    }

    #[test]
    fn upload_floats_stay_floats() {
        let mut t = Tape::new();
        let a = t.push_f64(5.0).unwrap();
        let b = t.push_f64(1e21).unwrap();
        let c = t.push_i64(9007199254740993).unwrap();
        let mut out = Vec::new();
        write_upload_json(&t, a, &mut out);
        out.push(b' ');
        write_upload_json(&t, b, &mut out);
        out.push(b' ');
        write_upload_json(&t, c, &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "5.0 1e+21 9007199254740993"
        );
    }

    #[test]
    fn duplicate_keys_keep_the_last() {
        let mut t = Tape::new();
        let o = t.begin_object().unwrap();
        t.push_str("b").unwrap();
        t.push_i64(1).unwrap();
        t.push_str("a").unwrap();
        t.push_i64(2).unwrap();
        t.push_str("b").unwrap();
        t.push_i64(3).unwrap();
        t.end_object(o, 3).unwrap();
        let mut out = Vec::new();
        Canonicalizer::new().write(&t, o, &mut out);
        assert_eq!(out, br#"{"a":2,"b":3}"#);
    }
}
