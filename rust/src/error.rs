//! Errors of the native core: one struct that knows what went wrong and where.
//!
//! "Where" is a JSON path inside the value (`input.turns[3].score`), plus the example index
//! (Python objects) or the line and column (JSONL). The path is collected while an error
//! unwinds out of the recursive walk, so the happy path pays nothing for it.

use std::fmt;

/// What kind of problem an [`Error`] is. Each has the name of the error class both SDKs
/// raise for it ([`ErrorKind::class_name`]); a binding raises that class (`rust/src/python`,
/// `rust/src/wasm`) — the core itself knows nothing of Python or JavaScript.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// NaN, Infinity or -Infinity: not representable in JSON.
    NonFiniteNumber,
    /// A number that does not fit an IEEE 754 double (a huge int, or `1e400` in a file); when
    /// syncing, also a number Phoenix cannot store (see [`crate::storable`]).
    NumberOutOfRange,
    /// A string or key holding an unpaired UTF-16 surrogate.
    LoneSurrogate,
    /// When syncing: a string or key holding U+0000, which PostgreSQL cannot store.
    NullCharacter,
    /// Arrays/objects nested deeper than [`crate::MAX_DEPTH`].
    NestingTooDeep,
    /// A container that contains itself.
    CircularReference,
    /// A Python value with no JSON meaning (set, bytes, complex, arbitrary objects).
    NonJsonType,
    /// A dict key that is not a `str`.
    NonStringKey,
    /// An example of the wrong shape: not a mapping, input/output missing or not objects,
    /// a splits or span id value of the wrong type.
    InvalidExample,
    /// A source id that cannot be used: of the wrong type, a non-integer number, empty, or
    /// (when syncing) holding U+0000.
    InvalidSourceId,
    /// When syncing with an id key: an example without a source id.
    MissingSourceId,
    /// A line read again for an upload no longer holds what was scanned.
    SourceChanged,
    /// A JSON text (a JSONL line) that is not valid JSON.
    JsonSyntax,
    /// A JSON text (a JSONL line) that is not valid UTF-8.
    InvalidUtf8,
    /// A JSONL line longer than the configured maximum.
    LineTooLong,
    /// The same source id on more than one incoming example.
    DuplicateId,
    /// A merge that would add, without a source id, a copy of an example the dataset holds
    /// (Phoenix's append matches it by content and adds nothing).
    DuplicateContent,
    /// A mirror sync of no examples that was not allowed to delete every example.
    EmptySource,
    /// Reading the file failed.
    Io,
    /// An argument outside its documented range.
    InvalidArgument,
    /// A bug: the core panicked (the message says where). Never the input's fault.
    Internal,
}

/// What a native error was found in: the text of one JSON value, or the examples of a source
/// (JSONL lines, Python or JavaScript values). Only syntax and encoding errors are named
/// differently for the two.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input {
    JsonText,
    Examples,
}

impl ErrorKind {
    /// The name of the error class both SDKs raise for this kind — `phoenix_upsert.errors`
    /// in Python, the errors of the `phoenix-upsert` npm package in TypeScript. `None` for
    /// the kinds each binding maps to its platform's own errors (I/O, invalid arguments).
    pub fn class_name(self, input: Input) -> Option<&'static str> {
        Some(match (self, input) {
            (ErrorKind::NonFiniteNumber, _) => "NonFiniteNumberError",
            (ErrorKind::NumberOutOfRange, _) => "NumberOutOfRangeError",
            (ErrorKind::LoneSurrogate, _) => "LoneSurrogateError",
            (ErrorKind::NullCharacter, _) => "NullCharacterError",
            (ErrorKind::NestingTooDeep, _) => "NestingTooDeepError",
            (ErrorKind::CircularReference, _) => "CircularReferenceError",
            (ErrorKind::NonJsonType, _) => "NonJSONTypeError",
            (ErrorKind::NonStringKey, _) => "NonStringKeyError",
            (ErrorKind::InvalidExample, _) => "InvalidExampleError",
            (ErrorKind::InvalidSourceId, _) => "InvalidSourceIdError",
            (ErrorKind::MissingSourceId, _) => "MissingSourceIdError",
            (ErrorKind::SourceChanged, _) => "SourceChangedError",
            (ErrorKind::JsonSyntax, Input::JsonText) => "JSONSyntaxError",
            (ErrorKind::JsonSyntax, Input::Examples) => "JSONLSyntaxError",
            (ErrorKind::InvalidUtf8, Input::JsonText) => "JSONEncodingError",
            (ErrorKind::InvalidUtf8, Input::Examples) => "JSONLEncodingError",
            (ErrorKind::LineTooLong, _) => "LineTooLongError",
            (ErrorKind::DuplicateId, _) => "DuplicateSourceIdError",
            (ErrorKind::DuplicateContent, _) => "DuplicateContentError",
            (ErrorKind::EmptySource, _) => "EmptySourceError",
            (ErrorKind::Internal, _) => "InternalError",
            (ErrorKind::Io | ErrorKind::InvalidArgument, _) => return None,
        })
    }
}

/// One step of a JSON path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathSeg {
    Key(String),
    Index(usize),
}

/// An error of the native core, with its location. Boxed: errors are rare, and a small
/// `Result` keeps the hot paths lean.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error(Box<ErrorDetails>);

/// What an [`Error`] knows; reached through `Deref`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorDetails {
    pub kind: ErrorKind,
    /// What went wrong, without the location (e.g. "NaN is not a JSON number").
    pub message: String,
    /// The JSON path, innermost step first (it is built while unwinding).
    path_rev: Vec<PathSeg>,
    /// Index of the example in the caller's sequence.
    pub index: Option<usize>,
    /// 1-based line number in a JSONL file.
    pub line: Option<u64>,
    /// 1-based byte column in that line, where known.
    pub column: Option<u64>,
    /// Duplicate ids, for [`ErrorKind::DuplicateId`].
    pub ids: Vec<String>,
    /// The example's source id, where the core knows it (a JSONL line with an id key).
    pub source_id: Option<String>,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error(Box::new(ErrorDetails {
            kind,
            message: message.into(),
            path_rev: Vec::new(),
            index: None,
            line: None,
            column: None,
            ids: Vec::new(),
            source_id: None,
        }))
    }

    /// The error for a panic caught in the core: a bug, with the panic's message.
    pub fn from_panic(panic: &(dyn std::any::Any + Send)) -> Self {
        let what = panic
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".to_owned());
        Error::new(
            ErrorKind::Internal,
            format!("bug in phoenix-upsert's native core (please report it): {what}"),
        )
    }

    /// Prepend a path step (called by each enclosing container while unwinding).
    pub fn at(mut self, seg: PathSeg) -> Self {
        self.path_rev.push(seg);
        self
    }

    pub fn at_key(self, key: &str) -> Self {
        self.at(PathSeg::Key(key.to_owned()))
    }

    pub fn at_index(self, index: usize) -> Self {
        self.at(PathSeg::Index(index))
    }

    pub fn with_index(mut self, index: usize) -> Self {
        self.index.get_or_insert(index);
        self
    }

    pub fn with_line(mut self, line: u64) -> Self {
        self.line.get_or_insert(line);
        self
    }

    pub fn with_column(mut self, column: u64) -> Self {
        self.column.get_or_insert(column);
        self
    }

    /// Name the example's source id (a source id already set is kept).
    pub fn with_source_id(mut self, id: Option<&str>) -> Self {
        if self.source_id.is_none() {
            self.source_id = id.map(str::to_owned);
        }
        self
    }

    /// The JSON path as text: `input.turns[3].score`, `metadata["a key"]`; empty at the root.
    pub fn path(&self) -> String {
        let mut out = String::new();
        for seg in self.path_rev.iter().rev() {
            match seg {
                PathSeg::Index(i) => {
                    out.push('[');
                    out.push_str(itoa::Buffer::new().format(*i));
                    out.push(']');
                }
                PathSeg::Key(k) if is_identifier(k) => {
                    if !out.is_empty() {
                        out.push('.');
                    }
                    out.push_str(k);
                }
                PathSeg::Key(k) => {
                    out.push('[');
                    // serde_json escapes exactly what a reader needs to see the key unambiguously.
                    out.push_str(&serde_json::to_string(k).unwrap_or_else(|_| k.clone()));
                    out.push(']');
                }
            }
        }
        out
    }
}

impl std::ops::Deref for Error {
    type Target = ErrorDetails;

    fn deref(&self) -> &ErrorDetails {
        &self.0
    }
}

impl std::ops::DerefMut for Error {
    fn deref_mut(&mut self) -> &mut ErrorDetails {
        &mut self.0
    }
}

/// A str the way Python's `repr` shows it (`'q1'`, `"it's"`), so that the core's messages
/// read like the ones the Python layer writes. Controls, C1 controls and line separators are
/// escaped; other characters are shown as they are.
pub fn py_repr(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || (0x7f..0xa1).contains(&(c as u32)) => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            '\u{2028}' | '\u{2029}' | '\u{feff}' => {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

fn is_identifier(key: &str) -> bool {
    let mut chars = key.chars();
    match chars.next() {
        Some(c) if c == '_' || c.is_ascii_alphabetic() => {}
        _ => return false,
    }
    chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.kind == ErrorKind::DuplicateId {
            return f.write_str(&self.message); // it names every place itself
        }
        let mut wrote = false;
        if let Some(line) = self.line {
            write!(f, "line {line}")?;
            if let Some(col) = self.column {
                write!(f, ", column {col}")?;
            }
            wrote = true;
        } else if let Some(index) = self.index {
            write!(f, "example {index}")?;
            wrote = true;
        }
        if let (true, Some(id)) = (wrote, &self.source_id) {
            write!(f, " (id {})", py_repr(id))?;
        }
        let path = self.path();
        if !path.is_empty() {
            if wrote {
                f.write_str(", ")?;
            }
            f.write_str(&path)?;
            wrote = true;
        }
        if wrote {
            f.write_str(": ")?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_is_built_innermost_first() {
        let e = Error::new(ErrorKind::NonFiniteNumber, "NaN is not a JSON number")
            .at_key("score")
            .at_index(3)
            .at_key("turns")
            .at_key("input")
            .with_index(12);
        assert_eq!(e.path(), "input.turns[3].score");
        assert_eq!(
            e.to_string(),
            "example 12, input.turns[3].score: NaN is not a JSON number"
        );
    }

    #[test]
    fn odd_keys_are_quoted() {
        let e = Error::new(ErrorKind::NonJsonType, "x")
            .at_key("a b")
            .at_key("9lives")
            .at_key("metadata");
        assert_eq!(e.path(), r#"metadata["9lives"]["a b"]"#);
    }

    #[test]
    fn source_id_follows_the_place() {
        let e = Error::new(ErrorKind::NullCharacter, "m")
            .at_key("a")
            .with_line(4)
            .with_source_id(Some("q'1"));
        assert_eq!(e.to_string(), "line 4 (id \"q'1\"), a: m");
        let e = Error::new(ErrorKind::NullCharacter, "m")
            .with_index(2)
            .with_source_id(Some("x"));
        assert_eq!(e.to_string(), "example 2 (id 'x'): m");
        assert_eq!(py_repr("a\u{0}b\\\n"), r"'a\x00b\\\n'");
    }

    #[test]
    fn line_and_column_lead() {
        let e = Error::new(ErrorKind::JsonSyntax, "expected value")
            .with_line(7)
            .with_column(3);
        assert_eq!(e.to_string(), "line 7, column 3: expected value");
    }
}
