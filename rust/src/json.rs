//! JSON values: text → [`Tape`], on top of serde_json's parser (no intermediate `Value`).
//! The example schema on top of it is [`crate::example`].
//!
//! serde_json does the lexing (escapes, UTF-8, correctly rounded numbers with the
//! `float_roundtrip` feature); the visitors here write nodes straight into the tape and keep
//! track of the JSON path, so an error names where it happened.

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

use crate::error::{Error, ErrorKind, PathSeg, Result};
use crate::storable;
use crate::tape::{Node, Tape};
use crate::MAX_DEPTH;

/// A step of the path while parsing: keys are referenced by their tape node and only turned
/// into text if an error needs them.
#[derive(Clone)]
pub(crate) enum Step {
    Index(usize),
    KeyNode(usize),
    Field(&'static str),
    Name(String),
}

pub(crate) struct Ctx<'t> {
    pub tape: &'t mut Tape,
    pub(crate) steps: Vec<Step>,
    error: Option<Error>,
    /// Apply the rules of what Phoenix can store ([`storable`]) besides JSON's.
    pub(crate) storable: bool,
    /// The text being parsed, to turn positions of borrowed values into columns.
    text: &'t str,
    /// The line's source id, once read (to name the example in an error).
    pub(crate) id: Option<String>,
}

impl<'t> Ctx<'t> {
    pub fn new(tape: &'t mut Tape, text: &'t str, storable: bool) -> Self {
        Ctx {
            tape,
            steps: Vec::new(),
            error: None,
            storable,
            text,
            id: None,
        }
    }

    /// 1-based byte column of `part`, a slice of the text being parsed.
    pub(crate) fn column_of(&self, part: &str) -> u64 {
        let offset = (part.as_ptr() as usize).wrapping_sub(self.text.as_ptr() as usize);
        offset.min(self.text.len()) as u64 + 1
    }

    pub(crate) fn fail<E: de::Error>(&mut self, err: Error) -> E {
        self.error = Some(err);
        E::custom("phoenix-upsert error")
    }

    fn tape_result<T, E: de::Error>(&mut self, r: Result<T>) -> std::result::Result<T, E> {
        r.map_err(|e| self.fail(e))
    }

    /// Turn a failed parse into an [`Error`] carrying the path that was being parsed.
    pub fn finish_error(&mut self, err: serde_json::Error) -> Error {
        let mut out = match self.error.take() {
            // serde_json puts the position where the visitor stopped on our own errors too.
            Some(e) if err.column() > 0 => e.with_column(err.column() as u64),
            Some(e) => e,
            None => classify(&err),
        };
        for step in self.steps.iter().rev() {
            out = match *step {
                Step::Index(i) => out.at(PathSeg::Index(i)),
                Step::Field(name) => out.at(PathSeg::Key(name.to_owned())),
                Step::Name(ref name) => out.at(PathSeg::Key(name.clone())),
                Step::KeyNode(node) => match self.tape.node(node) {
                    Node::Str { span, .. } => {
                        out.at(PathSeg::Key(self.tape.str_at(span).to_owned()))
                    }
                    _ => out,
                },
            };
        }
        self.steps.clear();
        out
    }
}

/// Map a serde_json error to our kinds, keeping its column.
fn classify(err: &serde_json::Error) -> Error {
    let text = err.to_string();
    let message = match text.rfind(" at line ") {
        Some(pos) => &text[..pos],
        None => text.as_str(),
    };
    let kind = if message.contains("surrogate") || message.contains("end of hex escape") {
        ErrorKind::LoneSurrogate
    } else if message.contains("number out of range") {
        ErrorKind::NumberOutOfRange
    } else if message.contains("recursion limit") {
        ErrorKind::NestingTooDeep
    } else {
        ErrorKind::JsonSyntax
    };
    let message = match kind {
        ErrorKind::NestingTooDeep => format!("arrays and objects nest deeper than {MAX_DEPTH} levels"),
        ErrorKind::NumberOutOfRange => {
            "number out of range: it does not fit a double (Phoenix hashes every number as a double)"
                .to_owned()
        }
        ErrorKind::LoneSurrogate => {
            "a \\u escape encodes a lone surrogate, which is not valid Unicode text".to_owned()
        }
        ErrorKind::JsonSyntax if err.classify() == serde_json::error::Category::Eof => {
            format!("invalid JSON (truncated): {message}")
        }
        ErrorKind::JsonSyntax if message == "expected ident" => {
            "invalid JSON: unknown literal (JSON has true, false and null; no NaN or Infinity)"
                .to_owned()
        }
        ErrorKind::JsonSyntax => format!("invalid JSON: {message}"),
        _ => message.to_owned(),
    };
    let mut out = Error::new(kind, message);
    if err.column() > 0 {
        out = out.with_column(err.column() as u64);
    }
    out
}

/// Parses one JSON value into the tape; returns its node index.
pub(crate) struct ValueSeed<'a, 't> {
    pub ctx: &'a mut Ctx<'t>,
    /// Nesting level a container at this position would have (1 = the root container).
    pub depth: usize,
}

impl<'de> DeserializeSeed<'de> for ValueSeed<'_, '_> {
    type Value = usize;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> std::result::Result<usize, D::Error> {
        d.deserialize_any(self)
    }
}

impl ValueSeed<'_, '_> {
    fn check_depth<E: de::Error>(&mut self) -> std::result::Result<(), E> {
        if self.depth > MAX_DEPTH {
            let err = Error::new(
                ErrorKind::NestingTooDeep,
                format!("arrays and objects nest deeper than {MAX_DEPTH} levels"),
            );
            return Err(self.ctx.fail(err));
        }
        Ok(())
    }
}

impl<'de> Visitor<'de> for ValueSeed<'_, '_> {
    type Value = usize;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E: de::Error>(self) -> std::result::Result<usize, E> {
        let r = self.ctx.tape.push_null();
        self.ctx.tape_result(r)
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> std::result::Result<usize, E> {
        let r = self.ctx.tape.push_bool(v);
        self.ctx.tape_result(r)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> std::result::Result<usize, E> {
        let r = self.ctx.tape.push_i64(v);
        self.ctx.tape_result(r)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> std::result::Result<usize, E> {
        let r = self.ctx.tape.push_u64(v);
        self.ctx.tape_result(r)
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> std::result::Result<usize, E> {
        if !v.is_finite() {
            let err = Error::new(
                ErrorKind::NumberOutOfRange,
                "number out of range: it does not fit a double",
            );
            return Err(self.ctx.fail(err));
        }
        // Integer literals beyond 64 bits arrive here too (as their nearest double, which
        // lies outside the same range, so the rule is exact for them as well).
        if self.ctx.storable && !storable::is_storable_double(v) {
            return Err(self.ctx.fail(storable::not_storable()));
        }
        let r = self.ctx.tape.push_f64(v);
        self.ctx.tape_result(r)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> std::result::Result<usize, E> {
        let r = self.ctx.tape.push_str(v);
        self.ctx.tape_result(r)
    }

    // A string borrowed from the JSON text had no escapes there, so it needs none.
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> std::result::Result<usize, E> {
        let r = self.ctx.tape.push_clean_str(v);
        self.ctx.tape_result(r)
    }

    fn visit_seq<A: SeqAccess<'de>>(mut self, mut seq: A) -> std::result::Result<usize, A::Error> {
        self.check_depth()?;
        let r = self.ctx.tape.begin_array();
        let index = self.ctx.tape_result(r)?;
        let mut len = 0;
        loop {
            self.ctx.steps.push(Step::Index(len));
            let seed = ValueSeed {
                ctx: &mut *self.ctx,
                depth: self.depth + 1,
            };
            let more = seq.next_element_seed(seed)?.is_some();
            self.ctx.steps.pop();
            if !more {
                break;
            }
            len += 1;
        }
        let r = self.ctx.tape.end_array(index, len);
        self.ctx.tape_result(r)?;
        Ok(index)
    }

    fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> std::result::Result<usize, A::Error> {
        self.check_depth()?;
        let r = self.ctx.tape.begin_object();
        let index = self.ctx.tape_result(r)?;
        let mut len = 0;
        while let Some(key) = map.next_key_seed(KeySeed {
            ctx: &mut *self.ctx,
        })? {
            self.ctx.steps.push(Step::KeyNode(key));
            map.next_value_seed(ValueSeed {
                ctx: &mut *self.ctx,
                depth: self.depth + 1,
            })?;
            self.ctx.steps.pop();
            len += 1;
        }
        let r = self.ctx.tape.end_object(index, len);
        self.ctx.tape_result(r)?;
        Ok(index)
    }
}

/// An object key: pushed as a `Str` node.
struct KeySeed<'a, 't> {
    ctx: &'a mut Ctx<'t>,
}

impl<'de> DeserializeSeed<'de> for KeySeed<'_, '_> {
    type Value = usize;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> std::result::Result<usize, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeySeed<'_, '_> {
    type Value = usize;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string key")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> std::result::Result<usize, E> {
        let r = self.ctx.tape.push_str(v);
        self.ctx.tape_result(r)
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> std::result::Result<usize, E> {
        let r = self.ctx.tape.push_clean_str(v);
        self.ctx.tape_result(r)
    }
}

/// Parse a whole JSON text (one value, optional surrounding whitespace) into `tape`.
pub fn parse_value(text: &str, tape: &mut Tape) -> Result<usize> {
    match crate::fast::parse_value(text, tape) {
        Some(root) => Ok(root),
        None => parse_value_full(text, tape),
    }
}

/// [`parse_value`] by the serde-based reader alone.
pub(crate) fn parse_value_full(text: &str, tape: &mut Tape) -> Result<usize> {
    let mut ctx = Ctx::new(tape, text, false);
    let mut de = serde_json::Deserializer::from_str(text);
    let parsed = ValueSeed {
        ctx: &mut ctx,
        depth: 1,
    }
    .deserialize(&mut de)
    .and_then(|root| de.end().map(|()| root));
    parsed.map_err(|e| ctx.finish_error(e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::canon::Canonicalizer;

    fn canon(text: &str) -> Result<String> {
        let mut tape = Tape::new();
        let root = parse_value(text, &mut tape)?;
        let mut out = Vec::new();
        Canonicalizer::new().write(&tape, root, &mut out);
        Ok(String::from_utf8(out).unwrap())
    }

    #[test]
    fn canonicalizes_text() {
        assert_eq!(
            canon(r#" {"b": [1.0, 2e0, -0], "a": "\u00e9\n", "c": {}} "#).unwrap(),
            "{\"a\":\"\u{e9}\\n\",\"b\":[1,2,0],\"c\":{}}"
        );
    }

    #[test]
    fn big_integers_become_doubles() {
        assert_eq!(
            canon("[123456789012345678901234567890, 18446744073709551615]").unwrap(),
            "[1.2345678901234568e+29,18446744073709552000]"
        );
    }

    #[test]
    fn errors_name_the_path() {
        let e = canon(r#"{"a": [1, {"b": 1e400}]}"#).unwrap_err();
        assert_eq!(e.kind, ErrorKind::NumberOutOfRange);
        assert_eq!(e.path(), "a[1].b");
        let e = canon(r#"{"a": "\ud800"}"#).unwrap_err();
        assert_eq!(e.kind, ErrorKind::LoneSurrogate, "{e}");
        assert_eq!(e.path(), "a");
        let e = canon(r#"{"a": [1, 2"#).unwrap_err();
        assert_eq!(e.kind, ErrorKind::JsonSyntax);
        assert!(e.message.contains("truncated"), "{e}");
        let e = canon("[NaN]").unwrap_err();
        assert_eq!(e.kind, ErrorKind::JsonSyntax);
    }

    #[test]
    fn depth_is_limited() {
        let ok = format!("{}{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        assert!(canon(&ok).is_ok());
        let deep = format!("{}{}", "[".repeat(MAX_DEPTH + 1), "]".repeat(MAX_DEPTH + 1));
        assert_eq!(canon(&deep).unwrap_err().kind, ErrorKind::NestingTooDeep);
        let deeper = "[".repeat(100_000);
        assert_eq!(canon(&deeper).unwrap_err().kind, ErrorKind::NestingTooDeep);
    }
}
