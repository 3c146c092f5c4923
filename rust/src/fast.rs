//! A fast path for the common case of JSON text: a hand-written scanner that writes values
//! into the [`Tape`] without serde, and keeps strings already in canonical form (what
//! `json.dumps(..., ensure_ascii=False)` writes: only `\"`, `\\`, `\b`, `\f`, `\n`, `\r`,
//! `\t` and `\u00XX` for other control characters) as they are, so the canonical and upload
//! writers copy them instead of unescaping and escaping them again.
//!
//! It never reports an error: on anything it does not handle — invalid JSON, a number out
//! of range or not storable, nesting too deep, a lone surrogate, U+0000 — it gives up
//! (`None`), and the caller parses the text again with the serde-based reader in
//! [`crate::json`], which owns every rule's error and its place. What the fast path accepts
//! it reads exactly as that reader does (the tests compare both on the same texts).

use crate::canon::attention;
use crate::number;
use crate::storable;
use crate::tape::Tape;
use crate::MAX_DEPTH;

/// A string as scanned: its text between the quotes, and what it needs.
pub(crate) enum Text<'s> {
    /// No escapes: the text is the value.
    Clean(&'s str),
    /// Escapes, all in canonical form: the text is the value's canonical JSON body.
    Canonical(&'s str),
    /// Other escapes (`\/`, `\u00e9`, surrogate pairs): the decoded value.
    Decoded(String),
}

impl Text<'_> {
    /// The string's value (decoding canonical escapes if there are any).
    pub(crate) fn value(&self) -> std::borrow::Cow<'_, str> {
        match self {
            Text::Clean(s) => (*s).into(),
            Text::Canonical(s) => decode(s).unwrap_or_default().into(),
            Text::Decoded(s) => s.as_str().into(),
        }
    }
}

pub(crate) struct Scanner<'s> {
    text: &'s str,
    bytes: &'s [u8],
    pos: usize,
}

impl<'s> Scanner<'s> {
    pub(crate) fn new(text: &'s str) -> Self {
        Scanner {
            text,
            bytes: text.as_bytes(),
            pos: 0,
        }
    }

    #[inline]
    pub(crate) fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    #[inline]
    pub(crate) fn ws(&mut self) {
        while let Some(b' ' | b'\n' | b'\r' | b'\t') = self.peek() {
            self.pos += 1;
        }
    }

    /// Skip whitespace, then consume `b` if it is next.
    #[inline]
    pub(crate) fn eat(&mut self, b: u8) -> bool {
        self.ws();
        if self.peek() == Some(b) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    /// Whether only whitespace is left.
    pub(crate) fn at_end(&mut self) -> bool {
        self.ws();
        self.pos == self.bytes.len()
    }

    /// One value into `tape` (whitespace before it skipped); `depth` is the nesting level a
    /// container here would have. With `storable`, a float Phoenix cannot store gives up.
    pub(crate) fn value(&mut self, tape: &mut Tape, storable: bool, depth: usize) -> Option<usize> {
        self.ws();
        match self.peek()? {
            b'{' => {
                if depth > MAX_DEPTH {
                    return None;
                }
                self.pos += 1;
                let index = tape.begin_object().ok()?;
                let mut len = 0;
                if !self.eat(b'}') {
                    loop {
                        if !self.eat(b'"') {
                            return None;
                        }
                        match self.string()? {
                            Text::Clean(k) => tape.push_clean_str(k).ok()?,
                            other => tape.push_str(&other.value()).ok()?,
                        };
                        if !self.eat(b':') {
                            return None;
                        }
                        self.value(tape, storable, depth + 1)?;
                        len += 1;
                        if self.eat(b',') {
                            continue;
                        }
                        if self.eat(b'}') {
                            break;
                        }
                        return None;
                    }
                }
                tape.end_object(index, len).ok()?;
                Some(index)
            }
            b'[' => {
                if depth > MAX_DEPTH {
                    return None;
                }
                self.pos += 1;
                let index = tape.begin_array().ok()?;
                let mut len = 0;
                if !self.eat(b']') {
                    loop {
                        self.value(tape, storable, depth + 1)?;
                        len += 1;
                        if self.eat(b',') {
                            continue;
                        }
                        if self.eat(b']') {
                            break;
                        }
                        return None;
                    }
                }
                tape.end_array(index, len).ok()?;
                Some(index)
            }
            b'"' => {
                self.pos += 1;
                match self.string()? {
                    Text::Clean(s) => tape.push_clean_str(s).ok(),
                    Text::Canonical(s) => tape.push_escaped_str(s).ok(),
                    Text::Decoded(s) => tape.push_str(&s).ok(),
                }
            }
            b't' => self.literal(b"true").then(|| tape.push_bool(true).ok())?,
            b'f' => self.literal(b"false").then(|| tape.push_bool(false).ok())?,
            b'n' => self.literal(b"null").then(|| tape.push_null().ok())?,
            b'-' | b'0'..=b'9' => self.number(tape, storable),
            _ => None,
        }
    }

    /// The extent of the next value (whitespace before it skipped), checked by parsing it
    /// into `tape` and dropping it again.
    pub(crate) fn raw_value(&mut self, tape: &mut Tape) -> Option<&'s str> {
        self.ws();
        let start = self.pos;
        let mark = tape.mark();
        let parsed = self.value(tape, false, 1);
        tape.reset(mark);
        parsed?;
        Some(&self.text[start..self.pos])
    }

    fn literal(&mut self, word: &[u8]) -> bool {
        if self.bytes[self.pos..].starts_with(word) {
            self.pos += word.len();
            true
        } else {
            false
        }
    }

    /// A string, the opening quote consumed.
    pub(crate) fn string(&mut self) -> Option<Text<'s>> {
        let start = self.pos;
        let mut canonical = true;
        let mut escapes = false;
        loop {
            while let Some(word) = self
                .bytes
                .get(self.pos..)
                .and_then(|r| r.first_chunk::<8>())
            {
                let mask = attention(u64::from_le_bytes(*word));
                if mask == 0 {
                    self.pos += 8;
                } else {
                    self.pos += (mask.trailing_zeros() / 8) as usize;
                    break;
                }
            }
            match self.peek()? {
                b'"' => break,
                b'\\' => {
                    escapes = true;
                    match *self.bytes.get(self.pos + 1)? {
                        b'"' | b'\\' | b'b' | b'f' | b'n' | b'r' | b't' => self.pos += 2,
                        b'/' => {
                            canonical = false;
                            self.pos += 2;
                        }
                        b'u' => {
                            let hex = self.bytes.get(self.pos + 2..self.pos + 6)?;
                            canonical &= canonical_u_escape(hex);
                            self.pos += 6;
                        }
                        _ => return None,
                    }
                }
                0x00..=0x1F => return None,
                _ => self.pos += 1,
            }
        }
        let body = &self.text[start..self.pos];
        self.pos += 1;
        Some(match (escapes, canonical) {
            (false, _) => Text::Clean(body),
            (true, true) => Text::Canonical(body),
            (true, false) => Text::Decoded(decode(body)?),
        })
    }

    /// Skip ASCII digits, eight at a time while there are eight; how many were skipped.
    fn digits(&mut self) -> usize {
        const ONES: u64 = 0x0101_0101_0101_0101;
        let start = self.pos;
        while let Some(word) = self
            .bytes
            .get(self.pos..)
            .and_then(|r| r.first_chunk::<8>())
        {
            let x = u64::from_le_bytes(*word);
            // A byte is a digit when its high nibble is 3 and it stays so plus 6 (0x30-0x39):
            // the lowest marked byte is the first one that is not (a carry out of a marked
            // byte only reaches higher ones).
            let marks = ((x & (ONES * 0xF0)) ^ (ONES * 0x30))
                | ((x.wrapping_add(ONES * 0x06) & (ONES * 0xF0)) ^ (ONES * 0x30));
            if marks != 0 {
                self.pos += (marks.trailing_zeros() / 8) as usize;
                return self.pos - start;
            }
            self.pos += 8;
        }
        while let Some(b'0'..=b'9') = self.peek() {
            self.pos += 1;
        }
        self.pos - start
    }

    /// A number, as serde_json reads it: an integer literal as a 64-bit integer (`-0` as the
    /// double -0.0), anything else as the correctly rounded double — kept as its ECMAScript
    /// text where [`number::ecmascript_text`] can write that from the digits. Gives up on
    /// integers beyond 64 bits and on doubles that are infinite or (with `storable`) not
    /// storable.
    fn number(&mut self, tape: &mut Tape, storable: bool) -> Option<usize> {
        let start = self.pos;
        let negative = self.peek() == Some(b'-');
        if negative {
            self.pos += 1;
        }
        let int_start = self.pos;
        match self.peek()? {
            b'0' => self.pos += 1,
            b'1'..=b'9' => {
                self.digits();
            }
            _ => return None,
        }
        let int_end = self.pos;
        let mut frac = int_end..int_end;
        if self.peek() == Some(b'.') {
            self.pos += 1;
            let from = self.pos;
            if self.digits() == 0 {
                return None;
            }
            frac = from..self.pos;
        }
        let mut exp = None;
        if let Some(b'e' | b'E') = self.peek() {
            self.pos += 1;
            let exp_negative = self.peek() == Some(b'-');
            if let Some(b'+' | b'-') = self.peek() {
                self.pos += 1;
            }
            let from = self.pos;
            if self.digits() == 0 {
                return None;
            }
            exp = Some((from..self.pos, exp_negative));
        }
        if frac.is_empty() && exp.is_none() {
            let magnitude: u64 = self.text[int_start..int_end].parse().ok()?;
            return match (negative, magnitude) {
                (false, m) => tape.push_u64(m).ok(),
                (true, 0) => Self::double(tape, storable, -0.0),
                (true, m) if m <= 1 << 63 => tape.push_i64((m as i64).wrapping_neg()).ok(),
                (true, _) => None,
            };
        }
        let (exp, exp_negative) = exp.unwrap_or((self.pos..self.pos, false));
        let literal = number::Literal {
            negative,
            int: &self.bytes[int_start..int_end],
            frac: &self.bytes[frac],
            exp: &self.bytes[exp],
            exp_negative,
        };
        let mut buf = [0u8; number::TEXT_CAPACITY];
        if let Some(len) = number::ecmascript_text(&literal, storable, &mut buf) {
            return tape
                .push_decimal(std::str::from_utf8(&buf[..len]).ok()?)
                .ok();
        }
        let value = number::parse_double(&self.bytes[start..self.pos])?;
        Self::double(tape, storable, value)
    }

    fn double(tape: &mut Tape, storable: bool, value: f64) -> Option<usize> {
        if !value.is_finite() || (storable && !storable::is_storable_double(value)) {
            return None;
        }
        tape.push_f64(value).ok()
    }
}

/// Whether the four hex digits of a `\u` escape are the canonical escape of their character:
/// lowercase, a control character, not one with a short escape, not U+0000 (which a sync
/// must find, and the fast path leaves to the full reader).
fn canonical_u_escape(hex: &[u8]) -> bool {
    match *hex {
        [b'0', b'0', high @ (b'0' | b'1'), low @ (b'0'..=b'9' | b'a'..=b'f')] => {
            let low = if low <= b'9' {
                low - b'0'
            } else {
                low - b'a' + 10
            };
            let code = (high - b'0') * 16 + low;
            !matches!(code, 0x00 | 0x08 | 0x09 | 0x0A | 0x0C | 0x0D)
        }
        _ => false,
    }
}

fn hex4(hex: &[u8]) -> Option<u32> {
    let text = std::str::from_utf8(hex.get(..4)?).ok()?;
    if !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u32::from_str_radix(text, 16).ok()
}

/// Decode the body of a JSON string whose escapes are valid in form (see
/// [`Scanner::string`]); `None` for a lone surrogate or U+0000.
fn decode(body: &str) -> Option<String> {
    let bytes = body.as_bytes();
    let mut out = String::with_capacity(body.len());
    let mut run = 0;
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'\\' {
            i += 1;
            continue;
        }
        out.push_str(&body[run..i]);
        let c = match bytes[i + 1] {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => {
                let first = hex4(&bytes[i + 2..])?;
                let code = match first {
                    0xD800..=0xDBFF => {
                        if bytes.get(i + 6..i + 8)? != b"\\u" {
                            return None;
                        }
                        let second = hex4(&bytes[i + 8..])?;
                        if !(0xDC00..=0xDFFF).contains(&second) {
                            return None;
                        }
                        i += 6;
                        0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00)
                    }
                    0 | 0xDC00..=0xDFFF => return None,
                    code => code,
                };
                i += 4;
                char::from_u32(code)?
            }
            _ => return None,
        };
        out.push(c);
        i += 2;
        run = i;
    }
    out.push_str(&body[run..]);
    Some(out)
}

/// Parse a whole JSON text (one value, optional surrounding whitespace) into `tape`, or
/// give up (the tape is then left as it was).
pub(crate) fn parse_value(text: &str, tape: &mut Tape) -> Option<usize> {
    let mark = tape.mark();
    let mut s = Scanner::new(text);
    let root = s.value(tape, false, 1);
    match root {
        Some(root) if s.at_end() => Some(root),
        _ => {
            tape.reset(mark);
            None
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::canon::{write_upload_json, Canonicalizer};
    use crate::example::{parse_line_fast, parse_line_full, LineKeys};
    use crate::json::parse_value_full;

    /// A small deterministic generator (xorshift), so that the test needs no dependency.
    pub(crate) struct Rng(pub(crate) u64);

    impl Rng {
        pub(crate) fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        pub(crate) fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }

        fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
            items[self.below(items.len())]
        }
    }

    const STRING_PIECES: &[&str] = &[
        "a",
        "hello world",
        "é",
        "中文",
        "🚀",
        "\\n",
        "\\\"",
        "\\\\",
        "\\t",
        "\\r",
        "\\b",
        "\\f",
        "\\u001f",
        "\\u000b",
        "\\u0000",
        "\\u00e9",
        "\\u00E9",
        "\\u001F",
        "\\/",
        "\\ud83d\\ude80",
        "\\ud83d",
        "\\ude80",
        "\\u000a",
        "\\x",
        "\u{7f}",
        "\u{2028}",
        "\t",
        "\\u12",
        " ",
    ];

    const NUMBERS: &[&str] = &[
        "0",
        "-0",
        "1",
        "-1",
        "0.5",
        "-0.0",
        "1e3",
        "1E+3",
        "2.5e-3",
        "01",
        "1.",
        ".5",
        "-",
        "9223372036854775807",
        "9223372036854775808",
        "-9223372036854775808",
        "-9223372036854775809",
        "18446744073709551615",
        "18446744073709551616",
        "1e400",
        "1e-400",
        "18446744073709551616.0",
        "-9223372036854775809.5",
        "123456789.123456789e-5",
        "4.9e-324",
        "1.7976931348623157e308",
        "0.1",
        "1e",
        "1e+",
    ];

    fn string(rng: &mut Rng) -> String {
        let mut s = String::from("\"");
        for _ in 0..rng.below(4) {
            s.push_str(rng.pick(STRING_PIECES));
        }
        s.push('"');
        s
    }

    fn value(rng: &mut Rng, depth: usize, out: &mut String) {
        let ws = ["", " ", "\n", "\t ", "\r"];
        out.push_str(ws[rng.below(ws.len())]);
        match rng.below(if depth > 4 { 5 } else { 8 }) {
            0 => out.push_str(rng.pick(&["null", "true", "false", "nul", "True", "NaN"])),
            1 | 2 => out.push_str(rng.pick(NUMBERS)),
            3 | 4 => out.push_str(&string(rng)),
            5 | 6 => {
                out.push('{');
                for i in 0..rng.below(4) {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&string(rng));
                    out.push(':');
                    value(rng, depth + 1, out);
                }
                if rng.below(30) == 0 {
                    out.push(',');
                }
                out.push('}');
            }
            _ => {
                out.push('[');
                for i in 0..rng.below(4) {
                    if i > 0 {
                        out.push(',');
                    }
                    value(rng, depth + 1, out);
                }
                out.push(']');
            }
        }
        out.push_str(ws[rng.below(ws.len())]);
    }

    fn written(tape: &Tape, root: usize) -> (Vec<u8>, Vec<u8>) {
        let mut canonical = Vec::new();
        Canonicalizer::new().write(tape, root, &mut canonical);
        let mut upload = Vec::new();
        write_upload_json(tape, root, &mut upload);
        (canonical, upload)
    }

    #[test]
    fn fast_path_reads_what_the_full_reader_reads() {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        let mut accepted = 0;
        for _ in 0..200_000 {
            let mut text = String::new();
            value(&mut rng, 0, &mut text);
            let mut fast_tape = Tape::new();
            let Some(root) = parse_value(&text, &mut fast_tape) else {
                assert_eq!(fast_tape.node_count(), 0, "{text}");
                continue;
            };
            accepted += 1;
            let mut full_tape = Tape::new();
            let full_root = parse_value_full(&text, &mut full_tape)
                .unwrap_or_else(|e| panic!("the fast path accepted {text:?}, the reader: {e}"));
            assert_eq!(
                written(&fast_tape, root),
                written(&full_tape, full_root),
                "{text}"
            );
        }
        assert!(accepted > 50_000, "{accepted}");
    }

    #[test]
    fn fast_path_reads_lines_as_the_full_reader_does() {
        let keys = LineKeys {
            id: Some("id".into()),
            splits: Some("split".into()),
            span_id: Some("span".into()),
            node_id: Some("node".into()),
        };
        let mut rng = Rng(0x2545_F491_4F6C_DD1D);
        let fields = [
            "input", "output", "metadata", "id", "split", "span", "node", "other",
        ];
        let mut accepted = 0;
        for _ in 0..100_000 {
            let mut text = String::from("{");
            for i in 0..rng.below(6) {
                if i > 0 {
                    text.push(',');
                }
                let name = fields[rng.below(fields.len())];
                text.push_str(&format!("\"{name}\":"));
                match (name, rng.below(3)) {
                    ("input" | "output" | "metadata", 0 | 1) => {
                        text.push_str("{\"k\":");
                        value(&mut rng, 1, &mut text);
                        text.push('}');
                    }
                    ("split", 0) => text.push_str("[\" a\", null, \"b\\n\"]"),
                    _ => value(&mut rng, 3, &mut text),
                }
            }
            text.push('}');
            for storable in [false, true] {
                let mut fast_tape = Tape::new();
                let Some(fast) = parse_line_fast(&text, &keys, storable, &mut fast_tape) else {
                    continue;
                };
                accepted += 1;
                let mut full_tape = Tape::new();
                let full = parse_line_full(&text, &keys, storable, &mut full_tape)
                    .unwrap_or_else(|e| panic!("the fast path accepted {text:?}: {e}"));
                assert_eq!(
                    (&fast.id, &fast.splits, &fast.span_id, &fast.node_id),
                    (&full.id, &full.splits, &full.span_id, &full.node_id),
                    "{text}"
                );
                for (a, b) in [
                    (fast.input, full.input),
                    (fast.output, full.output),
                    (fast.metadata, full.metadata),
                ] {
                    assert_eq!(a.is_some(), b.is_some(), "{text}");
                    if let (Some(a), Some(b)) = (a, b) {
                        assert_eq!(written(&fast_tape, a), written(&full_tape, b), "{text}");
                    }
                }
            }
        }
        assert!(accepted > 20_000, "{accepted}");
    }

    #[test]
    fn canonical_strings_are_kept_and_others_decoded() {
        let mut tape = Tape::new();
        let root = parse_value(r#"["a\nb\"c\u001f", "\u00e9\/", "plain"]"#, &mut tape).unwrap();
        assert!(matches!(
            tape.node(root + 1),
            crate::tape::Node::Escaped { .. }
        ));
        assert!(matches!(
            tape.node(root + 2),
            crate::tape::Node::Str { clean: false, .. }
        ));
        assert!(matches!(
            tape.node(root + 3),
            crate::tape::Node::Str { clean: true, .. }
        ));
        let (canonical, _) = written(&tape, root);
        assert_eq!(
            canonical,
            "[\"a\\nb\\\"c\\u001f\",\"é/\",\"plain\"]".as_bytes()
        );
        // U+0000 and lone surrogates are left to the full reader.
        assert!(parse_value(r#""\u0000""#, &mut Tape::new()).is_none());
        assert!(parse_value(r#""\ud800x""#, &mut Tape::new()).is_none());
    }
}
