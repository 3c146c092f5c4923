//! Example node ids, decoded exactly as Phoenix's server decodes incoming example ids.
//!
//! Phoenix (20.26.1) treats an incoming example id as a `DatasetExample` node id when
//! `_get_dataset_example_node_id` in `phoenix/db/insertion/dataset.py` accepts it; that is
//!
//! ```python
//! type_name, node_id = base64.b64decode(s.encode()).decode().split(":", 1)  # strawberry
//! assert type_name == "DatasetExample"
//! row = int(node_id)                                                       # any exception: no
//! ```
//!
//! and every step is lenient in its own way, which this module reproduces:
//! - `b64decode` without `validate` (CPython's `binascii.a2b_base64`, non-strict): bytes
//!   outside the alphabet are dropped; `=` before the third character of a quad is dropped;
//!   enough `=` to end a quad end the input (whatever follows is ignored); unused trailing
//!   bits need not be zero; a quad left incomplete is an error.
//! - `bytes.decode()`: strict UTF-8.
//! - `int(str)`: surrounding whitespace (ASCII `\t\n\v\f\r` and space, and Unicode spaces such
//!   as U+00A0 and U+3000 — but not U+001C..U+001F), one sign, digits with single underscores
//!   between them, digits of any script (Unicode decimal digits, e.g. Arabic-Indic `٤٢`),
//!   leading zeros, at most 4300 digits (Python's limit), any size.
//!
//! A row id beyond 64 bits is a node id all the same — of no example (Phoenix then rejects
//! the upload: "No examples found in this dataset with the following IDs").

/// What an incoming id means to the server, if it is an example node id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeId {
    /// The row id of a `DatasetExample`.
    Row(i64),
    /// A node id whose row id does not fit 64 bits: it names no example.
    OutOfRange,
}

/// The base64 of `DatasetExample:` (15 bytes, so exactly 20 characters).
const PREFIX: &[u8; 20] = b"RGF0YXNldEV4YW1wbGU6";

/// Python's default `sys.int_info.default_max_str_digits`.
const MAX_INT_DIGITS: usize = 4300;

/// Decode `id` as the server does; `None` if the server takes it for an external id.
pub fn example_node_id(id: &str) -> Option<NodeId> {
    // Fast rejection without allocating: the first 20 base64 characters (the rest dropped)
    // must be the prefix, since 20 characters decode to exactly the first 15 bytes.
    let mut data = id.bytes().filter(|&b| sextet(b).is_some());
    if !PREFIX.iter().all(|&p| data.next() == Some(p)) {
        return None;
    }
    let bytes = python_b64decode(id.as_bytes())?;
    let text = std::str::from_utf8(&bytes).ok()?;
    let node = text.strip_prefix("DatasetExample:")?;
    python_int(node)
}

/// The row id of a `DatasetExample` node id whose row id fits 64 bits.
pub fn example_row_id(id: &str) -> Option<i64> {
    match example_node_id(id)? {
        NodeId::Row(row) => Some(row),
        NodeId::OutOfRange => None,
    }
}

/// The 6-bit value of a base64 character of the standard alphabet.
#[inline]
fn sextet(b: u8) -> Option<u8> {
    Some(match b {
        b'A'..=b'Z' => b - b'A',
        b'a'..=b'z' => b - b'a' + 26,
        b'0'..=b'9' => b - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => return None,
    })
}

/// `base64.b64decode(data)` (non-strict `binascii.a2b_base64`); `None` where it raises.
pub fn python_b64decode(data: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(data.len() / 4 * 3 + 3);
    let mut quad_pos = 0u8;
    let mut left = 0u8;
    let mut pads = 0u8;
    for &b in data {
        if b == b'=' {
            // Padding counts only from the third character of a quad on; enough of it ends
            // the input.
            if quad_pos >= 2 {
                pads += 1;
                if quad_pos + pads >= 4 {
                    return Some(out);
                }
            }
            continue;
        }
        let Some(v) = sextet(b) else {
            continue;
        };
        pads = 0;
        match quad_pos {
            0 => {
                left = v;
                quad_pos = 1;
            }
            1 => {
                out.push((left << 2) | (v >> 4));
                left = v & 0x0f;
                quad_pos = 2;
            }
            2 => {
                out.push((left << 4) | (v >> 2));
                left = v & 0x03;
                quad_pos = 3;
            }
            _ => {
                out.push((left << 6) | v);
                left = 0;
                quad_pos = 0;
            }
        }
    }
    (quad_pos == 0).then_some(out)
}

/// Starts of the runs of ten Unicode decimal digits (0..9) above ASCII, as Python 3.11 knows
/// them (Unicode 14.0: `[c for c in range(128, 0x110000) if chr(c).isdecimal()]`, which come
/// in aligned runs of ten). Python versions with a newer Unicode know a few more scripts.
const DECIMAL_RUNS: [u32; 65] = [
    0x660, 0x6f0, 0x7c0, 0x966, 0x9e6, 0xa66, 0xae6, 0xb66, 0xbe6, 0xc66, 0xce6, 0xd66, 0xde6,
    0xe50, 0xed0, 0xf20, 0x1040, 0x1090, 0x17e0, 0x1810, 0x1946, 0x19d0, 0x1a80, 0x1a90, 0x1b50,
    0x1bb0, 0x1c40, 0x1c50, 0xa620, 0xa8d0, 0xa900, 0xa9d0, 0xa9f0, 0xaa50, 0xabf0, 0xff10,
    0x104a0, 0x10d30, 0x11066, 0x110f0, 0x11136, 0x111d0, 0x112f0, 0x11450, 0x114d0, 0x11650,
    0x116c0, 0x11730, 0x118e0, 0x11950, 0x11c50, 0x11d50, 0x11da0, 0x16a60, 0x16ac0, 0x16b50,
    0x1d7ce, 0x1d7d8, 0x1d7e2, 0x1d7ec, 0x1d7f6, 0x1e140, 0x1e2f0, 0x1e950, 0x1fbf0,
];

/// The value of a non-ASCII Unicode decimal digit.
fn decimal_value(c: char) -> Option<u8> {
    let c = c as u32;
    let run = DECIMAL_RUNS
        .partition_point(|&start| start <= c)
        .checked_sub(1)?;
    let offset = c - DECIMAL_RUNS[run];
    (offset < 10).then_some(offset as u8)
}

/// Python's `str.isspace()` above U+007E.
fn is_unicode_space(c: char) -> bool {
    matches!(
        c,
        '\u{85}' | '\u{a0}' | '\u{1680}' | '\u{2000}'
            ..='\u{200a}' | '\u{2028}' | '\u{2029}' | '\u{202f}' | '\u{205f}' | '\u{3000}'
    )
}

/// `int(text)` (base 10) as a node id; `None` where Python raises.
pub fn python_int(text: &str) -> Option<NodeId> {
    // CPython first maps the str to ASCII: characters below U+007F stay, Unicode spaces
    // become ' ', decimal digits become '0'..'9', anything else ends the number (an error).
    let mut ascii = Vec::with_capacity(text.len());
    for c in text.chars() {
        if (c as u32) < 0x7f {
            ascii.push(c as u8);
        } else if is_unicode_space(c) {
            ascii.push(b' ');
        } else {
            ascii.push(b'0' + decimal_value(c)?);
        }
    }
    // Then parses it like C's strtol, with Python's underscores.
    let is_space = |b: u8| matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r');
    let mut i = 0;
    while i < ascii.len() && is_space(ascii[i]) {
        i += 1;
    }
    let negative = match ascii.get(i) {
        Some(b'-') => {
            i += 1;
            true
        }
        Some(b'+') => {
            i += 1;
            false
        }
        _ => false,
    };
    if ascii.get(i) == Some(&b'_') {
        return None;
    }
    let mut digits = 0usize;
    let mut magnitude: Option<u64> = Some(0);
    let mut prev = 0u8;
    while let Some(&b) = ascii.get(i) {
        if b == b'_' {
            if prev == b'_' {
                return None;
            }
        } else if b.is_ascii_digit() {
            digits += 1;
            magnitude = magnitude
                .and_then(|m| m.checked_mul(10))
                .and_then(|m| m.checked_add(u64::from(b - b'0')));
        } else {
            break;
        }
        prev = b;
        i += 1;
    }
    if prev == b'_' || digits == 0 || digits > MAX_INT_DIGITS {
        return None;
    }
    while i < ascii.len() && is_space(ascii[i]) {
        i += 1;
    }
    if i != ascii.len() {
        return None;
    }
    let Some(m) = magnitude else {
        return Some(NodeId::OutOfRange);
    };
    let row = if negative {
        0i64.checked_sub_unsigned(m)
    } else {
        i64::try_from(m).ok()
    };
    Some(row.map_or(NodeId::OutOfRange, NodeId::Row))
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;

    fn node(text: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(text)
    }

    #[test]
    fn canonical_ids_decode() {
        assert_eq!(
            example_node_id(&node("DatasetExample:42")),
            Some(NodeId::Row(42))
        );
        assert_eq!(
            example_node_id("RGF0YXNldEV4YW1wbGU6NDI="),
            Some(NodeId::Row(42))
        );
        assert_eq!(example_node_id("RGF0YXNldDo0Mg=="), None); // Dataset:42
        assert_eq!(example_node_id("q1"), None);
        assert_eq!(example_node_id(""), None);
    }

    #[test]
    fn base64_is_lenient_like_python() {
        assert_eq!(python_b64decode(b"Zg==").unwrap(), b"f");
        assert_eq!(python_b64decode(b"Zg="), None); // incorrect padding
        assert_eq!(python_b64decode(b"Z"), None);
        assert_eq!(python_b64decode(b"Z=g==").unwrap(), b"f");
        assert_eq!(python_b64decode(b"Zg==Zm9v").unwrap(), b"f"); // data after padding
        assert_eq!(python_b64decode(b"Zm=9v").unwrap(), b"foo");
        assert_eq!(python_b64decode(b"Zm==9v").unwrap(), b"f");
        assert_eq!(python_b64decode(b"Zg=x=").unwrap(), b"f\x0c");
        assert_eq!(python_b64decode(b"Zh==").unwrap(), b"f"); // trailing bits
        assert_eq!(python_b64decode(b"Z m-9_v\xff").unwrap(), b"foo");
    }

    #[test]
    fn ints_parse_like_python() {
        let row = |s: &str| python_int(s);
        assert_eq!(row(" 42\n"), Some(NodeId::Row(42)));
        assert_eq!(row("+4_2"), Some(NodeId::Row(42)));
        assert_eq!(row("-0"), Some(NodeId::Row(0)));
        assert_eq!(row("007"), Some(NodeId::Row(7)));
        assert_eq!(row("\u{664}\u{662}"), Some(NodeId::Row(42)));
        assert_eq!(row("\u{3000}1\u{a0}"), Some(NodeId::Row(1)));
        assert_eq!(row("\u{1c}1"), None);
        assert_eq!(row("4__2"), None);
        assert_eq!(row("_42"), None);
        assert_eq!(row("42_"), None);
        assert_eq!(row("- 1"), None);
        assert_eq!(row("1\0"), None);
        assert_eq!(row("²"), None);
        assert_eq!(row(""), None);
        assert_eq!(row("9223372036854775807"), Some(NodeId::Row(i64::MAX)));
        assert_eq!(row("-9223372036854775808"), Some(NodeId::Row(i64::MIN)));
        assert_eq!(row("9223372036854775808"), Some(NodeId::OutOfRange));
        assert_eq!(row(&"9".repeat(4300)), Some(NodeId::OutOfRange));
        assert_eq!(row(&"0".repeat(4301)), None);
    }

    #[test]
    fn decimal_digits_of_other_scripts() {
        assert_eq!(decimal_value('\u{660}'), Some(0));
        assert_eq!(decimal_value('\u{669}'), Some(9));
        assert_eq!(decimal_value('\u{66a}'), None);
        assert_eq!(decimal_value('\u{1fbf9}'), Some(9));
        assert_eq!(decimal_value('\u{7f}'), None);
        assert_eq!(decimal_value('é'), None);
    }
}
