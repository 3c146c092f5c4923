//! JSON text → [`Tape`], on top of serde_json's parser (no intermediate `Value`).
//!
//! serde_json does the lexing (escapes, UTF-8, correctly rounded numbers with the
//! `float_roundtrip` feature); the visitors here write nodes straight into the tape and keep
//! track of the JSON path, so an error names where it happened.

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

use crate::error::{Error, ErrorKind, PathSeg, Result};
use crate::storable;
use crate::tape::{Node, Tape};
use crate::MAX_DEPTH;

/// A step of the path while parsing: keys are referenced by their tape node and only turned
/// into text if an error needs them.
#[derive(Clone)]
enum Step {
    Index(usize),
    KeyNode(usize),
    Field(&'static str),
    Name(String),
}

pub(crate) struct Ctx<'t> {
    pub tape: &'t mut Tape,
    steps: Vec<Step>,
    error: Option<Error>,
    /// Apply the rules of what Phoenix can store ([`storable`]) besides JSON's.
    storable: bool,
    /// The text being parsed, to turn positions of borrowed values into columns.
    text: &'t str,
    /// The line's source id, once read (to name the example in an error).
    id: Option<String>,
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
    fn column_of(&self, part: &str) -> u64 {
        let offset = (part.as_ptr() as usize).wrapping_sub(self.text.as_ptr() as usize);
        offset.min(self.text.len()) as u64 + 1
    }

    fn fail<E: de::Error>(&mut self, err: Error) -> E {
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

/// Which fields of a JSONL line to pick out besides input/output/metadata.
#[derive(Debug, Clone, Default)]
pub struct LineKeys {
    pub id: Option<String>,
    pub splits: Option<String>,
    pub span_id: Option<String>,
    pub node_id: Option<String>,
}

/// The fields of one parsed JSONL line.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct LineFields {
    pub input: Option<usize>,
    pub output: Option<usize>,
    pub metadata: Option<usize>,
    pub id: Option<String>,
    /// `None`: the splits key is absent; `Some`: normalized split names (maybe none).
    pub splits: Option<Vec<String>>,
    pub span_id: Option<String>,
    pub node_id: Option<String>,
}

#[derive(Clone, Copy)]
enum Field {
    Input,
    Output,
    Metadata,
    Id,
    Splits,
    SpanId,
    NodeId,
    Other,
}

struct FieldSeed<'k> {
    keys: &'k LineKeys,
}

impl<'de> DeserializeSeed<'de> for FieldSeed<'_> {
    type Value = Field;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> std::result::Result<Field, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for FieldSeed<'_> {
    type Value = Field;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string key")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> std::result::Result<Field, E> {
        let is = |k: &Option<String>| k.as_deref() == Some(v);
        Ok(match v {
            "input" => Field::Input,
            "output" => Field::Output,
            "metadata" => Field::Metadata,
            _ if is(&self.keys.id) => Field::Id,
            _ if is(&self.keys.splits) => Field::Splits,
            _ if is(&self.keys.span_id) => Field::SpanId,
            _ if is(&self.keys.node_id) => Field::NodeId,
            _ => Field::Other,
        })
    }
}

/// A text field of a line besides the source id: a span id, a node id, a split name.
struct TextSeed<'a, 't> {
    ctx: &'a mut Ctx<'t>,
    what: &'static str,
}

impl<'de> DeserializeSeed<'de> for TextSeed<'_, '_> {
    type Value = Option<String>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> std::result::Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl TextSeed<'_, '_> {
    fn wrong<E: de::Error>(self, got: &str) -> E {
        let err = Error::new(
            ErrorKind::InvalidExample,
            format!("{} must be a string or null, got {got}", self.what),
        );
        self.ctx.fail(err)
    }
}

impl<'de> Visitor<'de> for TextSeed<'_, '_> {
    type Value = Option<String>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_unit<E: de::Error>(self) -> std::result::Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> std::result::Result<Self::Value, E> {
        if self.ctx.storable {
            if let Err(e) = storable::check_name(v, self.what) {
                return Err(self.ctx.fail(e));
            }
        }
        Ok(Some(v.to_owned()))
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> std::result::Result<Self::Value, E> {
        Err(self.wrong("a number"))
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> std::result::Result<Self::Value, E> {
        Err(self.wrong("a number"))
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> std::result::Result<Self::Value, E> {
        Err(self.wrong("a number"))
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> std::result::Result<Self::Value, E> {
        Err(self.wrong("a boolean"))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> std::result::Result<Self::Value, A::Error> {
        Err(self.wrong("an array"))
    }

    fn visit_map<A: MapAccess<'de>>(self, _: A) -> std::result::Result<Self::Value, A::Error> {
        Err(self.wrong("an object"))
    }
}

/// The source id a JSON value stands for (`None` for null), by the rule every source follows:
/// a string as it is, an integer (a literal without fraction or exponent, of any size) as its
/// decimal text the way Python's `str(int)` writes it — so `-0` is `"0"`. Other numbers and
/// other types are errors; so are, with `storable`, an empty string and U+0000
/// ([`storable::check_source_id`]).
pub fn source_id_of_json(raw: &str, storable: bool) -> Result<Option<String>> {
    let wrong = |got: &str| {
        Error::new(
            ErrorKind::InvalidSourceId,
            format!("the source id must be a string or an integer, got {got}"),
        )
    };
    match raw.as_bytes().first() {
        Some(b'"') => {
            let id: String = serde_json::from_str(raw).map_err(|_| {
                Error::new(
                    ErrorKind::InvalidSourceId,
                    "the source id holds a lone surrogate (a \\u escape of half a UTF-16 pair), \
                     which is not valid Unicode text",
                )
            })?;
            if storable {
                storable::check_source_id(&id)?;
            }
            Ok(Some(id))
        }
        Some(b'n') => Ok(None),
        Some(b't' | b'f') => Err(wrong("a boolean")),
        Some(b'[') => Err(wrong("an array")),
        Some(b'{') => Err(wrong("an object")),
        Some(b'-' | b'0'..=b'9') if raw.bytes().any(|b| matches!(b, b'.' | b'e' | b'E')) => {
            Err(wrong(&format!("the non-integer number {raw}")))
        }
        Some(b'-' | b'0'..=b'9') => storable::integer_id(raw).map(Some),
        _ => Err(wrong("something else")),
    }
}

/// Python's `str.strip()` whitespace: Unicode White_Space plus the separators U+001C..U+001F.
pub fn py_strip(s: &str) -> &str {
    s.trim_matches(|c: char| c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c))
}

/// Normalize split names as Phoenix does: strip whitespace, drop empty names; then sort and
/// de-duplicate (a split assignment is a set).
pub fn normalize_splits<I: IntoIterator<Item = String>>(names: I) -> Vec<String> {
    let mut out: Vec<String> = names
        .into_iter()
        .filter_map(|n| {
            let t = py_strip(&n);
            (!t.is_empty()).then(|| t.to_owned())
        })
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

/// A splits value: a string, an array of strings (nulls skipped), or null.
struct SplitsSeed<'a, 't> {
    ctx: &'a mut Ctx<'t>,
}

impl<'de> DeserializeSeed<'de> for SplitsSeed<'_, '_> {
    type Value = Vec<String>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> std::result::Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl SplitsSeed<'_, '_> {
    fn wrong<E: de::Error>(self, got: &str) -> E {
        let err = Error::new(
            ErrorKind::InvalidExample,
            format!("splits must be a string, an array of strings or null, got {got}"),
        );
        self.ctx.fail(err)
    }
}

impl<'de> Visitor<'de> for SplitsSeed<'_, '_> {
    type Value = Vec<String>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("split names")
    }

    fn visit_unit<E: de::Error>(self) -> std::result::Result<Self::Value, E> {
        Ok(Vec::new())
    }

    fn visit_str<E: de::Error>(self, v: &str) -> std::result::Result<Self::Value, E> {
        if self.ctx.storable {
            if let Err(e) = storable::check_name(v, "a split name") {
                return Err(self.ctx.fail(e));
            }
        }
        Ok(normalize_splits([v.to_owned()]))
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> std::result::Result<Self::Value, E> {
        Err(self.wrong("a boolean"))
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> std::result::Result<Self::Value, E> {
        Err(self.wrong("a number"))
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> std::result::Result<Self::Value, E> {
        Err(self.wrong("a number"))
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> std::result::Result<Self::Value, E> {
        Err(self.wrong("a number"))
    }

    fn visit_map<A: MapAccess<'de>>(self, _: A) -> std::result::Result<Self::Value, A::Error> {
        Err(self.wrong("an object"))
    }

    fn visit_seq<A: SeqAccess<'de>>(
        self,
        mut seq: A,
    ) -> std::result::Result<Self::Value, A::Error> {
        let mut names = Vec::new();
        let mut i = 0;
        loop {
            self.ctx.steps.push(Step::Index(i));
            let seed = TextSeed {
                ctx: &mut *self.ctx,
                what: "a split name",
            };
            match seq.next_element_seed(seed)? {
                Some(Some(name)) => names.push(name),
                Some(None) => {}
                None => {
                    self.ctx.steps.pop();
                    break;
                }
            }
            self.ctx.steps.pop();
            i += 1;
        }
        Ok(normalize_splits(names))
    }
}

/// The top level of a JSONL line: an object whose fields are picked out by [`LineKeys`].
struct LineSeed<'a, 't, 'k> {
    ctx: &'a mut Ctx<'t>,
    keys: &'k LineKeys,
}

impl<'de> DeserializeSeed<'de> for LineSeed<'_, '_, '_> {
    type Value = LineFields;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> std::result::Result<LineFields, D::Error> {
        d.deserialize_any(self)
    }
}

impl LineSeed<'_, '_, '_> {
    fn not_object<E: de::Error>(self, got: &str) -> E {
        let err = Error::new(
            ErrorKind::InvalidExample,
            format!("each line must be a JSON object, got {got}"),
        );
        self.ctx.fail(err)
    }
}

impl<'de> Visitor<'de> for LineSeed<'_, '_, '_> {
    type Value = LineFields;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_unit<E: de::Error>(self) -> std::result::Result<LineFields, E> {
        Err(self.not_object("null"))
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> std::result::Result<LineFields, E> {
        Err(self.not_object("a boolean"))
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> std::result::Result<LineFields, E> {
        Err(self.not_object("a number"))
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> std::result::Result<LineFields, E> {
        Err(self.not_object("a number"))
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> std::result::Result<LineFields, E> {
        Err(self.not_object("a number"))
    }

    fn visit_str<E: de::Error>(self, _: &str) -> std::result::Result<LineFields, E> {
        Err(self.not_object("a string"))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> std::result::Result<LineFields, A::Error> {
        Err(self.not_object("an array"))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<LineFields, A::Error> {
        let mut fields = LineFields::default();
        while let Some(field) = map.next_key_seed(FieldSeed { keys: self.keys })? {
            match field {
                Field::Input | Field::Output | Field::Metadata => {
                    let name = match field {
                        Field::Input => "input",
                        Field::Output => "output",
                        _ => "metadata",
                    };
                    self.ctx.steps.push(Step::Field(name));
                    let root = map.next_value_seed(ValueSeed {
                        ctx: &mut *self.ctx,
                        depth: 1,
                    })?;
                    if !self.ctx.tape.is_object(root) {
                        let got = self.ctx.tape.type_name(root);
                        let err = Error::new(
                            ErrorKind::InvalidExample,
                            format!("must be a JSON object, got {got}"),
                        );
                        return Err(self.ctx.fail(err));
                    }
                    self.ctx.steps.pop();
                    match field {
                        Field::Input => fields.input = Some(root),
                        Field::Output => fields.output = Some(root),
                        _ => fields.metadata = Some(root),
                    }
                }
                Field::Id => {
                    // Read raw, to tell an integer literal from a float (serde_json hands
                    // both to `visit_f64` beyond 64 bits, and `-0` as a float).
                    let raw: &'de RawValue = map.next_value()?;
                    match source_id_of_json(raw.get(), self.ctx.storable) {
                        Ok(id) => {
                            self.ctx.id.clone_from(&id);
                            fields.id = id;
                        }
                        Err(e) => {
                            let e = e.with_column(self.ctx.column_of(raw.get()));
                            return Err(self.ctx.fail(e));
                        }
                    }
                }
                Field::SpanId | Field::NodeId => {
                    let (what, key) = match field {
                        Field::SpanId => ("the span id", &self.keys.span_id),
                        _ => ("the node id", &self.keys.node_id),
                    };
                    self.ctx
                        .steps
                        .push(Step::Name(key.clone().unwrap_or_default()));
                    let value = map.next_value_seed(TextSeed {
                        ctx: &mut *self.ctx,
                        what,
                    })?;
                    self.ctx.steps.pop();
                    match field {
                        Field::SpanId => fields.span_id = value,
                        _ => fields.node_id = value,
                    }
                }
                Field::Splits => {
                    let key = self.keys.splits.clone().unwrap_or_default();
                    self.ctx.steps.push(Step::Name(key));
                    fields.splits = Some(map.next_value_seed(SplitsSeed {
                        ctx: &mut *self.ctx,
                    })?);
                    self.ctx.steps.pop();
                }
                Field::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(fields)
    }
}

/// Parse one JSONL line (already known to be valid UTF-8) into `tape`, by the JSON rules.
pub fn parse_line(text: &str, keys: &LineKeys, tape: &mut Tape) -> Result<LineFields> {
    parse_line_with(text, keys, false, tape)
}

/// Parse one JSONL line into `tape`; with `storable`, also by the rules of what Phoenix can
/// store ([`storable`]: numbers and U+0000 in the id, split names and span id here; U+0000 in
/// content is found while hashing, see [`crate::jsonl`]). An error names the line's source
/// id when the line has a readable one.
pub fn parse_line_with(
    text: &str,
    keys: &LineKeys,
    storable: bool,
    tape: &mut Tape,
) -> Result<LineFields> {
    let mut ctx = Ctx::new(tape, text, storable);
    let mut de = serde_json::Deserializer::from_str(text);
    let parsed = LineSeed {
        ctx: &mut ctx,
        keys,
    }
    .deserialize(&mut de)
    .and_then(|fields| de.end().map(|()| fields));
    let fields = match parsed {
        Ok(fields) => fields,
        Err(e) => {
            let err = ctx.finish_error(e);
            if err.kind == ErrorKind::InvalidSourceId || keys.id.is_none() {
                return Err(err);
            }
            // The id may come after the place of the error: read it on its own.
            let id = ctx.id.take().or_else(|| line_id(text, keys, storable));
            return Err(err.with_source_id(id.as_deref()));
        }
    };
    for (present, name) in [(fields.input, "input"), (fields.output, "output")] {
        if present.is_none() {
            return Err(Error::new(
                ErrorKind::InvalidExample,
                format!("missing required key \"{name}\""),
            )
            .with_source_id(fields.id.as_deref()));
        }
    }
    Ok(fields)
}

/// The source id of a line, read on its own (`None` if the line is not valid JSON, or has
/// no usable id).
fn line_id(text: &str, keys: &LineKeys, storable: bool) -> Option<String> {
    struct IdOnly<'k> {
        key: &'k str,
        storable: bool,
    }
    impl<'de> Visitor<'de> for IdOnly<'_> {
        type Value = Option<String>;

        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a JSON object")
        }

        fn visit_map<A: MapAccess<'de>>(
            self,
            mut map: A,
        ) -> std::result::Result<Self::Value, A::Error> {
            let mut id = None;
            while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                if key == self.key {
                    let raw: &'de RawValue = map.next_value()?;
                    id = source_id_of_json(raw.get(), self.storable).ok().flatten();
                } else {
                    map.next_value::<IgnoredAny>()?;
                }
            }
            Ok(id)
        }
    }
    let key = keys.id.as_deref()?;
    let mut de = serde_json::Deserializer::from_str(text);
    de.deserialize_map(IdOnly { key, storable }).ok().flatten()
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

    #[test]
    fn line_fields() {
        let keys = LineKeys {
            id: Some("id".into()),
            splits: Some("splits".into()),
            ..Default::default()
        };
        let mut tape = Tape::new();
        let f = parse_line(
            r#"{"id": 7, "input": {"q": 1}, "output": {}, "splits": [" b", null, "a", "b", ""], "x": [1]}"#,
            &keys,
            &mut tape,
        )
        .unwrap();
        assert_eq!(f.id.as_deref(), Some("7"));
        assert_eq!(f.splits, Some(vec!["a".to_owned(), "b".to_owned()]));
        assert!(f.metadata.is_none());

        let e = parse_line(r#"{"input": {}}"#, &keys, &mut tape).unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidExample);
        assert!(e.message.contains("\"output\""));
        let e = parse_line(r#"{"input": [], "output": {}}"#, &keys, &mut tape).unwrap_err();
        assert_eq!(e.to_string(), "input: must be a JSON object, got array");
        let e = parse_line(
            r#"{"id": 1.5, "input": {}, "output": {}}"#,
            &keys,
            &mut tape,
        )
        .unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidSourceId);
        assert!(e.message.contains("the source id must be"), "{e}");
        assert_eq!(e.column, Some(8));
        let e = parse_line(
            r#"{"input": {}, "output": {}, "splits": [1]}"#,
            &keys,
            &mut tape,
        )
        .unwrap_err();
        assert_eq!(e.path(), "splits[0]");
        let e = parse_line("[1]", &keys, &mut tape).unwrap_err();
        assert!(e.message.contains("must be a JSON object"));
    }

    fn keys() -> LineKeys {
        LineKeys {
            id: Some("id".into()),
            splits: Some("splits".into()),
            span_id: Some("span_id".into()),
            ..Default::default()
        }
    }

    fn line_id(value: &str, storable: bool) -> Result<Option<String>> {
        let text = format!(r#"{{"input": {{}}, "output": {{}}, "id": {value}}}"#);
        parse_line_with(&text, &keys(), storable, &mut Tape::new()).map(|f| f.id)
    }

    #[test]
    fn integer_ids_are_their_decimal_text() {
        let big = format!("-{}", "9".repeat(40));
        for (literal, text) in [
            ("7", "7"),
            ("-0", "0"),
            ("0", "0"),
            ("-12", "-12"),
            ("18446744073709551616", "18446744073709551616"),
            (big.as_str(), big.as_str()),
        ] {
            assert_eq!(line_id(literal, false).unwrap().as_deref(), Some(text));
            assert_eq!(line_id(literal, true).unwrap().as_deref(), Some(text));
        }
        assert_eq!(
            line_id(r#""a\u00e9""#, true).unwrap().as_deref(),
            Some("a\u{e9}")
        );
        assert_eq!(line_id("null", true).unwrap(), None);
        for bad in ["1.0", "1e2", "-0.0", "1E400", "true", "[1]", "{}"] {
            let e = line_id(bad, false).unwrap_err();
            assert_eq!(e.kind, ErrorKind::InvalidSourceId, "{bad}");
            assert_eq!(e.path(), "", "{bad}");
        }
        // Only a sync insists on a usable text.
        assert_eq!(line_id(r#""""#, false).unwrap().as_deref(), Some(""));
        for bad in [r#""""#, r#""a\u0000""#, r#""\ud800""#] {
            let e = line_id(bad, true).unwrap_err();
            assert_eq!(e.kind, ErrorKind::InvalidSourceId, "{bad}: {e}");
        }
    }

    fn storable_line(text: &str) -> Result<LineFields> {
        parse_line_with(text, &keys(), true, &mut Tape::new())
    }

    #[test]
    fn numbers_phoenix_cannot_store() {
        for n in [
            "1e21",
            "-1e19",
            "1.5e300",
            "18446744073709551616",
            "-9223372036854775809",
            "-9223372036854775808.0",
            "1e400",
        ] {
            let text = format!(r#"{{"id": "q", "input": {{"a": [0, {n}]}}, "output": {{}}}}"#);
            let e = storable_line(&text).unwrap_err();
            assert_eq!(e.kind, ErrorKind::NumberOutOfRange, "{n}");
            assert_eq!(e.path(), "input.a[1]", "{n}");
            assert_eq!(e.source_id.as_deref(), Some("q"), "{n}");
            // Plain hashing takes them all, but the one beyond a double.
            let plain = parse_line(&text, &keys(), &mut Tape::new());
            assert_eq!(plain.is_ok(), n != "1e400", "{n}");
        }
        for n in [
            "18446744073709551615",
            "-9223372036854775808",
            "1e19",
            "1.8446744073709550e19",
            "-9.223372036854775e18",
            "-0",
            "0.5",
            "1e-300",
        ] {
            let text = format!(r#"{{"input": {{"a": {n}}}, "output": {{}}}}"#);
            assert!(storable_line(&text).is_ok(), "{n}");
        }
    }

    #[test]
    fn the_source_id_is_named_wherever_it_is() {
        let e = storable_line(r#"{"input": {"a": 1e30}, "output": {}, "id": 12}"#).unwrap_err();
        assert_eq!(e.source_id.as_deref(), Some("12"));
        let e = storable_line(r#"{"input": {"a": 1e30}, "output": {}}"#).unwrap_err();
        assert_eq!(e.source_id, None);
        let e = storable_line(r#"{"id": "x", "input": {}}"#).unwrap_err();
        assert_eq!(e.source_id.as_deref(), Some("x"));
        let e = storable_line(r#"{"input": {"a": 1e30}, "output": {}, "id": 1.5}"#).unwrap_err();
        assert_eq!(e.kind, ErrorKind::NumberOutOfRange);
        assert_eq!(e.source_id, None);
    }

    #[test]
    fn nul_in_names() {
        let e = storable_line(r#"{"input": {}, "output": {}, "splits": ["a", "b\u0000"]}"#)
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::NullCharacter);
        assert_eq!(e.path(), "splits[1]");
        let e = storable_line(r#"{"input": {}, "output": {}, "splits": "\u0000"}"#).unwrap_err();
        assert_eq!(e.path(), "splits");
        let e = storable_line(r#"{"input": {}, "output": {}, "span_id": "\u0000"}"#).unwrap_err();
        assert_eq!(e.path(), "span_id");
        let plain = r#"{"input": {"\u0000": "\u0000"}, "output": {}, "span_id": "\u0000"}"#;
        assert!(parse_line(plain, &keys(), &mut Tape::new()).is_ok());
    }
}
