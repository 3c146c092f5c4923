//! A column of optional strings held in one buffer: the ids of a source, of a manifest, of a
//! part of a sync.
//!
//! A column of a million ids as `Vec<Option<String>>` costs a 24-byte slot and a heap block
//! of at least 32 bytes per id; here an id costs its bytes and 8 bytes, and a column where no
//! value is present costs nothing per entry. The memory of a sync at scale is mostly such
//! columns, which is why they have a type of their own.

use serde::de::{DeserializeSeed, Deserializer, SeqAccess, Visitor};
use serde::ser::{SerializeSeq, Serializer};

/// Optional strings, one per entry, back to back in one text.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct StrColumn {
    text: String,
    /// Per entry: where it ends in `text`, shifted left once, with the low bit set when the
    /// entry is present. Empty while no entry is present (`len` counts them then).
    ends: Vec<u64>,
    len: usize,
}

impl StrColumn {
    pub fn new() -> Self {
        Self::default()
    }

    /// A column of `len` absent entries.
    pub fn absent(len: usize) -> Self {
        StrColumn {
            len,
            ..Self::default()
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether some entry is present.
    pub fn any(&self) -> bool {
        !self.ends.is_empty()
    }

    /// Entry `index`: `None` where it is absent or past the end.
    pub fn get(&self, index: usize) -> Option<&str> {
        let end = *self.ends.get(index)?;
        if end & 1 == 0 {
            return None;
        }
        let start = match index {
            0 => 0,
            _ => (self.ends[index - 1] >> 1) as usize,
        };
        Some(&self.text[start..(end >> 1) as usize])
    }

    /// Entry `index` as an owned string (for an error naming it).
    pub fn owned(&self, index: usize) -> Option<String> {
        self.get(index).map(str::to_owned)
    }

    pub fn push(&mut self, value: Option<&str>) {
        match value {
            Some(v) => {
                if self.ends.is_empty() {
                    self.ends.resize(self.len, 0);
                }
                self.text.push_str(v);
                self.ends.push(((self.text.len() as u64) << 1) | 1);
            }
            None if self.ends.is_empty() => {}
            None => self.ends.push((self.text.len() as u64) << 1),
        }
        self.len += 1;
    }

    pub fn iter(&self) -> impl ExactSizeIterator<Item = Option<&str>> + '_ {
        (0..self.len).map(|i| self.get(i))
    }

    /// Moves `other`'s entries to the end of this column.
    pub fn append(&mut self, other: &mut StrColumn) {
        if other.ends.is_empty() {
            if !self.ends.is_empty() {
                let end = (self.text.len() as u64) << 1;
                self.ends.resize(self.ends.len() + other.len, end);
            }
        } else {
            if self.ends.is_empty() {
                self.ends.resize(self.len, 0);
            }
            let shift = (self.text.len() as u64) << 1;
            self.ends.extend(other.ends.iter().map(|&e| e + shift));
            self.text.push_str(&other.text);
        }
        self.len += other.len;
        *other = StrColumn::new();
    }

    /// The entries at `indices`, in their order.
    pub fn select(&self, indices: &[usize]) -> StrColumn {
        indices.iter().map(|&i| self.get(i)).collect()
    }

    /// Gives back memory reserved while the column grew.
    pub fn shrink_to_fit(&mut self) {
        self.text.shrink_to_fit();
        self.ends.shrink_to_fit();
    }
}

impl std::fmt::Debug for StrColumn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl<S: AsRef<str>> FromIterator<Option<S>> for StrColumn {
    fn from_iter<I: IntoIterator<Item = Option<S>>>(iter: I) -> Self {
        let mut column = StrColumn::new();
        for value in iter {
            column.push(value.as_ref().map(AsRef::as_ref));
        }
        column
    }
}

impl<S: AsRef<str>> Extend<Option<S>> for StrColumn {
    fn extend<I: IntoIterator<Item = Option<S>>>(&mut self, iter: I) {
        for value in iter {
            self.push(value.as_ref().map(AsRef::as_ref));
        }
    }
}

/// As JSON: an array of strings and nulls.
impl serde::Serialize for StrColumn {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.len))?;
        for value in self.iter() {
            seq.serialize_element(&value)?;
        }
        seq.end()
    }
}

impl<'de> serde::Deserialize<'de> for StrColumn {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Entries;
        impl<'de> Visitor<'de> for Entries {
            type Value = StrColumn;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an array of strings and nulls")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<StrColumn, A::Error> {
                let mut column = StrColumn::new();
                while seq.next_element_seed(Entry(&mut column))?.is_some() {}
                column.shrink_to_fit();
                Ok(column)
            }
        }
        d.deserialize_seq(Entries)
    }
}

/// One entry of a column being read, pushed where it is read: no string is allocated for it
/// (a manifest of a million examples has two million of them).
struct Entry<'c>(&'c mut StrColumn);

impl<'de> DeserializeSeed<'de> for Entry<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_option(self)
    }
}

impl<'de> Visitor<'de> for Entry<'_> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a string or null")
    }
    fn visit_none<E: serde::de::Error>(self) -> Result<(), E> {
        self.0.push(None);
        Ok(())
    }
    fn visit_unit<E: serde::de::Error>(self) -> Result<(), E> {
        self.0.push(None);
        Ok(())
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_str(self)
    }
    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<(), E> {
        self.0.push(Some(v));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn col(values: &[Option<&str>]) -> StrColumn {
        values.iter().copied().collect()
    }

    #[test]
    fn entries_read_back_as_pushed() {
        let values = [Some("a"), None, Some(""), Some("ünï"), None];
        let c = col(&values);
        assert_eq!(c.len(), 5);
        assert!(c.any());
        assert_eq!(c.iter().collect::<Vec<_>>(), values);
        assert_eq!(c.get(5), None);
        assert_eq!(c.owned(3).as_deref(), Some("ünï"));
    }

    #[test]
    fn a_column_without_values_holds_no_entries() {
        let c = col(&[None, None, None]);
        assert_eq!(c.len(), 3);
        assert!(!c.any());
        assert!(c.ends.is_empty());
        assert_eq!(c, StrColumn::absent(3));
        assert_eq!(c.iter().collect::<Vec<_>>(), [None, None, None]);
    }

    #[test]
    fn appending_keeps_every_entry_in_order() {
        let parts: [&[Option<&str>]; 4] = [
            &[None, None],
            &[Some("x"), None],
            &[None],
            &[Some("yz"), Some("")],
        ];
        for a in parts {
            for b in parts {
                let mut left = col(a);
                left.append(&mut col(b));
                let want: Vec<_> = a.iter().chain(b).copied().collect();
                assert_eq!(left.iter().collect::<Vec<_>>(), want, "{a:?} + {b:?}");
                assert_eq!(left, col(&want), "{a:?} + {b:?}");
            }
        }
    }

    #[test]
    fn select_and_json() {
        let c = col(&[Some("a"), None, Some("c\"d")]);
        assert_eq!(
            c.select(&[2, 0, 1]).iter().collect::<Vec<_>>(),
            [Some("c\"d"), Some("a"), None]
        );
        let text = serde_json::to_string(&c).unwrap();
        assert_eq!(text, r#"["a",null,"c\"d"]"#);
        assert_eq!(serde_json::from_str::<StrColumn>(&text).unwrap(), c);
        assert!(serde_json::from_str::<StrColumn>("[1]").is_err());
    }
}
