//! The sync manifest's rules: what the server held after a sync (per example its node id,
//! external id, content hash and split names), kept on the user's machine so that the next
//! sync need not download the dataset — and when that may be trusted.
//!
//! A manifest is only trusted when the server proves it still applies: the same
//! [`Fingerprint`] (dataset id and creation time, the two latest versions' ids and creation
//! times — versions are immutable —, the ids of the latest versions the engines read, and the
//! example count). The ids below the newest matter on PostgreSQL: a version takes its id when
//! its write starts and may commit after a newer one, changing what the newer version's
//! export holds; it then appears in the list below it. A database reset or a dataset
//! deleted and created again can reuse every row id (SQLite does) and creation times have a
//! resolution of one second there, so a manifest is only written when it can tell the two
//! apart ([`provable`]). Split assignments are not versioned by Phoenix: a manifest proves
//! content only, and a sync whose source carries splits reads the members of each split
//! beside it (past the read limit; a smaller dataset is exported instead).
//!
//! The format (`phoenix-upsert-manifest/4`): a header line `{"format": …, "sha256": …}`, a
//! newline, then the JSON body `{"fingerprint": {…}, "examples": {"node_ids", "external_ids",
//! "hashes", "splits"}}` whose SHA-256 the header holds. The hosts (Python, TypeScript)
//! compress it with gzip, name the file by [`file_name`] and write it atomically, readable by
//! its owner only; the rules — what a manifest says, when it applies, when it may be written —
//! are here, once, so that both SDKs read each other's manifests.

use chrono::{DateTime, NaiveDateTime};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use crate::strings::StrColumn;

pub const FORMAT: &str = "phoenix-upsert-manifest/4";

/// Formats of earlier releases: read as stale (the next sync reads the server), not corrupt.
const OLDER_FORMATS: [&str; 1] = ["phoenix-upsert-manifest/3"];

/// What the server says about a dataset's current state.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Fingerprint {
    pub server: String,
    pub dataset_id: String,
    pub dataset_created_at: String,
    pub version_id: String,
    pub version_created_at: String,
    /// The version before it, if any.
    pub previous_version_id: Option<String>,
    pub previous_version_created_at: Option<String>,
    /// The ids of the dataset's latest versions, newest first (as many as the engines read).
    pub version_ids: Vec<String>,
    pub example_count: u64,
}

/// The examples of one dataset version, as parallel columns. In a manifest they are the JSON
/// object of the four columns (keys in this order, the order of their names), written and
/// read by serde without a tree of values between (a million examples' tree held several
/// hundred MB more than the columns).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Examples {
    pub external_ids: StrColumn,
    /// Content hashes; in a manifest, 32 hex characters each.
    #[serde(with = "hex_hashes")]
    pub hashes: Vec<[u8; 16]>,
    /// Each present: "" where unknown (examples a sync created and has not read back).
    pub node_ids: StrColumn,
    pub splits: Vec<Vec<String>>,
}

/// The content hashes of a manifest as JSON: an array of their hex texts (a hash held as
/// its 16 bytes takes a quarter of the memory of its text).
mod hex_hashes {
    use serde::de::{Deserializer, Error, SeqAccess, Visitor};
    use serde::ser::{SerializeSeq, Serializer};

    use crate::canon::{hash_hex, parse_hash_hex};

    pub fn serialize<S: Serializer>(hashes: &[[u8; 16]], s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(hashes.len()))?;
        for hash in hashes {
            seq.serialize_element(&hash_hex(hash))?;
        }
        seq.end()
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<[u8; 16]>, D::Error> {
        struct Hashes;
        impl<'de> Visitor<'de> for Hashes {
            type Value = Vec<[u8; 16]>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an array of content hashes (32 hex characters each)")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0));
                while let Some(text) = seq.next_element::<std::borrow::Cow<'de, str>>()? {
                    let hash = parse_hash_hex(&text).ok_or_else(|| {
                        A::Error::custom(format!("{text:?} is not a content hash"))
                    })?;
                    out.push(hash);
                }
                Ok(out)
            }
        }
        d.deserialize_seq(Hashes)
    }
}

impl Examples {
    pub fn len(&self) -> usize {
        self.hashes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.hashes.is_empty()
    }

    /// Example `p`'s node id ("" where unknown).
    pub fn node_id(&self, p: usize) -> &str {
        self.node_ids.get(p).unwrap_or_default()
    }

    /// Whether some example's node id is unknown.
    pub fn node_ids_unknown(&self) -> bool {
        self.node_ids
            .iter()
            .any(|id| id.map_or(true, str::is_empty))
    }

    /// The columns must be of equal lengths.
    pub fn check(&self) -> Result<(), String> {
        let n = self.len();
        if [
            self.node_ids.len(),
            self.external_ids.len(),
            self.splits.len(),
        ] != [n, n, n]
        {
            return Err("columns of different lengths".to_owned());
        }
        if self.node_ids.iter().any(|id| id.is_none()) {
            return Err("a node id is null".to_owned());
        }
        Ok(())
    }
}

fn opt(value: &Option<String>) -> Value {
    value
        .as_ref()
        .map_or(Value::Null, |s| Value::String(s.clone()))
}

impl Fingerprint {
    pub fn to_json(&self) -> Value {
        json!({
            "server": self.server,
            "dataset_id": self.dataset_id,
            "dataset_created_at": self.dataset_created_at,
            "version_id": self.version_id,
            "version_created_at": self.version_created_at,
            "previous_version_id": opt(&self.previous_version_id),
            "previous_version_created_at": opt(&self.previous_version_created_at),
            "version_ids": self.version_ids,
            "example_count": self.example_count,
        })
    }

    /// Read a fingerprint from its JSON object: exactly its fields, of their types.
    pub fn from_json(value: &Value) -> Result<Fingerprint, String> {
        let Some(map) = value.as_object() else {
            return Err("the fingerprint is not an object".to_owned());
        };
        let fields = [
            "server",
            "dataset_id",
            "dataset_created_at",
            "version_id",
            "version_created_at",
            "previous_version_id",
            "previous_version_created_at",
            "version_ids",
            "example_count",
        ];
        if map.len() != fields.len() || fields.iter().any(|f| !map.contains_key(*f)) {
            return Err("the fingerprint's fields are not the expected ones".to_owned());
        }
        let text = |k: &str| {
            map[k]
                .as_str()
                .map(str::to_owned)
                .ok_or_else(|| format!("fingerprint field {k} is not a string"))
        };
        let maybe = |k: &str| match &map[k] {
            Value::Null => Ok(None),
            Value::String(s) => Ok(Some(s.clone())),
            _ => Err(format!("fingerprint field {k} is not a string or null")),
        };
        Ok(Fingerprint {
            server: text("server")?,
            dataset_id: text("dataset_id")?,
            dataset_created_at: text("dataset_created_at")?,
            version_id: text("version_id")?,
            version_created_at: text("version_created_at")?,
            previous_version_id: maybe("previous_version_id")?,
            previous_version_created_at: maybe("previous_version_created_at")?,
            version_ids: strings(map.get("version_ids"), "fingerprint field version_ids")?,
            example_count: map["example_count"]
                .as_u64()
                .ok_or("fingerprint field example_count is not a count")?,
        })
    }
}

/// A server timestamp (ISO 8601; without an offset it is UTC), in whole seconds since the
/// Unix epoch; `None` if it is not one.
pub fn second(text: &str) -> Option<i64> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t.timestamp());
    }
    ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(text, f).ok())
        .map(|t| t.and_utc().timestamp())
}

/// Whether a manifest for `fingerprint`, whose content the server showed when its clock
/// read `proven_at` (seconds since the epoch), can later tell its dataset from one deleted and
/// created again with the same row ids and creation times.
///
/// Anything created after the deletion is created no earlier than the second in which the
/// manifest's content was shown. So the fingerprint is unique if the server's clock had
/// already passed the latest version's second then, or if the version before it is from an
/// earlier second than the latest one (a re-created dataset would need a version of that
/// earlier second).
pub fn provable(fingerprint: &Fingerprint, proven_at: Option<i64>) -> bool {
    let Some(latest) = second(&fingerprint.version_created_at) else {
        return false;
    };
    let previous = fingerprint
        .previous_version_created_at
        .as_deref()
        .and_then(second);
    if previous.is_some_and(|p| p < latest) {
        return true;
    }
    proven_at.is_some_and(|p| p > latest)
}

/// What a dataset holds after a write of a plan landed, without reading it back: the
/// source's examples in order — one matched to a previous example (`matched`: pairs of source
/// and previous indices, the diff's unchanged and updated) keeps that example's node id and
/// external id, a new one has no node id yet ("") and its source id as external id, as
/// Phoenix gives it — then, when merging, the previous examples the source did not match.
/// Split names are the source's; a source without splits leaves a matched example's as they
/// were (none for a new one).
pub fn after_write(
    previous: &Examples,
    ids: &StrColumn,
    hashes: &[[u8; 16]],
    splits: Option<&[Vec<String>]>,
    matched: &[(usize, usize)],
    merge: bool,
) -> Result<Examples, String> {
    let n = hashes.len();
    if ids.len() != n || splits.is_some_and(|s| s.len() != n) {
        return Err("source columns of different lengths".to_owned());
    }
    let mut match_of: Vec<Option<usize>> = vec![None; n];
    let mut taken = vec![false; previous.len()];
    for &(i, p) in matched {
        if i >= n || p >= previous.len() {
            return Err(format!("match ({i}, {p}) is out of range"));
        }
        match_of[i] = Some(p);
        taken[p] = true;
    }
    let mut out = Examples::default();
    for (i, hash) in hashes.iter().enumerate() {
        match match_of[i] {
            Some(p) => {
                out.node_ids.push(previous.node_ids.get(p));
                out.external_ids.push(previous.external_ids.get(p));
            }
            None => {
                out.node_ids.push(Some(""));
                out.external_ids.push(ids.get(i));
            }
        }
        out.hashes.push(*hash);
        out.splits.push(match (splits, match_of[i]) {
            (Some(s), _) => s[i].clone(),
            (None, Some(p)) => previous.splits[p].clone(),
            (None, None) => Vec::new(),
        });
    }
    if merge {
        for p in (0..previous.len()).filter(|&p| !taken[p]) {
            out.node_ids.push(previous.node_ids.get(p));
            out.external_ids.push(previous.external_ids.get(p));
            out.hashes.push(previous.hashes[p]);
            out.splits.push(previous.splits[p].clone());
        }
    }
    Ok(out)
}

/// The file name of the manifest of a dataset on a server (the directory is the host's).
pub fn file_name(server: &str, dataset_id: &str) -> String {
    let digest = Sha256::digest(format!("{server}\0{dataset_id}").as_bytes());
    format!("{}.json.gz", &hex::encode(digest)[..32])
}

/// The manifest's bytes (before compression): header line, newline, body.
pub fn encode(fingerprint: &Fingerprint, examples: &Examples) -> Vec<u8> {
    #[derive(Serialize)]
    struct Body<'a> {
        examples: &'a Examples,
        fingerprint: Value,
    }
    let body = serde_json::to_string(&Body {
        examples,
        fingerprint: fingerprint.to_json(),
    })
    .expect("a manifest's body is JSON");
    let header = json!({
        "format": FORMAT,
        "sha256": hex::encode(Sha256::digest(body.as_bytes())),
    })
    .to_string();
    let mut out = Vec::with_capacity(header.len() + 1 + body.len());
    out.extend_from_slice(header.as_bytes());
    out.push(b'\n');
    out.extend_from_slice(body.as_bytes());
    out
}

/// What reading a manifest found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Loaded {
    /// It applies to the expected state: these are the dataset's examples.
    Current(Examples),
    /// A sound manifest of another state (the dataset changed since).
    Stale,
}

fn strings(value: Option<&Value>, what: &str) -> Result<Vec<String>, String> {
    value
        .and_then(Value::as_array)
        .ok_or_else(|| format!("{what} is not a list"))?
        .iter()
        .map(|v| v.as_str().map(str::to_owned))
        .collect::<Option<_>>()
        .ok_or_else(|| format!("{what} holds something other than strings"))
}

/// Read a manifest's bytes (decompressed) against the state the server shows now. An error
/// says why the bytes are not a sound manifest (the host warns and ignores it).
pub fn decode(data: &[u8], expected: &Fingerprint) -> Result<Loaded, String> {
    let newline = data
        .iter()
        .position(|&b| b == b'\n')
        .ok_or("no header line")?;
    let (header, body) = (&data[..newline], &data[newline + 1..]);
    let header: Map<String, Value> =
        serde_json::from_slice(header).map_err(|e| format!("header: {e}"))?;
    match header.get("format").and_then(Value::as_str) {
        Some(FORMAT) => {}
        Some(older) if OLDER_FORMATS.contains(&older) => return Ok(Loaded::Stale),
        other => return Err(format!("unknown format {other:?}")),
    }
    if header.get("sha256").and_then(Value::as_str) != Some(&hex::encode(Sha256::digest(body))) {
        return Err("checksum mismatch".to_owned());
    }
    #[derive(Deserialize)]
    struct Body {
        fingerprint: Value,
        examples: Examples,
    }
    let body: Body = serde_json::from_slice(body).map_err(|e| format!("body: {e}"))?;
    let found = Fingerprint::from_json(&body.fingerprint)?;
    let examples = body.examples;
    examples.check()?;
    let n = examples.len();
    if &found != expected || n as u64 != expected.example_count {
        return Ok(Loaded::Stale);
    }
    Ok(Loaded::Current(examples))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fingerprint() -> Fingerprint {
        Fingerprint {
            server: "http://127.0.0.1:6006".into(),
            dataset_id: "RGF0YXNldDox".into(),
            dataset_created_at: "2026-11-24T03:00:00.500000+00:00".into(),
            version_id: "RGF0YXNldFZlcnNpb246Mg==".into(),
            version_created_at: "2026-11-24T03:00:05.250000+00:00".into(),
            previous_version_id: Some("RGF0YXNldFZlcnNpb246MQ==".into()),
            previous_version_created_at: Some("2026-11-24T03:00:05.100000+00:00".into()),
            version_ids: vec![
                "RGF0YXNldFZlcnNpb246Mg==".into(),
                "RGF0YXNldFZlcnNpb246MQ==".into(),
            ],
            example_count: 2,
        }
    }

    fn examples() -> Examples {
        Examples {
            node_ids: [Some("RGF0YXNldEV4YW1wbGU6MQ=="), Some("")]
                .into_iter()
                .collect(),
            external_ids: [Some("q1"), None].into_iter().collect(),
            hashes: vec![[0; 16], [0xff; 16]],
            splits: vec![vec!["test".into(), "train".into()], vec![]],
        }
    }

    #[test]
    fn a_manifest_reads_back_and_goes_stale() {
        let (fp, ex) = (fingerprint(), examples());
        let data = encode(&fp, &ex);
        assert_eq!(decode(&data, &fp), Ok(Loaded::Current(ex.clone())));
        let other = Fingerprint {
            version_id: "v3".into(),
            ..fp.clone()
        };
        assert_eq!(decode(&data, &other), Ok(Loaded::Stale));
        let fewer = Fingerprint {
            example_count: 1,
            ..fp.clone()
        };
        assert_eq!(decode(&data, &fewer), Ok(Loaded::Stale));
        // A version that committed late, below the newest two, makes it stale too.
        let late = Fingerprint {
            version_ids: vec![
                fp.version_ids[0].clone(),
                "late".into(),
                fp.version_ids[1].clone(),
            ],
            ..fp.clone()
        };
        assert_eq!(decode(&data, &late), Ok(Loaded::Stale));
        // A manifest of an earlier release is stale, not corrupt.
        let old = String::from_utf8(data.clone())
            .unwrap()
            .replacen("manifest/4", "manifest/3", 1);
        assert_eq!(decode(old.as_bytes(), &fp), Ok(Loaded::Stale));
        // Any change to the body breaks the checksum; a bad header is not a manifest.
        let mut bad = data.clone();
        let last = bad.len() - 3;
        bad[last] ^= 1;
        assert!(decode(&bad, &fp).unwrap_err().contains("checksum"));
        assert!(decode(b"{}\n{}", &fp).unwrap_err().contains("format"));
        assert!(decode(b"no newline", &fp).is_err());
    }

    #[test]
    fn hashes_are_hex_in_the_file_and_checked_when_read() {
        let (fp, ex) = (fingerprint(), examples());
        let text = String::from_utf8(encode(&fp, &ex)).unwrap();
        let hex = format!(r#""hashes":["{}","{}"]"#, "0".repeat(32), "f".repeat(32));
        assert!(text.contains(&hex), "{text}");
        // A body whose checksum holds but whose hash is not one is refused, not planned on.
        let body =
            text[text.find('\n').unwrap() + 1..].replacen(&"f".repeat(32), &"g".repeat(32), 1);
        let header = json!({"format": FORMAT, "sha256": hex::encode(Sha256::digest(&body))});
        let bad = format!("{header}\n{body}");
        let err = decode(bad.as_bytes(), &fp).unwrap_err();
        assert!(err.contains("not a content hash"), "{err}");
    }

    #[test]
    fn provable_needs_an_earlier_second() {
        let mut fp = fingerprint();
        // The version before is of the same second: the server's clock must be past it.
        assert!(!provable(&fp, None));
        let latest = second(&fp.version_created_at).unwrap();
        assert!(!provable(&fp, Some(latest)));
        assert!(provable(&fp, Some(latest + 1)));
        fp.previous_version_created_at = Some("2026-11-24T03:00:04.900000+00:00".into());
        assert!(provable(&fp, None));
        fp.previous_version_created_at = None;
        assert!(!provable(&fp, None));
        fp.version_created_at = "not a time".into();
        assert!(!provable(&fp, Some(i64::MAX)));
    }

    #[test]
    fn timestamps_with_and_without_offsets() {
        assert_eq!(second("1970-01-01T00:00:01Z"), Some(1));
        assert_eq!(second("1970-01-01T01:00:01+01:00"), Some(1));
        assert_eq!(second("1970-01-01T00:00:01.999999"), Some(1));
        assert_eq!(second("1970-01-01 00:00:02"), Some(2));
        assert_eq!(second("yesterday"), None);
    }

    #[test]
    fn after_a_write_new_examples_have_no_node_id_yet() {
        let prev = examples(); // node ids "RGF0…" and ""
        let ids = [Some("new"), Some("q1")].into_iter().collect();
        let hashes = vec![[0xaa; 16], [0; 16]];
        let mirror = after_write(&prev, &ids, &hashes, None, &[(1, 0)], false).unwrap();
        fn column(c: &StrColumn) -> Vec<Option<&str>> {
            c.iter().collect()
        }
        assert_eq!(
            column(&mirror.node_ids),
            [Some(""), Some("RGF0YXNldEV4YW1wbGU6MQ==")]
        );
        assert_eq!(column(&mirror.external_ids), [Some("new"), Some("q1")]);
        assert_eq!(
            mirror.splits,
            [vec![], vec!["test".to_owned(), "train".to_owned()]]
        );
        let merged = after_write(&prev, &ids, &hashes, None, &[(1, 0)], true).unwrap();
        assert_eq!(merged.len(), 3);
        assert_eq!(merged.hashes[2], [0xff; 16]);
        let with_splits = [vec!["x".to_owned()], vec![]];
        let split = after_write(&prev, &ids, &hashes, Some(&with_splits), &[(1, 0)], false);
        assert_eq!(split.unwrap().splits, [vec!["x".to_owned()], vec![]]);
        assert!(after_write(&prev, &ids, &hashes, None, &[(2, 0)], false).is_err());
    }

    #[test]
    fn file_names_are_per_server_and_dataset() {
        let a = file_name("http://a", "1");
        assert_eq!(a.len(), 32 + ".json.gz".len());
        assert_ne!(a, file_name("http://b", "1"));
        assert_ne!(a, file_name("http://a", "2"));
    }
}
