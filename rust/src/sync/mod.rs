//! The sync engine as a sans-IO state machine: the core decides every request of a sync and
//! reads every answer; the hosts (Python's `_engine/driver.py`, TypeScript's
//! `js/src/driver.ts`) only send, read files, sleep and log.
//!
//! ```text
//! let mut m = Machine::new(config, source)?;
//! loop {
//!     match m.poll() {
//!         Step::Http(request)       => m.handle(send(request)),   // Input::Response / Transport
//!         Step::LoadManifest{file}  => m.handle(Input::Manifest(read(file))),
//!         Step::SaveManifest{..}    => write or remove the file, then poll again,
//!         Step::Sleep(seconds)      => sleep, then poll again,
//!         Step::Log(level, message) => log, then poll again,
//!         Step::Done(outcome)       => return outcome,
//!         Step::Failed(error)       => raise error,
//!     }
//! }
//! ```
//!
//! Time and randomness come in (the server's `Date` headers, a seed), so every path is
//! deterministic under scripted inputs (`rust/tests/sync_machine.rs`).
//!
//! The sync, step by step (the machine's phases):
//! 1. The server's version (once per client: the host passes it when known).
//! 2. State: the dataset (by name or id), its latest versions and its examples — from the
//!    local manifest when the server proves it applies ([`crate::manifest`]; for a source
//!    with splits only past the read limit, beside the members of each split, which Phoenix
//!    does not version),
//!    otherwise from Phoenix's JSONL export, scanned by the core. An
//!    export holding another number of examples than the dataset counts is checked against the
//!    version's examples as JSON; a disagreement that stands leaves the state *unknown*.
//! 3. Plan: [`crate::plan`], a pure function of (source, state, mode).
//! 4. Write, in one request: nothing; `append` with the new and changed examples; `update`
//!    with the full snapshot; `create` — the whole source from an unknown state.
//! 5. Prove: the server's counts must be the plan's; the newest version must be this write's,
//!    right on the version the plan was made from, with the versions below unchanged (on
//!    PostgreSQL uploads take no lock and a version's id is taken when its write starts; a
//!    write changing split membership only makes no version: the versions must be those
//!    read). For a source with splits (not versioned by Phoenix) the dataset is then read
//!    back and the plan from it must be empty: past the read limit only the members of each
//!    split (the content proven by the versions), unless the write created examples (node ids
//!    not known yet) or was planned from a state not known.
//!
//! Anything else means another writer was at work: read again and plan again (a mirror sync
//! then writes the full snapshot, which the server diffs against whatever landed), after a
//! fully jittered wait, up to [`CONFLICT_WRITES`] writes, then [`FailureKind::ConcurrentWrite`].
//! A failed write (connection lost, 5xx, 429, timeout) also leads back to step 2, never to a
//! blind resend: a write whose answer was lost is then seen as done. Reads are retried with
//! backoff; every failure is a typed error.

use std::borrow::Cow;

mod machine;
pub mod wire;

pub use machine::Machine;
pub use wire::{
    Body, Failure, FailureKind, Method, Purpose, Request, Response, RetryPolicy, Segment,
    TransportKind,
};

use serde_json::{Map, Value};

use crate::error::Error;
use crate::plan::Action;
use crate::strings::StrColumn;

/// Writes a sync may make while other writers keep changing the dataset (at least the
/// configured attempts): contending mirror syncs each write until one proves.
pub const CONFLICT_WRITES: u32 = 8;

/// How many of a dataset's latest versions a sync reads, and checks again after writing.
pub const VERSION_WINDOW: usize = 10;

/// One sync's settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// The dataset by name (created if absent) — or by id: exactly one.
    pub name: Option<String>,
    pub dataset_id: Option<String>,
    /// Add and update, never delete.
    pub merge: bool,
    /// Plan only: read, write nothing.
    pub dry_run: bool,
    /// The description of a dataset the sync creates.
    pub description: Option<String>,
    /// A mirror sync of no examples may delete every example.
    pub allow_empty: bool,
    /// Whether the host keeps a manifest directory.
    pub manifest: bool,
    /// The server's base URL without credentials (messages and the manifest).
    pub server: String,
    /// Attempts of what is safe to repeat (reads; writes re-planned after a failure): ≥ 1.
    pub retries: u32,
    pub backoff: f64,
    pub max_backoff: f64,
    /// Seconds per request (`None`: in proportion to its payload).
    pub timeout: Option<f64>,
    /// The server's version if the host knows it already (`None`: read it first).
    pub server_version: Option<Vec<u64>>,
    /// How this SDK's user sets credentials, for refusals.
    pub credentials: String,
    /// What the source is called in messages (its path, "the examples").
    pub source_name: String,
    /// How this SDK's user allows an empty mirror source (`allow_empty=True`).
    pub allow_empty_option: String,
    /// Randomness of the backoff jitter.
    pub seed: u64,
    /// The most examples one write may create: Phoenix looks up the external ids of every
    /// example an upload creates in one query, and PostgreSQL takes at most 32,767 query
    /// arguments (SQLite fails near 250,000). A sync that creates more writes in chunks.
    pub write_limit: usize,
    /// The largest dataset read through the JSONL export: on PostgreSQL it looks up the
    /// splits of every example in one query; larger ones are read as JSON
    /// (`GET .../examples`), their splits split by split.
    pub read_limit: usize,
}

/// Below PostgreSQL's 32,767 query arguments, with room for the query's own.
pub const SERVER_LIMIT: usize = 30_000;

impl Default for Config {
    fn default() -> Self {
        let retry = RetryPolicy::default();
        Config {
            name: None,
            dataset_id: None,
            merge: false,
            dry_run: false,
            description: None,
            allow_empty: false,
            manifest: false,
            server: String::new(),
            retries: 4,
            backoff: retry.backoff,
            max_backoff: retry.max_backoff,
            timeout: None,
            server_version: None,
            credentials: "set PHOENIX_API_KEY".to_owned(),
            source_name: "the source".to_owned(),
            allow_empty_option: "allow_empty=True".to_owned(),
            seed: 0,
            write_limit: SERVER_LIMIT,
            read_limit: SERVER_LIMIT,
        }
    }
}

/// The source, as the engine sees it: per example its source id, content hash, split names,
/// span id and, for a file, its line.
#[derive(Debug, Clone, Default)]
pub struct SourceColumns {
    pub ids: StrColumn,
    pub hashes: Vec<[u8; 16]>,
    pub splits: Option<Vec<Vec<String>>>,
    pub lines: Option<Vec<u64>>,
    /// Whether the examples carry source ids (sent as `example_ids`).
    pub has_ids: bool,
    pub span_ids: Option<StrColumn>,
}

/// What the host does next.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Send this and hand the answer to [`Machine::handle`].
    Http(Request),
    /// Read the manifest file (in the host's manifest directory), gunzipped, and hand it to
    /// [`Machine::handle`] as [`Input::Manifest`] (`None`: no file, or not readable).
    LoadManifest {
        file: String,
    },
    /// Write `data` gzipped to the file atomically (readable by its owner only) — or, for
    /// `None`, remove the file; then poll again. A failure only costs speed: warn and go on.
    SaveManifest {
        file: String,
        data: Option<Vec<u8>>,
    },
    /// Sleep, then poll again.
    Sleep(f64),
    /// Log, then poll again.
    Log(Level, String),
    Done(Box<Outcome>),
    Failed(Fail),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Debug,
    Info,
    Warning,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warning => "warning",
        }
    }
}

/// How a sync ended without success.
#[derive(Debug, Clone, PartialEq)]
pub enum Fail {
    /// The source or the settings (a typed input error).
    Input(Error),
    /// The server, the network, or other writers.
    Server(Failure),
}

/// What the host answers.
#[derive(Debug, Clone)]
pub enum Input<'a> {
    Response(Response<'a>),
    /// No answer: `message` says what happened (`ReadTimeout: …`), without credentials.
    Transport {
        kind: TransportKind,
        message: String,
    },
    /// The manifest file's bytes, gunzipped (borrowed from the host or not, as a response's).
    Manifest(Option<Cow<'a, [u8]>>),
}

/// A plan, as both SDKs report it: source indices by class, and the deleted examples by
/// their external id (or node id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanReport {
    pub dataset_name: String,
    pub dataset_id: Option<String>,
    pub base_version_id: Option<String>,
    pub merge: bool,
    pub action: Action,
    pub added: Vec<usize>,
    pub updated: Vec<usize>,
    pub split_changes: Vec<usize>,
    pub deleted: Vec<String>,
    pub unchanged: usize,
}

/// Where a sync left the dataset.
#[derive(Debug, Clone, PartialEq)]
pub struct Synced {
    /// The dataset's record, as the server gave it.
    pub dataset: Map<String, Value>,
    /// The version holding the source ("" for a dataset without versions).
    pub version_id: String,
    pub attempts: u32,
    pub concurrent_writer: bool,
    /// The versions this sync made, oldest first: one, or several for a sync that added
    /// more examples than one request may (see [`Config::write_limit`]).
    pub versions: Vec<String>,
}

/// How a sync ended: its plan, and (unless a dry run) where it left the dataset.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub plan: PlanReport,
    pub synced: Option<Synced>,
    /// The server's version, as read (for the host to keep per client).
    pub server_version: Option<Vec<u64>>,
}
