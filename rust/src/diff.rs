//! The keyed diff: Phoenix's own matching rules (`_diff_examples` in
//! `phoenix/db/insertion/dataset.py`), run on the client.
//!
//! For each incoming example, in order:
//! 1. with an id: match only by that id — as a node id if it is a `DatasetExample` GlobalID,
//!    otherwise as an external id (even a match already taken by an id-less example counts);
//! 2. without an id: match the first not-yet-matched previous example with the same hash;
//! 3. no match: added. A match with the same hash is unchanged, with another hash updated.
//!
//! Previous examples left unmatched are deleted (unless merging).

use std::collections::HashMap;

use foldhash::fast::RandomState;
use rayon::prelude::*;

use crate::error::{py_repr, Error, ErrorKind, Result};
use crate::node_id::{example_node_id, example_row_id, NodeId};

/// A previous (server-side) example.
#[derive(Debug, Clone, Copy)]
pub struct Previous<'a> {
    /// The `DatasetExample` GlobalID.
    pub node_id: &'a str,
    pub external_id: Option<&'a str>,
    pub hash: [u8; 16],
}

/// An incoming (source) example.
#[derive(Debug, Clone, Copy)]
pub struct Incoming<'a> {
    pub id: Option<&'a str>,
    pub hash: [u8; 16],
}

/// Classes of a diff, as indices into the two inputs, each in input order.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct DiffResult {
    /// Incoming examples with no match.
    pub added: Vec<u32>,
    /// (incoming, previous) pairs whose hashes differ.
    pub updated: Vec<(u32, u32)>,
    /// (incoming, previous) pairs with equal hashes.
    pub unchanged: Vec<(u32, u32)>,
    /// Previous examples with no match (empty when merging).
    pub deleted: Vec<u32>,
    /// Incoming ids that are node ids of examples that are not in the previous set. Phoenix
    /// rejects those ("No examples found in this dataset with the following IDs").
    pub unknown_node_ids: Vec<u32>,
}

type Map<K, V> = HashMap<K, V, RandomState>;

/// Previous examples by content hash: (cursor past the matched ones, candidates in order).
type HashBuckets = Map<[u8; 16], (usize, Vec<u32>)>;

/// Fail if a source id occurs on more than one example; the error lists them with their
/// places (`place(i)`: `example 3`, `line 7`), at most ten ids and four places each, and
/// points at the first repeat. The one rule and message for every source.
pub fn check_unique_ids<'a>(
    ids: impl IntoIterator<Item = Option<&'a str>>,
    place: impl Fn(usize) -> String,
) -> Result<()> {
    let mut first: Map<&str, usize> = Map::default();
    // In order of first occurrence: the id and where it occurs.
    let mut repeats: Vec<(&str, Vec<usize>)> = Vec::new();
    let mut repeat_of: Map<&str, usize> = Map::default();
    for (i, id) in ids.into_iter().enumerate() {
        let Some(id) = id else { continue };
        match first.get(id) {
            None => {
                first.insert(id, i);
            }
            Some(&f) => {
                let k = *repeat_of.entry(id).or_insert_with(|| {
                    repeats.push((id, vec![f]));
                    repeats.len() - 1
                });
                repeats[k].1.push(i);
            }
        }
    }
    if repeats.is_empty() {
        return Ok(());
    }
    let shown: Vec<String> = repeats
        .iter()
        .take(10)
        .map(|(id, places)| {
            let at: Vec<String> = places.iter().take(4).map(|&i| place(i)).collect();
            format!("{} ({})", py_repr(id), at.join(", "))
        })
        .collect();
    let more = if repeats.len() > 10 {
        format!(" and {} more", repeats.len() - 10)
    } else {
        String::new()
    };
    let (index, id) = repeats
        .iter()
        .map(|(id, places)| (places[1], *id))
        .min()
        .unwrap_or_default();
    let mut err = Error::new(
        ErrorKind::DuplicateId,
        format!(
            "{} source id(s) occur more than once: {}{more}",
            repeats.len(),
            shown.join(", ")
        ),
    );
    err.ids = repeats.iter().map(|(id, _)| (*id).to_owned()).collect();
    err.index = Some(index);
    err.source_id = Some(id.to_owned());
    Err(err)
}

/// Where an incoming example's id points, found in parallel before classifying in order.
#[derive(Clone, Copy)]
enum Lookup {
    /// No id: match by content hash, in order.
    ByHash,
    /// An external id, with the previous example it names (if any).
    External(Option<u32>),
    /// A `DatasetExample` node id, as a row id.
    Row(i64),
    /// A `DatasetExample` node id beyond 64 bits: no example has it.
    NoRow,
}

/// The previous examples as the diff reads them: a slice of [`Previous`], or a dataset's
/// columns, read where they are (a million examples copied into `Previous` values would
/// cost 48 MB).
pub trait PreviousExamples: Sync {
    fn len(&self) -> usize;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The `DatasetExample` GlobalID of example `p`.
    fn node_id(&self, p: usize) -> &str;
    fn external_id(&self, p: usize) -> Option<&str>;
    fn hash(&self, p: usize) -> [u8; 16];
}

/// The incoming examples as the diff reads them: a slice of [`Incoming`], or a source's
/// columns.
pub trait IncomingExamples: Sync {
    fn len(&self) -> usize;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    fn id(&self, i: usize) -> Option<&str>;
    fn hash(&self, i: usize) -> [u8; 16];
}

impl PreviousExamples for [Previous<'_>] {
    fn len(&self) -> usize {
        <[Previous<'_>]>::len(self)
    }
    fn node_id(&self, p: usize) -> &str {
        self[p].node_id
    }
    fn external_id(&self, p: usize) -> Option<&str> {
        self[p].external_id
    }
    fn hash(&self, p: usize) -> [u8; 16] {
        self[p].hash
    }
}

impl IncomingExamples for [Incoming<'_>] {
    fn len(&self) -> usize {
        <[Incoming<'_>]>::len(self)
    }
    fn id(&self, i: usize) -> Option<&str> {
        self[i].id
    }
    fn hash(&self, i: usize) -> [u8; 16] {
        self[i].hash
    }
}

/// Classify `incoming` against `previous` (see the module docs).
pub fn diff(
    previous: &[Previous<'_>],
    incoming: &[Incoming<'_>],
    merge: bool,
) -> Result<DiffResult> {
    diff_examples(previous, incoming, merge)
}

/// [`diff`] of examples wherever they are held.
pub fn diff_examples<P, I>(previous: &P, incoming: &I, merge: bool) -> Result<DiffResult>
where
    P: PreviousExamples + ?Sized,
    I: IncomingExamples + ?Sized,
{
    let (n_prev, n_inc) = (previous.len(), incoming.len());
    if n_prev >= u32::MAX as usize || n_inc >= u32::MAX as usize {
        return Err(Error::new(ErrorKind::InvalidArgument, "too many examples"));
    }
    // One index at a time: at scale, memory matters more than overlapping the two.
    check_unique_ids((0..n_inc).map(|i| incoming.id(i)), |i| {
        format!("example {i}")
    })?;
    let mut by_external: Map<&str, u32> =
        Map::with_capacity_and_hasher(n_prev, RandomState::default());
    for p in 0..n_prev {
        if let Some(ext) = previous.external_id(p) {
            by_external.insert(ext, p as u32);
        }
    }
    let lookups: Vec<Lookup> = (0..n_inc)
        .into_par_iter()
        .with_min_len(4096)
        .map(|i| match incoming.id(i) {
            None => Lookup::ByHash,
            Some(id) => match example_node_id(id) {
                Some(NodeId::Row(row)) => Lookup::Row(row),
                Some(NodeId::OutOfRange) => Lookup::NoRow,
                None => Lookup::External(by_external.get(id).copied()),
            },
        })
        .collect();
    drop(by_external);

    // Built on first use: most syncs have neither node ids nor id-less examples.
    let mut by_row: Option<Map<i64, u32>> = None;
    let mut by_hash: Option<HashBuckets> = None;
    let mut matched = vec![false; n_prev];
    let mut out = DiffResult::default();
    for (i, lookup) in lookups.iter().enumerate() {
        let hash = incoming.hash(i);
        let i = i as u32;
        let found = match *lookup {
            Lookup::External(found) => found,
            Lookup::NoRow => {
                out.unknown_node_ids.push(i);
                None
            }
            Lookup::Row(row) => {
                let rows = by_row.get_or_insert_with(|| {
                    (0..n_prev)
                        .filter_map(|p| example_row_id(previous.node_id(p)).map(|r| (r, p as u32)))
                        .collect()
                });
                let found = rows.get(&row).copied();
                if found.is_none() {
                    out.unknown_node_ids.push(i);
                }
                found
            }
            Lookup::ByHash => {
                let buckets = by_hash.get_or_insert_with(|| {
                    let mut m = HashBuckets::default();
                    for p in 0..n_prev {
                        m.entry(previous.hash(p)).or_default().1.push(p as u32);
                    }
                    m
                });
                match buckets.get_mut(&hash) {
                    Some((cursor, candidates)) => {
                        while *cursor < candidates.len() && matched[candidates[*cursor] as usize] {
                            *cursor += 1;
                        }
                        // Entries past the cursor may have been taken by id since; skip those.
                        candidates[*cursor..]
                            .iter()
                            .copied()
                            .find(|&p| !matched[p as usize])
                    }
                    None => None,
                }
            }
        };
        match found {
            None => out.added.push(i),
            Some(p) => {
                matched[p as usize] = true;
                if previous.hash(p as usize) == hash {
                    out.unchanged.push((i, p));
                } else {
                    out.updated.push((i, p));
                }
            }
        }
    }
    if !merge {
        out.deleted = (0..n_prev as u32)
            .filter(|&p| !matched[p as usize])
            .collect();
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;

    fn h(n: u8) -> [u8; 16] {
        [n; 16]
    }

    fn node(row: i64) -> String {
        base64::engine::general_purpose::STANDARD.encode(format!("DatasetExample:{row}"))
    }

    #[test]
    fn classifies_by_id() {
        let nodes: Vec<String> = (1..=4).map(node).collect();
        let prev = [
            Previous {
                node_id: &nodes[0],
                external_id: Some("a"),
                hash: h(1),
            },
            Previous {
                node_id: &nodes[1],
                external_id: Some("b"),
                hash: h(2),
            },
            Previous {
                node_id: &nodes[2],
                external_id: Some("c"),
                hash: h(3),
            },
            Previous {
                node_id: &nodes[3],
                external_id: None,
                hash: h(4),
            },
        ];
        let inc = [
            Incoming {
                id: Some("b"),
                hash: h(2),
            },
            Incoming {
                id: Some("a"),
                hash: h(9),
            },
            Incoming {
                id: Some("z"),
                hash: h(3),
            }, // same hash as "c" but an id: no fallback
            Incoming {
                id: Some(&nodes[3]),
                hash: h(4),
            },
        ];
        let d = diff(&prev, &inc, false).unwrap();
        assert_eq!(d.unchanged, vec![(0, 1), (3, 3)]);
        assert_eq!(d.updated, vec![(1, 0)]);
        assert_eq!(d.added, vec![2]);
        assert_eq!(d.deleted, vec![2]);
        let d = diff(&prev, &inc, true).unwrap();
        assert!(d.deleted.is_empty());
    }

    #[test]
    fn id_less_examples_match_first_unmatched_hash() {
        let nodes: Vec<String> = (1..=3).map(node).collect();
        let prev = [
            Previous {
                node_id: &nodes[0],
                external_id: None,
                hash: h(1),
            },
            Previous {
                node_id: &nodes[1],
                external_id: None,
                hash: h(1),
            },
            Previous {
                node_id: &nodes[2],
                external_id: None,
                hash: h(2),
            },
        ];
        let inc = [
            Incoming {
                id: None,
                hash: h(1),
            },
            Incoming {
                id: None,
                hash: h(1),
            },
            Incoming {
                id: None,
                hash: h(1),
            },
        ];
        let d = diff(&prev, &inc, false).unwrap();
        assert_eq!(d.unchanged, vec![(0, 0), (1, 1)]);
        assert_eq!(d.added, vec![2]);
        assert_eq!(d.deleted, vec![2]);
    }

    #[test]
    fn duplicates_are_listed() {
        let inc = [
            Incoming {
                id: Some("x"),
                hash: h(1),
            },
            Incoming {
                id: Some("y"),
                hash: h(1),
            },
            Incoming {
                id: Some("x"),
                hash: h(2),
            },
            Incoming {
                id: None,
                hash: h(2),
            },
            Incoming {
                id: None,
                hash: h(2),
            },
        ];
        let e = diff(&[], &inc, false).unwrap_err();
        assert_eq!(e.kind, ErrorKind::DuplicateId);
        assert_eq!(e.ids, vec!["x".to_owned()]);
        assert!(
            e.message
                .ends_with("1 source id(s) occur more than once: 'x' (example 0, example 2)"),
            "{}",
            e.message
        );
    }

    #[test]
    fn node_ids_decode_like_the_server() {
        assert_eq!(example_row_id(&node(42)), Some(42));
        let unknown = node(99);
        // A row id beyond 64 bits, and one spelled with Arabic-Indic digits and padding junk.
        let huge = base64::engine::general_purpose::STANDARD
            .encode(format!("DatasetExample:{}", "9".repeat(30)));
        let arabic = format!(
            "{}=junk",
            base64::engine::general_purpose::STANDARD.encode("DatasetExample:\u{661}")
        );
        let prev = [Previous {
            node_id: &node(1),
            external_id: None,
            hash: h(1),
        }];
        let inc = [&unknown, &huge, &arabic].map(|id| Incoming {
            id: Some(id),
            hash: h(1),
        });
        let d = diff(&prev, &inc, false).unwrap();
        assert_eq!(d.unknown_node_ids, vec![0, 1]);
        assert_eq!(d.unchanged, vec![(2, 0)]);
    }
}
