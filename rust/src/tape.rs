//! A flat, owned representation of JSON values ("tape").
//!
//! Both front ends — the walk over Python objects and the JSONL parser — write values here;
//! the canonical writer and the upload writer read them. Nodes are stored in pre-order;
//! every container records the index just past its subtree, so a subtree is skipped in O(1).
//! String bytes live in one arena per tape, which makes a tape cheap to build, to reuse,
//! and to send to another thread (it owns everything, no Python object is referenced).

use crate::error::{Error, ErrorKind, Result};

/// A span of the tape's string arena.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    pub start: u32,
    pub len: u32,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Node {
    Null,
    Bool(bool),
    /// An integer that fits i64 (hashed as the nearest double, written exactly on upload).
    Int(i64),
    /// An integer in (i64::MAX, u64::MAX].
    UInt(u64),
    /// A finite double.
    Float(f64),
    /// A number read from JSON text whose ECMAScript text was written from its digits (see
    /// [`crate::number`]): the span holds that text, which both writers copy. Never zero;
    /// storable when read for a sync.
    Decimal {
        text: Span,
    },
    /// An integer outside the 64-bit range: its nearest double and its exact decimal text.
    BigInt {
        value: f64,
        text: Span,
    },
    /// A string; `clean` when it is known to need no escaping in JSON output (it came
    /// from JSON text without escapes, so it holds no control character, `"` or `\`).
    Str {
        span: Span,
        clean: bool,
    },
    /// A string value read from JSON text whose escapes were all in canonical form: the span
    /// holds that text between the quotes (its canonical JSON body, with escapes, never
    /// U+0000), which both writers copy as it is. Never an object key.
    Escaped {
        span: Span,
    },
    /// `len` elements follow; `end` is the index after the last node of the subtree.
    Array {
        len: u32,
        end: u32,
    },
    /// `len` (key, value) pairs follow, each key a `Str` node; `end` as for arrays.
    Object {
        len: u32,
        end: u32,
    },
}

/// Nodes plus the string arena they point into.
#[derive(Debug, Default, Clone)]
pub struct Tape {
    nodes: Vec<Node>,
    text: String,
}

const LIMIT: usize = u32::MAX as usize;

fn too_large() -> Error {
    Error::new(
        ErrorKind::InvalidArgument,
        "value too large: one batch may hold at most 4 GiB of string data and 4 billion values",
    )
}

impl Tape {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn clear(&mut self) {
        self.nodes.clear();
        self.text.clear();
    }

    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    pub fn text_len(&self) -> usize {
        self.text.len()
    }

    #[inline]
    pub fn node(&self, index: usize) -> Node {
        self.nodes[index]
    }

    #[inline]
    pub fn str_at(&self, span: Span) -> &str {
        let start = span.start as usize;
        &self.text[start..start + span.len as usize]
    }

    /// Index just past the subtree rooted at `index`.
    #[inline]
    pub fn end_of(&self, index: usize) -> usize {
        match self.nodes[index] {
            Node::Array { end, .. } | Node::Object { end, .. } => end as usize,
            _ => index + 1,
        }
    }

    fn push(&mut self, node: Node) -> Result<usize> {
        let index = self.nodes.len();
        if index >= LIMIT {
            return Err(too_large());
        }
        self.nodes.push(node);
        Ok(index)
    }

    fn intern(&mut self, s: &str) -> Result<Span> {
        let start = self.text.len();
        if start + s.len() > LIMIT {
            return Err(too_large());
        }
        self.text.push_str(s);
        Ok(Span {
            start: start as u32,
            len: s.len() as u32,
        })
    }

    pub fn push_null(&mut self) -> Result<usize> {
        self.push(Node::Null)
    }

    pub fn push_bool(&mut self, b: bool) -> Result<usize> {
        self.push(Node::Bool(b))
    }

    pub fn push_i64(&mut self, i: i64) -> Result<usize> {
        self.push(Node::Int(i))
    }

    pub fn push_u64(&mut self, u: u64) -> Result<usize> {
        match i64::try_from(u) {
            Ok(i) => self.push(Node::Int(i)),
            Err(_) => self.push(Node::UInt(u)),
        }
    }

    /// Push a double; the caller has checked that it is finite.
    pub fn push_f64(&mut self, f: f64) -> Result<usize> {
        debug_assert!(f.is_finite());
        self.push(Node::Float(f))
    }

    /// Push a number by its ECMAScript text (see [`Node::Decimal`]).
    pub fn push_decimal(&mut self, text: &str) -> Result<usize> {
        let text = self.intern(text)?;
        self.push(Node::Decimal { text })
    }

    pub fn push_big_int(&mut self, value: f64, text: &str) -> Result<usize> {
        let text = self.intern(text)?;
        self.push(Node::BigInt { value, text })
    }

    pub fn push_str(&mut self, s: &str) -> Result<usize> {
        let span = self.intern(s)?;
        self.push(Node::Str { span, clean: false })
    }

    /// Push a string known to need no escaping (see [`Node::Str`]).
    pub fn push_clean_str(&mut self, s: &str) -> Result<usize> {
        let span = self.intern(s)?;
        self.push(Node::Str { span, clean: true })
    }

    /// Push a string value as the body of its canonical JSON text (see [`Node::Escaped`]).
    pub fn push_escaped_str(&mut self, body: &str) -> Result<usize> {
        let span = self.intern(body)?;
        self.push(Node::Escaped { span })
    }

    /// Where the tape ends now, to [`Tape::reset`] it there.
    pub fn mark(&self) -> (usize, usize) {
        (self.nodes.len(), self.text.len())
    }

    /// Drop everything pushed since `mark`.
    pub fn reset(&mut self, (nodes, text): (usize, usize)) {
        self.nodes.truncate(nodes);
        self.text.truncate(text);
    }

    /// Start an array; close it with [`Tape::end_array`].
    pub fn begin_array(&mut self) -> Result<usize> {
        self.push(Node::Array { len: 0, end: 0 })
    }

    pub fn end_array(&mut self, index: usize, len: usize) -> Result<()> {
        let end = self.close(len)?;
        self.nodes[index] = Node::Array {
            len: len as u32,
            end,
        };
        Ok(())
    }

    /// Start an object; push key (`push_str`) and value pairs, then [`Tape::end_object`].
    pub fn begin_object(&mut self) -> Result<usize> {
        self.push(Node::Object { len: 0, end: 0 })
    }

    pub fn end_object(&mut self, index: usize, len: usize) -> Result<()> {
        let end = self.close(len)?;
        self.nodes[index] = Node::Object {
            len: len as u32,
            end,
        };
        Ok(())
    }

    fn close(&self, len: usize) -> Result<u32> {
        if len >= LIMIT || self.nodes.len() >= LIMIT {
            return Err(too_large());
        }
        Ok(self.nodes.len() as u32)
    }

    /// Drop everything from node `index` on (used to discard a value parsed twice, e.g. a
    /// duplicate key in a JSONL line, where the last occurrence wins).
    pub fn truncate_nodes(&mut self, index: usize) {
        self.nodes.truncate(index);
    }

    pub fn is_object(&self, index: usize) -> bool {
        matches!(self.nodes.get(index), Some(Node::Object { .. }))
    }

    /// JSON type name of a node, for error messages.
    pub fn type_name(&self, index: usize) -> &'static str {
        match self.nodes.get(index) {
            Some(Node::Null) | None => "null",
            Some(Node::Bool(_)) => "boolean",
            Some(
                Node::Int(_)
                | Node::UInt(_)
                | Node::Float(_)
                | Node::Decimal { .. }
                | Node::BigInt { .. },
            ) => "number",
            Some(Node::Str { .. } | Node::Escaped { .. }) => "string",
            Some(Node::Array { .. }) => "array",
            Some(Node::Object { .. }) => "object",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subtree_end_skips_children() {
        let mut t = Tape::new();
        let o = t.begin_object().unwrap();
        t.push_str("a").unwrap();
        let a = t.begin_array().unwrap();
        t.push_i64(1).unwrap();
        t.push_i64(2).unwrap();
        t.end_array(a, 2).unwrap();
        t.push_str("b").unwrap();
        t.push_null().unwrap();
        t.end_object(o, 2).unwrap();
        assert_eq!(t.end_of(o), t.node_count());
        assert_eq!(t.end_of(a), a + 3);
        assert_eq!(t.type_name(a), "array");
    }

    #[test]
    fn u64_that_fits_i64_is_int() {
        let mut t = Tape::new();
        let i = t.push_u64(5).unwrap();
        assert_eq!(t.node(i), Node::Int(5));
        let j = t.push_u64(u64::MAX).unwrap();
        assert_eq!(t.node(j), Node::UInt(u64::MAX));
    }
}
