//! The sync's plan: what it takes to make a dataset hold a source — one rule for both SDKs'
//! engines (Python's `_engine/sync.py`, TypeScript's `js/src/upsert.ts` call it through their
//! bindings; neither decides an action itself).
//!
//! 1. The diff by Phoenix's matching rules ([`crate::diff`]).
//! 2. Source ids that are node ids of no example of the dataset, and two source examples that
//!    name one example of the dataset (by its external id and by its node id), are errors.
//! 3. Split changes: a matched example with the same content but other split names (only for
//!    a source that carries splits; otherwise the server's stay as they are).
//! 4. An example added without an id whose content the dataset already holds cannot be
//!    appended: Phoenix's append matches it to that example by content and adds nothing. A
//!    merge refuses it ([`ErrorKind::DuplicateContent`]); a mirror writes a full snapshot.
//! 5. The action: `create` for a dataset that does not exist yet (even with no examples: it
//!    is asked for by name); `none` for nothing to change — unless what was read is not known
//!    to be the server's state (`unknown`), then the whole source is written (`update` for a
//!    mirror, `append` for a merge) for the server to diff against what it really holds;
//!    `update` (the full snapshot) when something is deleted, a copy is added, or a mirror
//!    must not trust what it read (`snapshot`: after a conflict or a failed write);
//!    otherwise `append` with only the new and changed examples.

use crate::canon::parse_hash_hex;
use crate::diff::{diff_examples, IncomingExamples, PreviousExamples};
use crate::error::{py_repr, Error, ErrorKind, Result};
use crate::manifest::Examples;
use crate::strings::StrColumn;

/// The source as the plan sees it: per example its source id (`None`: matched by content),
/// content hash, split names (`None`: the source carries no splits) and,
/// for a file, its line (to say where an example is).
#[derive(Debug, Clone, Copy)]
pub struct Source<'a> {
    pub ids: &'a StrColumn,
    pub hashes: &'a [[u8; 16]],
    pub splits: Option<&'a [Vec<String>]>,
    pub lines: Option<&'a [u64]>,
}

impl PreviousExamples for Examples {
    fn len(&self) -> usize {
        Examples::len(self)
    }
    fn node_id(&self, p: usize) -> &str {
        Examples::node_id(self, p)
    }
    fn external_id(&self, p: usize) -> Option<&str> {
        self.external_ids.get(p)
    }
    fn hash(&self, p: usize) -> [u8; 16] {
        self.hashes[p]
    }
}

impl IncomingExamples for Source<'_> {
    fn len(&self) -> usize {
        self.hashes.len()
    }
    fn id(&self, i: usize) -> Option<&str> {
        self.ids.get(i)
    }
    fn hash(&self, i: usize) -> [u8; 16] {
        self.hashes[i]
    }
}

impl Source<'_> {
    /// How to point a user at an example: `line 7 (id 'q3')` or `example 2`.
    pub fn place(&self, i: usize) -> String {
        let at = match self.lines.and_then(|l| l.get(i)) {
            Some(line) => format!("line {line}"),
            None => format!("example {i}"),
        };
        match self.ids.get(i) {
            Some(id) => format!("{at} (id {})", py_repr(id)),
            None => at,
        }
    }
}

/// How to plan.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// Add and update, never delete.
    pub merge: bool,
    /// Whether the dataset exists (`false`: the plan creates it).
    pub exists: bool,
    /// Write any change of a mirror as a full snapshot (after a conflict or a failed write).
    pub snapshot: bool,
    /// What was read may not be the server's state: never plan `none`.
    pub unknown: bool,
}

/// What to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    None,
    Create,
    Append,
    Update,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::None => "none",
            Action::Create => "create",
            Action::Append => "append",
            Action::Update => "update",
        }
    }
}

/// A plan: source indices by class, previous indices of the deleted examples, and the
/// (source, previous) pairs the diff matched (for [`crate::manifest::after_write`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub action: Action,
    pub added: Vec<usize>,
    pub updated: Vec<usize>,
    pub split_changes: Vec<usize>,
    pub deleted: Vec<usize>,
    pub unchanged: usize,
    pub matched: Vec<(usize, usize)>,
    /// Whether the write must carry every example of the source, not only the changed ones
    /// (a merge from an unknown state appends them all).
    pub full: bool,
}

/// Content hashes given as their hex texts (by a binding's caller), read; `what` names
/// the column in the error.
pub fn parse_hashes(hex: &[String], what: &str) -> Result<Vec<[u8; 16]>> {
    hex.iter()
        .enumerate()
        .map(|(i, h)| {
            parse_hash_hex(h).ok_or_else(|| {
                Error::new(
                    ErrorKind::InvalidArgument,
                    format!("{what}[{i}] is not a content hash (32 hex characters)"),
                )
            })
        })
        .collect()
}

/// What it takes to make a dataset holding `previous` hold `source` (see the module docs).
pub fn plan(previous: &Examples, source: &Source<'_>, options: Options) -> Result<Plan> {
    let n = source.hashes.len();
    if source.ids.len() != n || source.splits.is_some_and(|s| s.len() != n) {
        return Err(Error::new(
            ErrorKind::InvalidArgument,
            "source columns of different lengths",
        ));
    }
    previous
        .check()
        .map_err(|e| Error::new(ErrorKind::InvalidArgument, e))?;
    let (prev_hashes, new_hashes) = (&previous.hashes, source.hashes);
    let d = diff_examples(previous, source, options.merge)?;
    let at = |i: u32| i as usize;

    if let Some(&first) = d.unknown_node_ids.first() {
        let shown: Vec<String> = d
            .unknown_node_ids
            .iter()
            .take(5)
            .map(|&i| source.place(at(i)))
            .collect();
        let mut err = Error::new(
            ErrorKind::InvalidSourceId,
            format!(
                "source ids that are Phoenix node ids must name examples of this dataset; \
                 these do not: {}",
                shown.join(", ")
            ),
        );
        err.index = Some(at(first));
        err.source_id = source.ids.owned(at(first));
        return Err(err);
    }

    // Which source example took each previous one (`u32::MAX`: none yet).
    let mut taken: Vec<u32> = vec![u32::MAX; previous.len()];
    for &(i, p) in d.unchanged.iter().chain(&d.updated) {
        match taken[at(p)] {
            u32::MAX => taken[at(p)] = i,
            j if j != i => {
                let (i, j, p) = (at(i), at(j), at(p));
                // One id is the example's external id, the other its node id.
                let (first, second) = (i.min(j), i.max(j));
                let mut err = Error::new(
                    ErrorKind::DuplicateId,
                    format!(
                        "{} and {} name the same example of the dataset ({})",
                        source.place(first),
                        source.place(second),
                        previous.node_id(p)
                    ),
                );
                err.ids = [first, second]
                    .iter()
                    .map(|&k| source.ids.owned(k).unwrap_or_default())
                    .collect();
                err.index = Some(second);
                err.source_id = source.ids.owned(second);
                return Err(err);
            }
            _ => {}
        }
    }

    let split_changes: Vec<usize> = match source.splits {
        None => Vec::new(),
        Some(splits) => d
            .unchanged
            .iter()
            .filter(|&&(i, p)| splits[at(i)] != previous.splits[at(p)])
            .map(|&(i, _)| at(i))
            .collect(),
    };
    let added: Vec<usize> = d.added.iter().map(|&i| at(i)).collect();
    let updated: Vec<usize> = d.updated.iter().map(|&(i, _)| at(i)).collect();
    let deleted: Vec<usize> = d.deleted.iter().map(|&p| at(p)).collect();
    let unchanged = d.unchanged.len() - split_changes.len();

    let mut copies: Vec<usize> = added
        .iter()
        .copied()
        .filter(|&i| source.ids.get(i).is_none())
        .collect();
    if !copies.is_empty() {
        let held: std::collections::HashSet<&[u8; 16]> = prev_hashes.iter().collect();
        copies.retain(|&i| held.contains(&new_hashes[i]));
    }
    if !copies.is_empty() && options.merge && options.exists {
        let shown: Vec<String> = copies.iter().take(5).map(|&i| source.place(i)).collect();
        let mut err = Error::new(
            ErrorKind::DuplicateContent,
            format!(
                "{} example(s) without a source id repeat the content of an example the \
                 dataset already holds ({}); Phoenix matches examples without ids by content, \
                 so a merge cannot add another copy: give the examples ids, or remove the \
                 duplicates",
                copies.len(),
                shown.join(", ")
            ),
        );
        err.index = Some(copies[0]);
        return Err(err);
    }

    let changes =
        !(added.is_empty() && updated.is_empty() && deleted.is_empty() && split_changes.is_empty());
    let mirror = !options.merge;
    let action = if !options.exists {
        Action::Create
    } else if !changes && !options.unknown {
        Action::None
    } else if !deleted.is_empty()
        || !copies.is_empty()
        || (mirror && (options.snapshot || options.unknown))
    {
        Action::Update
    } else {
        Action::Append
    };
    let matched = d
        .unchanged
        .iter()
        .chain(&d.updated)
        .map(|&(i, p)| (at(i), at(p)))
        .collect();
    Ok(Plan {
        action,
        added,
        updated,
        split_changes,
        deleted,
        unchanged,
        matched,
        full: options.unknown && action == Action::Append,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hash(k: u8) -> [u8; 16] {
        let mut h = [0; 16];
        h[15] = k;
        h
    }

    fn previous(rows: &[(&str, Option<&str>, u8)]) -> Examples {
        Examples {
            node_ids: rows.iter().map(|r| Some(r.0)).collect(),
            external_ids: rows.iter().map(|r| r.1).collect(),
            hashes: rows.iter().map(|r| hash(r.2)).collect(),
            splits: rows.iter().map(|_| Vec::new()).collect(),
        }
    }

    struct Src {
        ids: StrColumn,
        hashes: Vec<[u8; 16]>,
        splits: Option<Vec<Vec<String>>>,
    }

    fn src(rows: &[(Option<&str>, u8)]) -> Src {
        Src {
            ids: rows.iter().map(|r| r.0).collect(),
            hashes: rows.iter().map(|r| hash(r.1)).collect(),
            splits: None,
        }
    }

    fn run(prev: &Examples, s: &Src, options: Options) -> Result<Plan> {
        let source = Source {
            ids: &s.ids,
            hashes: &s.hashes,
            splits: s.splits.as_deref(),
            lines: None,
        };
        plan(prev, &source, options)
    }

    const EXISTS: Options = Options {
        merge: false,
        exists: true,
        snapshot: false,
        unknown: false,
    };

    #[test]
    fn actions() {
        let prev = previous(&[("n1", Some("a"), 1), ("n2", Some("b"), 2)]);
        let same = src(&[(Some("a"), 1), (Some("b"), 2)]);
        assert_eq!(run(&prev, &same, EXISTS).unwrap().action, Action::None);
        let created = run(
            &prev,
            &same,
            Options {
                exists: false,
                ..EXISTS
            },
        )
        .unwrap();
        assert_eq!(created.action, Action::Create);
        let edit = src(&[(Some("a"), 9), (Some("b"), 2)]);
        assert_eq!(run(&prev, &edit, EXISTS).unwrap().action, Action::Append);
        let snap = Options {
            snapshot: true,
            ..EXISTS
        };
        assert_eq!(run(&prev, &edit, snap).unwrap().action, Action::Update);
        let delete = src(&[(Some("a"), 1)]);
        let p = run(&prev, &delete, EXISTS).unwrap();
        assert_eq!((p.action, p.deleted.clone()), (Action::Update, vec![1]));
        let merge = Options {
            merge: true,
            ..EXISTS
        };
        assert_eq!(run(&prev, &delete, merge).unwrap().action, Action::None);
    }

    #[test]
    fn an_unknown_state_is_never_up_to_date() {
        let prev = previous(&[("n1", Some("a"), 1)]);
        let same = src(&[(Some("a"), 1)]);
        let unknown = Options {
            unknown: true,
            ..EXISTS
        };
        let p = run(&prev, &same, unknown).unwrap();
        assert_eq!((p.action, p.full), (Action::Update, false));
        let merge = Options {
            merge: true,
            ..unknown
        };
        let p = run(&prev, &same, merge).unwrap();
        assert_eq!((p.action, p.full), (Action::Append, true));
    }

    #[test]
    fn split_changes() {
        let mut prev = previous(&[("n1", Some("a"), 1), ("n2", Some("b"), 2)]);
        prev.splits[0] = vec!["train".to_owned()];
        let mut s = src(&[(Some("a"), 1), (Some("b"), 2)]);
        s.splits = Some(vec![vec!["test".to_owned()], Vec::new()]);
        let p = run(&prev, &s, EXISTS).unwrap();
        assert_eq!(
            (p.action, p.split_changes.clone(), p.unchanged),
            (Action::Append, vec![0], 1)
        );
        s.splits = None; // a source without splits leaves the server's as they are
        assert_eq!(run(&prev, &s, EXISTS).unwrap().action, Action::None);
    }

    #[test]
    fn copies_without_ids() {
        let prev = previous(&[("n1", None, 1)]);
        let s = src(&[(None, 1), (None, 1), (None, 2)]);
        let merge = Options {
            merge: true,
            ..EXISTS
        };
        let err = run(&prev, &s, merge).unwrap_err();
        assert_eq!(
            (err.kind, err.index),
            (ErrorKind::DuplicateContent, Some(1))
        );
        assert!(err.message.contains("example 1"), "{}", err.message);
        let p = run(&prev, &s, EXISTS).unwrap();
        assert_eq!((p.action, p.added.clone()), (Action::Update, vec![1, 2]));
    }

    #[test]
    fn one_example_named_twice_and_unknown_node_ids() {
        // "RGF0YXNldEV4YW1wbGU6MQ==" is DatasetExample:1.
        let node = "RGF0YXNldEV4YW1wbGU6MQ==";
        let prev = previous(&[(node, Some("a"), 1)]);
        let s = src(&[(Some("a"), 1), (Some(node), 1)]);
        let err = run(&prev, &s, EXISTS).unwrap_err();
        assert_eq!((err.kind, err.index), (ErrorKind::DuplicateId, Some(1)));
        assert!(
            err.message.contains("name the same example"),
            "{}",
            err.message
        );
        let other = "RGF0YXNldEV4YW1wbGU6OTk=";
        let err = run(&prev, &src(&[(Some(other), 1)]), EXISTS).unwrap_err();
        assert_eq!((err.kind, err.index), (ErrorKind::InvalidSourceId, Some(0)));
        assert!(
            err.message.contains("example 0 (id 'RGF0"),
            "{}",
            err.message
        );
    }
}
