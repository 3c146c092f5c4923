//! What Phoenix can store: the rules a sync adds to the JSON rules, in one place, for both
//! front ends (Python objects and JSON text).
//!
//! Phoenix hashes more than it can store. A value that hashes but cannot be stored either
//! makes the upload fail (HTTP 500, retried in vain) or, worse, lands and then breaks every
//! read of the dataset. So a sync rejects, before anything is sent:
//!
//! - **Whole numbers outside [-2^63, 2^64-1].** Phoenix writes JSON with orjson, which takes
//!   integers in that range only; and on PostgreSQL (JSONB) a float such as `1e21` comes
//!   back as the integer `1000000000000000000000`, which orjson then refuses on every read.
//!   See [`is_storable_double`] for the exact rule for floats.
//! - **U+0000** in any string or key of `input`/`output`/`metadata`, in a source id, a split
//!   name or a span id: PostgreSQL's text and JSONB types cannot hold it (Phoenix answers 500).
//!
//! The same source id means the same example in every source: see [`check_source_id`] and
//! [`integer_id`].

use crate::error::{Error, ErrorKind, Result};
use crate::tape::{Node, Tape};

/// Why a number cannot be synced (ints and floats alike, from both front ends).
pub const NOT_STORABLE: &str = "number outside the 64-bit range: Phoenix stores whole numbers \
     from -2^63 to 2^64-1 only (ints, and floats like 1e21, which PostgreSQL hands back as \
     ints); store it as a str";

/// 2^63 and 2^64 as doubles (both exact).
const TWO_POW_63: f64 = 9_223_372_036_854_775_808.0;
const TWO_POW_64: f64 = 18_446_744_073_709_551_616.0;

/// Whether Phoenix can store, and read back, the double `f` (finite).
///
/// The server writes a float the way Python's `repr` does (orjson and `json` agree): with a
/// fraction (`123.0`) below 1e16, in exponent form (`1e+21`) from 1e16 on. PostgreSQL's
/// JSONB keeps `123.0` a non-integer but turns `1.8446744073709552e+19` into the integer
/// `18446744073709552000`, which must then lie in [-2^63, 2^64-1]. The shortest decimal of a
/// double lies within half an ulp of it, so this holds exactly when
/// `-2^63 < f < 2^64`: the double -2^63 itself is written `-9.223372036854776e+18`, below
/// -2^63, and the largest double below 2^64 is written `1.844674407370955e+19`, inside.
/// (The property test in `tests/test_storable.py` checks this against orjson's text.)
#[inline]
pub fn is_storable_double(f: f64) -> bool {
    f > -TWO_POW_63 && f < TWO_POW_64
}

/// The error for a number Phoenix cannot store.
pub fn not_storable() -> Error {
    Error::new(ErrorKind::NumberOutOfRange, NOT_STORABLE)
}

const NUL_WHY: &str = "U+0000 (NUL), which PostgreSQL cannot store (Phoenix answers HTTP 500); \
     remove it";

/// The error for U+0000 in a string value.
pub fn nul_in_string() -> Error {
    Error::new(ErrorKind::NullCharacter, format!("string holds {NUL_WHY}"))
}

/// The error for U+0000 in an object key (the path names the object holding it).
pub fn nul_in_key(key: &str) -> Error {
    let shown = serde_json::to_string(key).unwrap_or_default();
    Error::new(
        ErrorKind::NullCharacter,
        format!("key {shown} holds {NUL_WHY}"),
    )
}

/// Fail if `name` (a split name, a span id) holds U+0000.
pub fn check_name(name: &str, what: &str) -> Result<()> {
    if memchr::memchr(0, name.as_bytes()).is_some() {
        return Err(Error::new(
            ErrorKind::NullCharacter,
            format!("{what} holds {NUL_WHY}"),
        ));
    }
    Ok(())
}

/// A source id given as text: usable as it is, unless it is empty or holds U+0000.
/// (Text that is not valid Unicode — a lone surrogate — never gets this far: each front end
/// rejects it while reading the id.)
pub fn check_source_id(id: &str) -> Result<()> {
    if id.is_empty() {
        return Err(Error::new(
            ErrorKind::InvalidSourceId,
            "the source id is empty",
        ));
    }
    if memchr::memchr(0, id.as_bytes()).is_some() {
        return Err(Error::new(
            ErrorKind::InvalidSourceId,
            format!("the source id holds {NUL_WHY}"),
        ));
    }
    Ok(())
}

/// Most decimal digits an integer id may have: Python's own limit for `str(int)`
/// (`sys.int_info.default_max_str_digits`), past which Python cannot write the id at all.
pub const MAX_ID_DIGITS: usize = 4300;

/// The source id an integer stands for: its decimal text, as Python's `str(int)` writes it.
///
/// `literal` is an integer in decimal, as JSON writes one (`-?(0|[1-9][0-9]*)`) or Python's
/// `int.__repr__` does: any size. `-0` (valid JSON) is `"0"`, as `str(json.loads("-0"))` is.
pub fn integer_id(literal: &str) -> Result<String> {
    let digits = literal.strip_prefix('-').unwrap_or(literal);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Error::new(
            ErrorKind::InvalidSourceId,
            format!("the source id must be a string or an integer, got the number {literal}"),
        ));
    }
    if digits.len() > MAX_ID_DIGITS {
        return Err(Error::new(
            ErrorKind::InvalidSourceId,
            format!(
                "the source id is an integer of {} digits; at most {MAX_ID_DIGITS} (Python's \
                 limit for writing an int as text)",
                digits.len()
            ),
        ));
    }
    if digits.bytes().all(|b| b == b'0') {
        return Ok("0".to_owned());
    }
    // JSON has no leading zeros and Python's repr writes none: the text is already canonical.
    Ok(literal.to_owned())
}

/// The first string or key holding U+0000 in an example, as an error with its JSON path:
/// `input`, then `output`, then `metadata`, each in document order. A member overridden by a
/// later duplicate key (possible in JSON text) is skipped: it is neither hashed nor sent.
pub fn find_nul_in_example(
    tape: &Tape,
    input: usize,
    output: usize,
    metadata: Option<usize>,
) -> Option<Error> {
    let parts = [
        ("input", Some(input)),
        ("output", Some(output)),
        ("metadata", metadata),
    ];
    parts
        .into_iter()
        .find_map(|(name, root)| root.and_then(|r| find_nul(tape, r)).map(|e| e.at_key(name)))
}

/// The first string or key holding U+0000 in the value at `index`.
pub fn find_nul(tape: &Tape, index: usize) -> Option<Error> {
    match tape.node(index) {
        Node::Str { span, .. } => {
            memchr::memchr(0, tape.str_at(span).as_bytes()).map(|_| nul_in_string())
        }
        // Its escapes are canonical, and U+0000 is left to the full reader.
        Node::Escaped { .. } => None,
        Node::Array { len, .. } => {
            let mut child = index + 1;
            for i in 0..len as usize {
                if let Some(e) = find_nul(tape, child) {
                    return Some(e.at_index(i));
                }
                child = tape.end_of(child);
            }
            None
        }
        Node::Object { len, .. } => {
            let mut members = Vec::with_capacity(len as usize);
            let mut child = index + 1;
            for _ in 0..len {
                if let Node::Str { span, .. } = tape.node(child) {
                    members.push((tape.str_at(span), child + 1));
                }
                child = tape.end_of(child + 1);
            }
            for (k, &(key, value)) in members.iter().enumerate() {
                if members[k + 1..].iter().any(|&(later, _)| later == key) {
                    continue; // a later duplicate wins, as in Python's json.loads
                }
                if memchr::memchr(0, key.as_bytes()).is_some() {
                    return Some(nul_in_key(key));
                }
                if let Some(e) = find_nul(tape, value) {
                    return Some(e.at_key(key));
                }
            }
            None
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_at_the_edges() {
        assert!(is_storable_double(0.0));
        assert!(is_storable_double(-0.0));
        assert!(is_storable_double(1e19));
        assert!(is_storable_double(18_446_744_073_709_549_568.0)); // 2^64 - 2048
        assert!(!is_storable_double(TWO_POW_64));
        assert!(!is_storable_double(1e21));
        assert!(!is_storable_double(1.5e300));
        assert!(!is_storable_double(-1e19));
        assert!(!is_storable_double(-TWO_POW_63)); // written -9.223372036854776e+18
        assert!(is_storable_double(-9_223_372_036_854_774_784.0)); // -2^63 + 1024
    }

    #[test]
    fn integer_ids_are_their_decimal_text() {
        assert_eq!(integer_id("-0").unwrap(), "0");
        assert_eq!(integer_id("0").unwrap(), "0");
        assert_eq!(integer_id("-12").unwrap(), "-12");
        let big = format!("1{}", "0".repeat(30));
        assert_eq!(integer_id(&big).unwrap(), big);
        let e = integer_id(&"9".repeat(MAX_ID_DIGITS + 1)).unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidSourceId);
        assert!(integer_id(&"9".repeat(MAX_ID_DIGITS)).is_ok());
        assert!(integer_id("1.5").is_err());
        assert!(integer_id("-").is_err());
    }

    #[test]
    fn source_ids_must_be_nonempty_and_free_of_nul() {
        assert!(check_source_id("q1").is_ok());
        assert_eq!(
            check_source_id("").unwrap_err().kind,
            ErrorKind::InvalidSourceId
        );
        assert_eq!(
            check_source_id("a\0").unwrap_err().kind,
            ErrorKind::InvalidSourceId
        );
        assert_eq!(
            check_name("tr\0ain", "a split name").unwrap_err().kind,
            ErrorKind::NullCharacter
        );
    }

    #[test]
    fn nul_is_found_with_its_path() {
        let mut t = Tape::new();
        let input = t.begin_object().unwrap();
        t.push_str("a").unwrap();
        let arr = t.begin_array().unwrap();
        t.push_str("fine").unwrap();
        t.push_str("x\0y").unwrap();
        t.end_array(arr, 2).unwrap();
        t.end_object(input, 1).unwrap();
        let output = t.begin_object().unwrap();
        t.push_str("k\0").unwrap();
        t.push_null().unwrap();
        t.end_object(output, 1).unwrap();
        let e = find_nul_in_example(&t, input, output, None).unwrap();
        assert_eq!(e.kind, ErrorKind::NullCharacter);
        assert_eq!(e.path(), "input.a[1]");
        let e = find_nul_in_example(&t, output, output, None).unwrap();
        assert_eq!(e.path(), "input");
        assert!(e.message.contains(r#""k\u0000""#), "{e}");
    }

    #[test]
    fn overridden_duplicates_are_skipped() {
        let mut t = Tape::new();
        let o = t.begin_object().unwrap();
        t.push_str("a").unwrap();
        t.push_str("\0").unwrap();
        t.push_str("a").unwrap();
        t.push_str("ok").unwrap();
        t.end_object(o, 2).unwrap();
        assert!(find_nul(&t, o).is_none());
    }
}
