//! The example schema, for JSON text: a JSONL line is an object with `input`, `output` and
//! optional `metadata` (parsed into the [`Tape`] by [`crate::json`]'s value visitors), plus
//! the fields a source names — its source id, split names, span id, node id — picked out and
//! checked by the rules of [`crate::storable`] as the line is parsed.

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

use crate::error::{Error, ErrorKind, Result};
use crate::fast::Scanner;
use crate::json::{Ctx, Step, ValueSeed};
use crate::storable;
use crate::strings::StrColumn;
use crate::tape::Tape;

/// Roots of one example's content in a tape (`metadata` absent means `{}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Roots {
    pub input: usize,
    pub output: usize,
    pub metadata: Option<usize>,
}

/// Which fields of a JSONL line to pick out besides input/output/metadata.
#[derive(Debug, Clone, Default)]
pub struct LineKeys {
    pub id: Option<String>,
    pub splits: Option<String>,
    pub span_id: Option<String>,
    pub node_id: Option<String>,
}

impl LineKeys {
    /// A key that names example content (`input`, `output`, `metadata`) cannot also name
    /// an id, splits or span id.
    pub fn check(&self) -> Result<()> {
        for key in [&self.id, &self.splits, &self.span_id, &self.node_id]
            .into_iter()
            .flatten()
        {
            if matches!(key.as_str(), "input" | "output" | "metadata") {
                return Err(Error::new(
                    ErrorKind::InvalidArgument,
                    format!(
                        "{key:?} holds example content and cannot also be an id, splits or \
                         span id key"
                    ),
                ));
            }
        }
        Ok(())
    }
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

impl Field {
    /// How an error names a text field's value.
    fn what(self) -> &'static str {
        match self {
            Field::SpanId => "the span id",
            _ => "the node id",
        }
    }
}

impl LineFields {
    /// Record the root of a content object (`input`, `output` or `metadata`).
    fn set_content(&mut self, field: Field, root: usize) {
        match field {
            Field::Input => self.input = Some(root),
            Field::Output => self.output = Some(root),
            _ => self.metadata = Some(root),
        }
    }

    /// Record a span id (as the server keeps it) or a node id.
    fn set_text(&mut self, field: Field, value: Option<String>) {
        match field {
            Field::SpanId => self.span_id = value.and_then(|v| span_id(&v)),
            _ => self.node_id = value,
        }
    }
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
        Ok(field_of(self.keys, v))
    }
}

/// What a key of a line names.
fn field_of(keys: &LineKeys, key: &str) -> Field {
    let is = |k: &Option<String>| k.as_deref() == Some(key);
    match key {
        "input" => Field::Input,
        "output" => Field::Output,
        "metadata" => Field::Metadata,
        _ if is(&keys.id) => Field::Id,
        _ if is(&keys.splits) => Field::Splits,
        _ if is(&keys.span_id) => Field::SpanId,
        _ if is(&keys.node_id) => Field::NodeId,
        _ => Field::Other,
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

/// A span id as the server keeps it: stripped; an empty one is none.
pub fn span_id(raw: &str) -> Option<String> {
    let t = py_strip(raw);
    (!t.is_empty()).then(|| t.to_owned())
}

/// The error for an example without a source id when the source names an id key.
pub fn missing_source_id() -> Error {
    Error::new(ErrorKind::MissingSourceId, "no source id")
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
                    fields.set_content(field, root);
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
                    let key = match field {
                        Field::SpanId => &self.keys.span_id,
                        _ => &self.keys.node_id,
                    };
                    self.ctx
                        .steps
                        .push(Step::Name(key.clone().unwrap_or_default()));
                    let value = map.next_value_seed(TextSeed {
                        ctx: &mut *self.ctx,
                        what: field.what(),
                    })?;
                    self.ctx.steps.pop();
                    fields.set_text(field, value);
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
    let mark = tape.mark();
    let fields = match parse_line_fast(text, keys, storable, tape) {
        Some(fields) => fields,
        None => {
            tape.reset(mark);
            parse_line_full(text, keys, storable, tape)?
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

/// The fast path of [`parse_line_with`] ([`crate::fast`]): content parsed by the scanner,
/// the other fields it picks out read from their text by the same seeds as the full reader.
/// `None` where it gives up (the tape may then hold part of the line).
pub(crate) fn parse_line_fast(
    text: &str,
    keys: &LineKeys,
    storable: bool,
    tape: &mut Tape,
) -> Option<LineFields> {
    let mut s = Scanner::new(text);
    let mut fields = LineFields::default();
    if !s.eat(b'{') {
        return None;
    }
    if s.eat(b'}') {
        return s.at_end().then_some(fields);
    }
    loop {
        if !s.eat(b'"') {
            return None;
        }
        let key = s.string()?;
        if !s.eat(b':') {
            return None;
        }
        match field_of(keys, &key.value()) {
            field @ (Field::Input | Field::Output | Field::Metadata) => {
                let root = s.value(tape, storable, 1)?;
                if !tape.is_object(root) {
                    return None;
                }
                fields.set_content(field, root);
            }
            Field::Id => fields.id = source_id_of_json(s.raw_value(tape)?, storable).ok()?,
            field @ (Field::SpanId | Field::NodeId) => {
                let raw = s.raw_value(tape)?;
                let mut ctx = Ctx::new(tape, raw, storable);
                let mut de = serde_json::Deserializer::from_str(raw);
                let value = TextSeed {
                    ctx: &mut ctx,
                    what: field.what(),
                }
                .deserialize(&mut de)
                .ok()?;
                fields.set_text(field, value);
            }
            Field::Splits => {
                let raw = s.raw_value(tape)?;
                let mut ctx = Ctx::new(tape, raw, storable);
                let mut de = serde_json::Deserializer::from_str(raw);
                let splits = SplitsSeed { ctx: &mut ctx }.deserialize(&mut de).ok()?;
                fields.splits = Some(splits);
            }
            Field::Other => {
                s.raw_value(tape)?;
            }
        }
        if s.eat(b',') {
            continue;
        }
        if s.eat(b'}') {
            break;
        }
        return None;
    }
    s.at_end().then_some(fields)
}

/// [`parse_line_with`] by the serde-based reader, which names every error's place.
pub(crate) fn parse_line_full(
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

/// Per-example results of a scan, in source order (of a JSONL file, or of Python objects). Columns of fields that were not asked
/// for are empty.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct ScanResult {
    /// Content hashes (empty when the scan wrote canonical texts instead: see
    /// `ScanOptions::canonical`).
    pub hashes: Vec<[u8; 16]>,
    /// With `ScanOptions::canonical`: the canonical JSON of every example, back to back
    /// (what its hash is the truncated SHA-256 of), and where each one ends.
    pub canonical: Vec<u8>,
    pub canonical_ends: Vec<u64>,
    pub ids: StrColumn,
    pub node_ids: StrColumn,
    /// `None` where the line has no splits key.
    pub splits: Vec<Option<Box<[Box<str>]>>>,
    pub span_ids: StrColumn,
    /// 1-based line numbers (with `keep_positions`).
    pub line_numbers: Vec<u64>,
    /// Byte offset of each line in the input (with `keep_positions`).
    pub offsets: Vec<u64>,
    /// Byte length of each line, without the newline (with `keep_positions`).
    pub lengths: Vec<u64>,
}

impl ScanResult {
    pub fn len(&self) -> usize {
        self.hashes.len().max(self.canonical_ends.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Where an example is: `line 7` where line numbers were kept, else `example 3`.
    pub fn place(&self, index: usize) -> String {
        match self.line_numbers.get(index) {
            Some(line) => format!("line {line}"),
            None => format!("example {index}"),
        }
    }

    /// The external id of example `index` of a Phoenix export scanned with both an id key
    /// (`id`) and a node id key (`node_id`): Phoenix exports `id` as the external id, or as
    /// the node id when the example has none.
    pub fn external_id(&self, index: usize) -> Option<&str> {
        let id = self.ids.get(index)?;
        let node = self.node_ids.get(index);
        (Some(id) != node).then_some(id)
    }

    /// The source-id rule over a whole source: no id on two examples.
    pub fn check_unique_ids(&self) -> Result<()> {
        crate::diff::check_unique_ids(self.ids.iter(), |i| self.place(i))
    }

    /// The parts of a scan, one after the other (each column allocated once, at its size).
    /// With `release`, the memory of the parts joined is given back as the join goes (see
    /// [`crate::memory`]), so that the parts and the whole are not resident at once.
    pub(crate) fn concat(parts: Vec<ScanResult>, release: bool) -> ScanResult {
        let total = |f: fn(&ScanResult) -> usize| parts.iter().map(f).sum::<usize>();
        let mut out = ScanResult {
            hashes: Vec::with_capacity(total(|p| p.hashes.len())),
            canonical: Vec::with_capacity(total(|p| p.canonical.len())),
            canonical_ends: Vec::with_capacity(total(|p| p.canonical_ends.len())),
            splits: Vec::with_capacity(total(|p| p.splits.len())),
            line_numbers: Vec::with_capacity(total(|p| p.line_numbers.len())),
            offsets: Vec::with_capacity(total(|p| p.offsets.len())),
            lengths: Vec::with_capacity(total(|p| p.lengths.len())),
            ..ScanResult::default()
        };
        for (k, mut part) in parts.into_iter().enumerate() {
            out.append(&mut part);
            drop(part);
            if release && k % 8 == 7 {
                crate::memory::release_freed();
            }
        }
        if release {
            crate::memory::release_freed();
        }
        out.ids.shrink_to_fit();
        out.node_ids.shrink_to_fit();
        out.span_ids.shrink_to_fit();
        out
    }

    pub(crate) fn append(&mut self, other: &mut ScanResult) {
        self.hashes.append(&mut other.hashes);
        let shift = self.canonical.len() as u64;
        self.canonical_ends
            .extend(other.canonical_ends.drain(..).map(|end| end + shift));
        self.canonical.append(&mut other.canonical);
        self.ids.append(&mut other.ids);
        self.node_ids.append(&mut other.node_ids);
        self.splits.append(&mut other.splits);
        self.span_ids.append(&mut other.span_ids);
        self.line_numbers.append(&mut other.line_numbers);
        self.offsets.append(&mut other.offsets);
        self.lengths.append(&mut other.lengths);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
