//! The machine: phases, the loop of read → plan → write → prove, and its budgets (see the
//! module docs of [`crate::sync`]).

use std::borrow::Cow;
use std::collections::VecDeque;

use serde_json::{Map, Value};

use super::wire::{
    self, count, data, field, global_id, json_object, quoted, segment, timeouts, Failure,
    FailureKind, Jitter, Method, Purpose, Random, Request, Response, RetryPolicy, Segment,
    TransportKind, READ_HEADERS, WRITE_HEADERS,
};
use super::{
    Config, Fail, Input, Level, Outcome, PlanReport, SourceColumns, Step, Synced, CONFLICT_WRITES,
    VERSION_WINDOW,
};
use crate::error::{Error, ErrorKind};
use crate::jsonl::{scan_all, Lines, ScanOptions};
use crate::manifest::{self, Examples, Fingerprint, Loaded};
use crate::plan::{plan, Action, Options, Plan, Source};
use crate::strings::StrColumn;

/// The proof's answer when another writer wrote after this sync's write (it may not have
/// seen ours: on PostgreSQL ours can commit after its proof, below its version).
const OVERTAKEN: &str = "another writer wrote after this sync's write";

/// What the server holds, as the plan sees it.
#[derive(Debug, Clone, Default)]
struct State {
    info: Option<Map<String, Value>>,
    /// Newest first.
    versions: Vec<Map<String, Value>>,
    examples: Examples,
    from_manifest: bool,
    /// The server's clock when `examples` were read from it.
    read_at: Option<i64>,
    /// The server's clock when the dataset's record (its example count) was read.
    counted_at: Option<i64>,
    /// Why the examples read may not be what the dataset holds (`None`: they are).
    unknown: Option<String>,
}

impl State {
    fn dataset_id(&self) -> Option<String> {
        self.info.as_ref().map(|i| field(i, "id"))
    }
    fn version_id(&self) -> Option<String> {
        self.versions.first().map(|v| field(v, "version_id"))
    }
}

/// Which read of the state is under way, and what follows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reader {
    /// The state to plan from.
    Main,
    /// The dataset read back to prove a write of a source with splits.
    ReadBack,
    /// The dataset's record after a proven write.
    Prove,
}

/// What the awaited answer is for.
#[derive(Debug, Clone)]
enum Phase {
    Version,
    FindByName,
    GetById,
    /// The dataset by id answered 500 (as Phoenix does for a dataset that never had
    /// examples): look for it in the list of datasets, page by page.
    ListForId {
        cursor: Option<String>,
        get: Box<Pending>,
        failed: Failure,
    },
    Versions,
    Manifest(Fingerprint),
    Export,
    /// The version's examples as JSON (a dataset too large for the JSONL export, or one
    /// whose export failed).
    Listed,
    /// The dataset's splits, page by page (a source with splits, read without the export).
    SplitList,
    /// The examples of one split (`listing.next - 1`).
    SplitMembers,
    Doubt(Examples),
    /// The version's examples as JSON, for the content of those a write in parts deletes
    /// later (it carries them as they are until then); the state waits beside it.
    Contents {
        state: Box<State>,
        /// The node ids of the examples deleted later.
        wanted: Vec<String>,
    },
    Upload,
    ProveVersions,
}

/// A request sent and not yet answered.
#[derive(Debug, Clone)]
struct Pending {
    request: Request,
    attempt: u32,
    stale_retried: bool,
}

/// The write under way: its plan and the state it was made from.
#[derive(Debug, Clone)]
struct Write {
    report: PlanReport,
    /// Its indices are the whole source's, but `matched` pairs index `sub` when given.
    plan: Plan,
    /// The part of the source this write carries (`None`: all of it).
    sub: Option<Sub>,
    from: State,
    result: Map<String, Value>,
}

/// A part of the source: what one write of a sync in chunks carries (the source without
/// the examples later writes add), as the plan takes it; `map` gives each one's index in the
/// whole source.
#[derive(Debug, Clone)]
struct Sub {
    map: Vec<usize>,
    ids: StrColumn,
    hashes: Vec<[u8; 16]>,
    splits: Option<Vec<Vec<String>>>,
    lines: Option<Vec<u64>>,
    /// Examples of the dataset the part carries as the server holds them (those deleted by
    /// later parts), after the source's: named by node id in `ids`, their content here.
    kept: Vec<Content>,
}

/// An example's input, output and metadata as raw JSON, as the server answered them.
type Content = [Box<serde_json::value::RawValue>; 3];

/// Whether a deletion in parts knows the content of the examples it keeps until later.
enum Kept {
    Known,
    /// Read them: the request, and their node ids.
    Read(Box<Request>, Vec<String>),
    /// The state does not know their node ids (a manifest): read the server's.
    NodeIdsUnknown,
}

/// One example of a `GET .../examples` answer, its content unparsed.
#[derive(serde::Deserialize)]
struct Listed {
    node_id: String,
    input: Box<serde_json::value::RawValue>,
    output: Box<serde_json::value::RawValue>,
    metadata: Box<serde_json::value::RawValue>,
}

impl Sub {
    fn of(src: &SourceColumns, map: Vec<usize>) -> Sub {
        Sub {
            ids: src.ids.select(&map),
            hashes: map.iter().map(|&i| src.hashes[i]).collect(),
            splits: src
                .splits
                .as_ref()
                .map(|s| map.iter().map(|&i| s[i].clone()).collect()),
            lines: src
                .lines
                .as_ref()
                .map(|l| map.iter().map(|&i| l[i]).collect()),
            map,
            kept: Vec::new(),
        }
    }
}

/// A state read through `GET .../examples` (no export): the examples, then the splits
/// and the members of each.
#[derive(Debug, Clone, Default)]
struct Listing {
    examples: Examples,
    /// `(split id, name)`.
    splits: Vec<(String, String)>,
    next: usize,
    cursor: Option<String>,
    /// Split names by node id.
    members: std::collections::HashMap<String, Vec<String>>,
}

/// The examples of a `GET .../examples` answer, unparsed.
#[derive(serde::Deserialize)]
struct ListedBody<'a> {
    #[serde(borrow)]
    data: ListedData<'a>,
}

#[derive(serde::Deserialize)]
struct ListedData<'a> {
    #[serde(borrow)]
    examples: Vec<&'a serde_json::value::RawValue>,
}

#[derive(serde::Deserialize)]
struct NodeId {
    node_id: String,
}

/// Why the last write did not prove out (what the next plan and the give-up say).
#[derive(Debug, Clone)]
enum Problem {
    Conflict(String),
    Server(Failure),
}

/// The sync engine (see [`crate::sync`]).
pub struct Machine {
    cfg: Config,
    src: SourceColumns,
    retry: RetryPolicy,
    rng: Random,
    out: VecDeque<Step>,
    phase: Option<Phase>,
    pending: Option<Pending>,
    awaiting_manifest: bool,
    /// A state was read: plan from it at the next poll, once the host has let go of the
    /// answer or manifest it came from (at scale, the plan and that answer are the two
    /// largest things a sync holds; not at the same time).
    plan_next: bool,
    ended: bool,
    // The read under way.
    reader: Reader,
    reading: State,
    // The loop.
    state: Option<State>,
    trust_manifest: bool,
    wrote: Option<PlanReport>,
    writes: u32,
    concurrent: bool,
    problem: Option<Problem>,
    write: Option<Write>,
    /// The proof's versions and clock, while the dataset's record is read.
    proof: Option<(Versions, Option<i64>)>,
    /// The state read without the export, while split memberships are read.
    listing: Option<Listing>,
    /// The plan of the whole sync while it writes in chunks (what the result reports).
    overall: Option<PlanReport>,
    /// Writes up to the last proven chunk of a sync in chunks (not counted against the
    /// budget: each part has the budget of a whole sync).
    chunks: u32,
    /// The versions this sync's proven writes made, oldest first.
    made: Vec<String>,
    /// The content of examples of the dataset that a sync in parts deletes in later parts,
    /// by node id (read once, when a deletion passes the write limit).
    contents: std::collections::HashMap<String, Content>,
    server_version: Option<Vec<u64>>,
    clock: Option<i64>,
}

type Flow = Result<(), Fail>;

/// A list of versions newest first, as Phoenix lists them (by row id): never trust the order
/// an intermediary passed on.
fn newest_first(list: &[Value]) -> Versions {
    let mut versions: Versions = list.iter().filter_map(|v| v.as_object().cloned()).collect();
    versions.sort_by_key(|v| std::cmp::Reverse(wire::version_number(v)));
    versions
}
type Versions = Vec<Map<String, Value>>;

fn input_error(kind: ErrorKind, message: impl Into<String>) -> Fail {
    Fail::Input(Error::new(kind, message))
}

impl Machine {
    /// A machine for one sync; the settings and the source are checked first (a typed
    /// error, before anything is sent).
    pub fn new(cfg: Config, src: SourceColumns) -> Result<Machine, Error> {
        if cfg.name.is_some() == cfg.dataset_id.is_some() {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                "give exactly one of a dataset name or a dataset id",
            ));
        }
        if cfg.name.as_deref().is_some_and(|n| n.trim().is_empty()) {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                "the dataset name must be a non-empty name",
            ));
        }
        if cfg.dataset_id.as_deref() == Some("") {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                "the dataset id must be a non-empty id",
            ));
        }
        for (what, value) in [
            ("dataset name", &cfg.name),
            ("dataset id", &cfg.dataset_id),
            ("description", &cfg.description),
        ] {
            if let Some(v) = value.as_deref().filter(|v| v.contains('\0')) {
                return Err(Error::new(
                    ErrorKind::NullCharacter,
                    format!(
                        "{what} {} contains U+0000 (NUL), which Phoenix cannot store; nothing \
                         was sent",
                        quoted(v)
                    ),
                ));
            }
        }
        if cfg.retries < 1 {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                "retries must be at least 1",
            ));
        }
        if cfg.timeout.is_some_and(|t| !(t > 0.0 && t.is_finite())) {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                "the timeout must be a positive number of seconds",
            ));
        }
        let n = src.hashes.len();
        if src.ids.len() != n
            || src.splits.as_ref().is_some_and(|s| s.len() != n)
            || src.span_ids.as_ref().is_some_and(|s| s.len() != n)
        {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                "source columns of different lengths",
            ));
        }
        if n == 0 && !cfg.merge && !cfg.allow_empty {
            return Err(Error::new(
                ErrorKind::EmptySource,
                format!(
                    "{}: the source has no examples; a mirror sync would delete every example \
                     of the dataset (pass {} if that is what you want)",
                    cfg.source_name, cfg.allow_empty_option
                ),
            ));
        }
        let retry = RetryPolicy {
            attempts: cfg.retries,
            backoff: cfg.backoff,
            max_backoff: cfg.max_backoff,
        };
        let mut m = Machine {
            rng: Random::new(cfg.seed),
            trust_manifest: cfg.manifest,
            server_version: cfg.server_version.clone(),
            cfg,
            src,
            retry,
            out: VecDeque::new(),
            phase: None,
            pending: None,
            awaiting_manifest: false,
            plan_next: false,
            ended: false,
            reader: Reader::Main,
            reading: State::default(),
            state: None,
            wrote: None,
            writes: 0,
            concurrent: false,
            problem: None,
            write: None,
            proof: None,
            listing: None,
            overall: None,
            chunks: 0,
            made: Vec::new(),
            contents: std::collections::HashMap::new(),
            clock: None,
        };
        if m.server_version.is_none() {
            m.send(
                Phase::Version,
                m.get(
                    "arize_phoenix_version",
                    vec![],
                    "reading the server version",
                ),
            );
        } else {
            let flow = m.check_version();
            m.flow(flow);
        }
        Ok(m)
    }

    /// The next thing to do. After [`Step::Http`] and [`Step::LoadManifest`] the answer must
    /// be handed to [`Machine::handle`] before polling again.
    pub fn poll(&mut self) -> Step {
        if self.out.is_empty() && self.plan_next && !self.ended {
            self.plan_next = false;
            let flow = self.plan_and_write();
            self.flow(flow);
        }
        if let Some(step) = self.out.pop_front() {
            if matches!(step, Step::Done(_) | Step::Failed(_)) {
                self.ended = true;
            }
            return step;
        }
        let message = if self.ended {
            "the sync has ended"
        } else {
            "poll() before the answer to the last request was handled"
        };
        Step::Failed(Fail::Input(Error::new(ErrorKind::Internal, message)))
    }

    /// The answer to the last [`Step::Http`] or [`Step::LoadManifest`].
    pub fn handle(&mut self, input: Input<'_>) {
        let flow = match input {
            Input::Manifest(bytes) if self.awaiting_manifest => {
                self.awaiting_manifest = false;
                self.on_manifest(bytes)
            }
            Input::Response(response) if self.pending.is_some() => self.on_response(response),
            Input::Transport { kind, message } if self.pending.is_some() => {
                self.on_transport(kind, message)
            }
            _ => Err(input_error(
                ErrorKind::Internal,
                "an answer the sync did not ask for",
            )),
        };
        self.flow(flow);
    }

    fn flow(&mut self, flow: Flow) {
        if let Err(fail) = flow {
            self.pending = None;
            self.phase = None;
            self.plan_next = false;
            self.out.push_back(Step::Failed(fail));
        }
    }

    fn log(&mut self, level: Level, message: String) {
        self.out.push_back(Step::Log(level, message));
    }

    fn label(&self) -> String {
        quoted(
            self.cfg
                .name
                .as_deref()
                .or(self.cfg.dataset_id.as_deref())
                .unwrap_or(""),
        )
    }

    // -- requests ------------------------------------------------------------------------

    fn get(&self, path: &str, query: Vec<(String, String)>, what: &str) -> Request {
        self.read_request(path, query, what, 30.0, Purpose::Read, 0)
    }

    fn read_request(
        &self,
        path: &str,
        query: Vec<(String, String)>,
        what: &str,
        seconds: f64,
        purpose: Purpose,
        examples: usize,
    ) -> Request {
        let (timeout, connect_timeout) = timeouts(self.cfg.timeout, seconds);
        Request {
            method: Method::Get,
            path: path.to_owned(),
            query,
            headers: READ_HEADERS.to_vec(),
            timeout,
            connect_timeout,
            body: None,
            purpose,
            examples,
            what: what.to_owned(),
            label: what.to_owned(),
        }
    }

    fn send(&mut self, phase: Phase, request: Request) {
        self.out.push_back(Step::Http(request.clone()));
        self.phase = Some(phase);
        self.pending = Some(Pending {
            request,
            attempt: 0,
            stale_retried: false,
        });
    }

    fn resend(&mut self, pending: Pending) {
        self.out.push_back(Step::Http(pending.request.clone()));
        self.pending = Some(pending);
    }

    fn on_transport(&mut self, kind: TransportKind, message: String) -> Flow {
        let mut pending = self.pending.take().expect("checked by handle");
        let what = pending.request.what.clone();
        if matches!(self.phase, Some(Phase::Upload)) {
            return self.write_failed(Failure::server(message), true);
        }
        if kind == TransportKind::Stale && !pending.stale_retried {
            // A kept-alive connection the server closed meanwhile: repeat at once, on a new
            // connection, without a warning.
            pending.stale_retried = true;
            self.log(Level::Debug, format!("{what}: {message}; repeating it"));
            self.resend(pending);
            return Ok(());
        }
        let mut failure = Failure::server(format!("{what}: {message}"));
        failure.retry_after = None;
        self.retry_read(pending, failure, message)
    }

    /// Retry a read that failed in a way worth retrying, or end with its failure.
    fn retry_read(&mut self, mut pending: Pending, mut failure: Failure, short: String) -> Flow {
        pending.attempt += 1;
        let transport = failure.status.is_none();
        if (transport || failure.retryable()) && pending.attempt < self.retry.attempts {
            let r = self.rng.unit();
            let delay = self
                .retry
                .delay(pending.attempt - 1, failure.retry_after, Jitter::Half, r);
            self.log(
                Level::Warning,
                format!(
                    "{} failed ({short}); retrying in {delay:.1} s",
                    pending.request.what
                ),
            );
            self.out.push_back(Step::Sleep(delay));
            self.resend(pending);
            return Ok(());
        }
        failure.exhausted = true;
        Err(Fail::Server(failure))
    }

    fn on_response(&mut self, response: Response<'_>) -> Flow {
        let pending = self.pending.take().expect("checked by handle");
        let phase = self.phase.take().expect("a phase with every request");
        let what = pending.request.what.clone();
        if matches!(phase, Phase::Upload) {
            self.phase = Some(Phase::Upload);
            if !response.ok() {
                return self.write_failed(
                    wire::failure(&response, &what, &self.cfg.credentials),
                    false,
                );
            }
            let body = json_object(&response, &what, &self.cfg.server, &pending.request.path)
                .and_then(|b| data(b, &what));
            self.clock = wire::date(&response);
            return match body {
                Ok(Value::Object(result)) => self.prove(result),
                Ok(_) => Err(Fail::Server(Failure::server(format!(
                    "{what}: the answer's 'data' is not an object"
                )))),
                Err(f) => Err(Fail::Server(f)),
            };
        }
        if !response.ok() {
            let failure = wire::failure(&response, &what, &self.cfg.credentials);
            return self.read_failed(phase, pending, failure, &response);
        }
        self.clock = wire::date(&response).or(self.clock);
        let path = pending.request.path.clone();
        match phase {
            Phase::Version => {
                let text = String::from_utf8_lossy(&response.body).into_owned();
                self.server_version = Some(wire::parse_version(&text));
                self.check_version()
            }
            Phase::Export => self.on_export(&response.body),
            Phase::Listed => self.on_listed(&response.body, &what),
            Phase::SplitMembers => self.on_split_members(&response.body, &what),
            Phase::Contents { state, wanted } => {
                self.on_contents(*state, &wanted, &response.body, &what)
            }
            mut phase => {
                let object =
                    json_object(&response, &what, &self.cfg.server, &path).map_err(Fail::Server)?;
                if matches!(phase, Phase::SplitList) {
                    if let Some(l) = self.listing.as_mut() {
                        l.cursor = object
                            .get("next_cursor")
                            .and_then(Value::as_str)
                            .map(str::to_owned);
                    }
                }
                if let Phase::ListForId { cursor, .. } = &mut phase {
                    *cursor = object
                        .get("next_cursor")
                        .and_then(Value::as_str)
                        .map(str::to_owned);
                }
                let body = data(object, &what).map_err(Fail::Server)?;
                self.on_json(phase, body, &what)
            }
        }
    }

    fn read_failed(
        &mut self,
        phase: Phase,
        pending: Pending,
        failure: Failure,
        response: &Response<'_>,
    ) -> Flow {
        match (&phase, failure.status) {
            (Phase::Version, Some(404)) => {
                // A server that does not say its version: its answers will tell.
                self.server_version = Some(vec![]);
                return self.check_version();
            }
            (Phase::GetById, Some(404 | 422)) => {
                let id = self.by_id();
                let mut f = Failure::new(
                    FailureKind::DatasetNotFound,
                    format!("no dataset with id {} on {}", quoted(&id), self.cfg.server),
                );
                f.status = failure.status;
                f.detail = failure.detail;
                f.exhausted = true;
                return Err(Fail::Server(f));
            }
            (Phase::Export, Some(500)) => {
                // The export of a large dataset fails on PostgreSQL (an IN list of every
                // example id past the server's 32,767 query arguments); the version's
                // examples as JSON have no such list.
                self.log(
                    Level::Info,
                    "the dataset's JSONL export failed (HTTP 500); reading its examples as JSON"
                        .to_owned(),
                );
                self.list_examples();
                return Ok(());
            }
            (Phase::GetById, Some(500)) => {
                // Phoenix answers 500 for a dataset that never had examples; its list of
                // datasets has it. (A 500 for other reasons is retried as usual.)
                let listing = self.list_page(None);
                self.send(
                    Phase::ListForId {
                        cursor: None,
                        get: Box::new(pending),
                        failed: failure,
                    },
                    listing,
                );
                return Ok(());
            }
            _ => {}
        }
        let _ = response;
        self.phase = Some(phase);
        let short = failure.short();
        self.retry_read(pending, failure, short)
    }

    fn list_page(&self, cursor: Option<&str>) -> Request {
        let mut query = vec![("limit".to_owned(), "100".to_owned())];
        if let Some(c) = cursor {
            query.push(("cursor".to_owned(), c.to_owned()));
        }
        self.get("v1/datasets", query, "listing datasets")
    }

    fn by_id(&self) -> String {
        match self.reader {
            Reader::Main => self.cfg.dataset_id.clone().unwrap_or_default(),
            Reader::ReadBack | Reader::Prove => self
                .write
                .as_ref()
                .map(|w| w.dataset_id())
                .unwrap_or_default(),
        }
    }

    fn check_version(&mut self) -> Flow {
        let v = self.server_version.clone().unwrap_or_default();
        if v.len() >= 2 && v.as_slice() < &wire::MIN_SERVER_VERSION[..] {
            return Err(Fail::Server(Failure::new(
                FailureKind::ServerTooOld,
                format!(
                    "Phoenix server {} is too old: phoenix-upsert needs Phoenix >= {} (dataset \
                     example ids and declarative updates)",
                    wire::version_text(&v),
                    wire::version_text(&wire::MIN_SERVER_VERSION)
                ),
            )));
        }
        self.read_state(Reader::Main);
        Ok(())
    }

    // -- state ---------------------------------------------------------------------------

    fn read_state(&mut self, reader: Reader) {
        self.reader = reader;
        self.reading = State::default();
        match (reader, &self.cfg.name) {
            (Reader::Main, Some(name)) => {
                let request = self.get(
                    "v1/datasets",
                    vec![("name".to_owned(), name.clone())],
                    &format!("looking up dataset {}", quoted(name)),
                );
                self.send(Phase::FindByName, request);
            }
            _ => {
                let id = self.by_id();
                let request = self.get(
                    &format!("v1/datasets/{}", segment(&id)),
                    vec![],
                    "reading the dataset",
                );
                self.send(Phase::GetById, request);
            }
        }
    }

    fn on_json(&mut self, phase: Phase, body: Value, what: &str) -> Flow {
        let bad = |what: &str| {
            Fail::Server(Failure::server(format!(
                "{what}: the answer is not what Phoenix sends"
            )))
        };
        match phase {
            Phase::FindByName => {
                let name = self.cfg.name.clone().unwrap_or_default();
                let list = body.as_array().ok_or_else(|| bad(what))?;
                let found = list.iter().find_map(|d| match d {
                    Value::Object(m) if m.get("name").and_then(Value::as_str) == Some(&name) => {
                        Some(m.clone())
                    }
                    _ => None,
                });
                self.on_info(found)
            }
            Phase::GetById => match body {
                Value::Object(info) => self.on_info_by_id(info),
                _ => Err(bad(what)),
            },
            Phase::ListForId {
                cursor,
                get,
                failed,
            } => {
                let id = self.by_id();
                let list = body.as_array().ok_or_else(|| bad(what))?;
                if let Some(found) = list.iter().find_map(|d| match d {
                    Value::Object(m) if m.get("id").and_then(Value::as_str) == Some(&id) => {
                        Some(m.clone())
                    }
                    _ => None,
                }) {
                    return self.on_info_by_id(found);
                }
                if let Some(next) = cursor.filter(|c| !c.is_empty()) {
                    let request = self.list_page(Some(&next));
                    self.send(
                        Phase::ListForId {
                            cursor: None,
                            get,
                            failed,
                        },
                        request,
                    );
                    return Ok(());
                }
                // Not listed: the 500 stands, retried as any other.
                self.phase = Some(Phase::GetById);
                let short = failed.short();
                self.retry_read(*get, failed, short)
            }
            Phase::Versions => {
                let versions = newest_first(body.as_array().ok_or_else(|| bad(what))?);
                self.on_versions(versions)
            }
            Phase::SplitList => {
                let list = body.as_array().ok_or_else(|| bad(what))?;
                let listing = self.listing.as_mut().expect("a listing");
                for split in list.iter().filter_map(Value::as_object) {
                    listing
                        .splits
                        .push((field(split, "id"), field(split, "name")));
                }
                if let Some(cursor) = listing.cursor.take().filter(|c| !c.is_empty()) {
                    let request = self.split_page(Some(&cursor));
                    self.send(Phase::SplitList, request);
                    return Ok(());
                }
                self.next_split()
            }
            Phase::Doubt(examples) => {
                let n = body
                    .get("examples")
                    .and_then(Value::as_array)
                    .map_or(-1, |e| e.len() as i64);
                self.on_doubt(examples, n)
            }
            Phase::ProveVersions => {
                let versions = newest_first(body.as_array().ok_or_else(|| bad(what))?);
                self.on_prove_versions(versions)
            }
            Phase::Version
            | Phase::Export
            | Phase::Listed
            | Phase::SplitMembers
            | Phase::Contents { .. }
            | Phase::Manifest(_)
            | Phase::Upload => Err(input_error(ErrorKind::Internal, "unexpected answer")),
        }
    }

    fn on_info_by_id(&mut self, info: Map<String, Value>) -> Flow {
        let id = self.by_id();
        let got = field(&info, "id");
        if got != id && (global_id(&id).is_none() || global_id(&got) != global_id(&id)) {
            // A proxy or cache answering for another dataset: writing on would overwrite it.
            return Err(Fail::Server(Failure::server(format!(
                "reading the dataset: asked for dataset {}, {} answered with dataset {} ({}); \
                 is a cache or proxy in front of Phoenix answering for the wrong URL?",
                quoted(&id),
                self.cfg.server,
                quoted(&got),
                quoted(&field(&info, "name"))
            ))));
        }
        if self.reader == Reader::Prove {
            let Some((versions, proven_at)) = self.proof.take() else {
                return Err(input_error(ErrorKind::Internal, "lost the proof"));
            };
            return self.proven(info, versions, proven_at);
        }
        self.on_info(Some(info))
    }

    fn on_info(&mut self, info: Option<Map<String, Value>>) -> Flow {
        let Some(info) = info else {
            return self.state_ready(State::default());
        };
        let id = field(&info, "id");
        self.reading.info = Some(info);
        self.reading.counted_at = self.clock;
        let request = self.get(
            &format!("v1/datasets/{}/versions", segment(&id)),
            vec![("limit".to_owned(), VERSION_WINDOW.to_string())],
            "listing dataset versions",
        );
        self.send(Phase::Versions, request);
        Ok(())
    }

    fn fingerprint(
        &self,
        info: &Map<String, Value>,
        versions: &[Map<String, Value>],
    ) -> Fingerprint {
        let previous = versions.get(1);
        Fingerprint {
            server: self.cfg.server.clone(),
            dataset_id: field(info, "id"),
            dataset_created_at: field(info, "created_at"),
            version_id: versions
                .first()
                .map(|v| field(v, "version_id"))
                .unwrap_or_default(),
            version_created_at: versions
                .first()
                .map(|v| field(v, "created_at"))
                .unwrap_or_default(),
            previous_version_id: previous.map(|v| field(v, "version_id")),
            previous_version_created_at: previous.map(|v| field(v, "created_at")),
            version_ids: versions
                .iter()
                .take(VERSION_WINDOW)
                .map(|v| field(v, "version_id"))
                .collect(),
            example_count: count(info, "example_count") as u64,
        }
    }

    fn on_versions(&mut self, versions: Vec<Map<String, Value>>) -> Flow {
        self.reading.versions = versions;
        if self.reading.versions.is_empty() {
            let mut state = std::mem::take(&mut self.reading);
            state.read_at = self.clock;
            return self.state_ready(state);
        }
        let info = self.reading.info.clone().expect("read before the versions");
        if self.reader == Reader::Main && self.trust_manifest {
            let fp = self.fingerprint(&info, &self.reading.versions);
            self.out.push_back(Step::LoadManifest {
                file: manifest::file_name(&fp.server, &fp.dataset_id),
            });
            self.phase = Some(Phase::Manifest(fp));
            self.awaiting_manifest = true;
            return Ok(());
        }
        self.export();
        Ok(())
    }

    fn on_manifest(&mut self, bytes: Option<Cow<'_, [u8]>>) -> Flow {
        let Some(Phase::Manifest(fp)) = self.phase.take() else {
            return Err(input_error(ErrorKind::Internal, "unexpected manifest"));
        };
        let file = manifest::file_name(&fp.server, &fp.dataset_id);
        if let Some(bytes) = bytes {
            match manifest::decode(&bytes, &fp) {
                Ok(Loaded::Current(examples))
                    if self.src.splits.is_none() || self.members_only(&examples) =>
                {
                    self.log(
                        Level::Debug,
                        format!("using the sync manifest for {}", fp.version_id),
                    );
                    if self.src.splits.is_some() {
                        // The manifest proves content only (Phoenix does not version split
                        // membership): read the members of each split, not the examples.
                        self.reading.from_manifest = true;
                        self.listing = Some(Listing {
                            examples,
                            ..Listing::default()
                        });
                        let request = self.split_page(None);
                        self.send(Phase::SplitList, request);
                        return Ok(());
                    }
                    let mut state = std::mem::take(&mut self.reading);
                    state.examples = examples;
                    state.from_manifest = true;
                    return self.state_ready(state);
                }
                Ok(Loaded::Current(_)) => self.log(
                    Level::Debug,
                    format!(
                        "sync manifest {file} applies, but the source has splits: reading the \
                         dataset's export (content and splits in one read)"
                    ),
                ),
                Ok(Loaded::Stale) => self.log(
                    Level::Debug,
                    format!("sync manifest {file} is stale; reading the dataset from the server"),
                ),
                Err(e) => self.log(
                    Level::Warning,
                    format!("ignoring a corrupt sync manifest {file} ({e})"),
                ),
            }
        }
        self.export();
        Ok(())
    }

    /// Whether a source with splits reads only the members of each split beside a state of
    /// `examples` (a current manifest, or a proven write): when the dataset is too large for
    /// the export (its content would be read as JSON, then the members again), and every node
    /// id is known. A smaller one is exported: content and splits in one read, as cheap.
    fn members_only(&self, examples: &Examples) -> bool {
        examples.len() > self.cfg.read_limit && !examples.node_ids_unknown()
    }

    fn export(&mut self) {
        let info = self.reading.info.as_ref().expect("read before the export");
        let n = count(info, "example_count");
        if n > self.cfg.read_limit {
            self.list_examples();
            return;
        }
        let id = field(info, "id");
        let version = field(&self.reading.versions[0], "version_id");
        let mut request = self.read_request(
            &format!("v1/datasets/{}/jsonl", segment(&id)),
            vec![("version_id".to_owned(), version)],
            "downloading the dataset",
            wire::read_seconds(n),
            Purpose::Export,
            n,
        );
        request.label = format!("reading {}", quoted(&field(info, "name")));
        self.send(Phase::Export, request);
    }

    /// The examples of a version from JSONL lines (the export, or the JSON list as lines),
    /// hashed by the core.
    fn scan_examples(&self, body: impl std::io::Read) -> Result<Examples, Fail> {
        let info = self
            .reading
            .info
            .as_ref()
            .expect("read before the examples");
        let mut opts = ScanOptions::default();
        opts.keys.id = Some("id".to_owned());
        opts.keys.node_id = Some("node_id".to_owned());
        opts.keys.splits = Some("splits".to_owned());
        let scan = scan_all(body, &opts).map_err(|e| {
            Fail::Server(Failure::server(format!(
                "reading dataset {}: the server's export is not Phoenix JSONL ({}); is {} a \
                 Phoenix server?",
                quoted(&field(info, "name")),
                e.message,
                self.cfg.server
            )))
        })?;
        // Phoenix exports `id` as the node id for an example without an external id.
        let external_ids = (0..scan.ids.len()).map(|i| scan.external_id(i)).collect();
        Ok(Examples {
            node_ids: scan
                .node_ids
                .iter()
                .map(|n| Some(n.unwrap_or_default()))
                .collect(),
            external_ids,
            hashes: scan.hashes,
            splits: scan
                .splits
                .into_iter()
                .map(|s| {
                    s.map(|s| s.iter().map(|x| x.to_string()).collect())
                        .unwrap_or_default()
                })
                .collect(),
        })
    }

    fn on_export(&mut self, body: &[u8]) -> Flow {
        let info = self.reading.info.clone().expect("read before the export");
        let examples = self.scan_examples(body)?;
        self.reading.read_at = self.clock;
        let n = count(&info, "example_count");
        // The count was read before the versions: a version made after that second (another
        // writer in between) is not in it, and an export cut short could agree with it.
        let newer = match (self.reading.counted_at, self.reading.versions.first()) {
            (Some(at), Some(v)) => {
                manifest::second(&field(v, "created_at")).is_some_and(|c| c > at)
            }
            _ => false,
        };
        if examples.len() == n && !newer {
            let mut state = std::mem::take(&mut self.reading);
            state.examples = examples;
            return self.state_ready(state);
        }
        // The dataset's count is the first witness; it is not exact (PostgreSQL's interleaving
        // writers can leave it off for good), so a disagreement is settled by the version's
        // examples as JSON (a document cut short does not parse).
        let id = field(&info, "id");
        let version = field(&self.reading.versions[0], "version_id");
        let request = self.read_request(
            &format!("v1/datasets/{}/examples", segment(&id)),
            vec![("version_id".to_owned(), version)],
            "reading the dataset's examples",
            wire::read_seconds(n.max(examples.len())),
            Purpose::Read,
            n.max(examples.len()),
        );
        self.send(Phase::Doubt(examples), request);
        Ok(())
    }

    fn examples_request(&self, split: Option<&str>) -> Request {
        let info = self
            .reading
            .info
            .as_ref()
            .expect("read before the examples");
        let n = count(info, "example_count");
        let id = field(info, "id");
        let version = field(&self.reading.versions[0], "version_id");
        let mut query = vec![("version_id".to_owned(), version)];
        if let Some(split) = split {
            query.push(("split".to_owned(), split.to_owned()));
        }
        let mut request = self.read_request(
            &format!("v1/datasets/{}/examples", segment(&id)),
            query,
            "downloading the dataset's examples",
            wire::read_seconds(n),
            Purpose::Export,
            n,
        );
        request.label = format!("reading {}", quoted(&field(info, "name")));
        request
    }

    /// Read the version's examples as JSON: no `IN` list of every example, as the JSONL
    /// export has on PostgreSQL.
    fn list_examples(&mut self) {
        let request = self.examples_request(None);
        self.send(Phase::Listed, request);
    }

    fn split_page(&self, cursor: Option<&str>) -> Request {
        let info = self.reading.info.as_ref().expect("read before the splits");
        let mut query = vec![("limit".to_owned(), "1000".to_owned())];
        if let Some(c) = cursor {
            query.push(("cursor".to_owned(), c.to_owned()));
        }
        self.get(
            &format!("v1/datasets/{}/splits", segment(&field(info, "id"))),
            query,
            "listing the dataset's splits",
        )
    }

    fn raw_examples<'a>(
        &self,
        body: &'a [u8],
        what: &str,
    ) -> Result<Vec<&'a serde_json::value::RawValue>, Fail> {
        serde_json::from_slice::<ListedBody<'a>>(body)
            .map(|b| b.data.examples)
            .map_err(|e| {
                Fail::Server(Failure::server(format!(
                    "{what}: the answer is not Phoenix's list of examples ({e}); is {} a \
                     Phoenix server?",
                    self.cfg.server
                )))
            })
    }

    fn on_listed(&mut self, body: &[u8], what: &str) -> Flow {
        let raw = self.raw_examples(body, what)?;
        // Each example's JSON as a line of JSONL, read in place (not copied into one text).
        let examples = self.scan_examples(Lines::new(raw.iter().map(|r| r.get().as_bytes())))?;
        // A whole JSON document is the version's examples (one cut short does not parse).
        self.reading.read_at = self.clock;
        if self.src.splits.is_none() {
            let mut state = std::mem::take(&mut self.reading);
            state.examples = examples;
            return self.state_ready(state);
        }
        self.listing = Some(Listing {
            examples,
            ..Listing::default()
        });
        let request = self.split_page(None);
        self.send(Phase::SplitList, request);
        Ok(())
    }

    fn next_split(&mut self) -> Flow {
        let listing = self.listing.as_mut().expect("a listing");
        if let Some((id, _)) = listing.splits.get(listing.next).cloned() {
            listing.next += 1;
            let request = self.examples_request(Some(&id));
            self.send(Phase::SplitMembers, request);
            return Ok(());
        }
        let mut listing = self.listing.take().expect("a listing");
        let mut examples = listing.examples;
        for (node, names) in examples.node_ids.iter().zip(examples.splits.iter_mut()) {
            let mut found = listing
                .members
                .remove(node.unwrap_or_default())
                .unwrap_or_default();
            found.sort();
            *names = found;
        }
        let mut state = std::mem::take(&mut self.reading);
        state.examples = examples;
        self.state_ready(state)
    }

    fn on_split_members(&mut self, body: &[u8], what: &str) -> Flow {
        let raw = self.raw_examples(body, what)?;
        let listing = self.listing.as_mut().expect("a listing");
        let name = listing.splits[listing.next - 1].1.clone();
        for example in raw {
            let node: NodeId = serde_json::from_str(example.get()).map_err(|e| {
                Fail::Server(Failure::server(format!(
                    "{what}: an example without a node id ({e})"
                )))
            })?;
            listing
                .members
                .entry(node.node_id)
                .or_default()
                .push(name.clone());
        }
        self.next_split()
    }

    fn on_doubt(&mut self, examples: Examples, listed: i64) -> Flow {
        let mut state = std::mem::take(&mut self.reading);
        let info = state.info.as_ref().expect("read before the doubt");
        if listed != examples.len() as i64 {
            state.unknown = Some(format!(
                "the export of version {} holds {} examples, the version's examples are {} and \
                 the dataset counts {}",
                field(&state.versions[0], "version_id"),
                examples.len(),
                listed,
                count(info, "example_count")
            ));
        }
        state.examples = examples;
        self.state_ready(state)
    }

    fn state_ready(&mut self, state: State) -> Flow {
        match self.reader {
            Reader::Main => {
                self.trust_manifest = false; // a second read is after a failure: ask the server
                self.state = Some(state);
                self.plan_next = true;
                Ok(())
            }
            Reader::ReadBack => self.read_back(state),
            Reader::Prove => Err(input_error(ErrorKind::Internal, "unexpected state")),
        }
    }

    // -- plan and write ------------------------------------------------------------------

    /// The plan of the source (or of a part of it) from `state`; its added, updated and
    /// split-change indices are the whole source's, its `matched` pairs the part's.
    fn make_plan(
        &self,
        state: &State,
        snapshot: bool,
        sub: Option<&Sub>,
    ) -> Result<(Plan, PlanReport), Error> {
        let source = match sub {
            Some(sub) => Source {
                ids: &sub.ids,
                hashes: &sub.hashes,
                splits: sub.splits.as_deref(),
                lines: sub.lines.as_deref(),
            },
            None => Source {
                ids: &self.src.ids,
                hashes: &self.src.hashes,
                splits: self.src.splits.as_deref(),
                lines: self.src.lines.as_deref(),
            },
        };
        let options = Options {
            merge: self.cfg.merge,
            exists: state.info.is_some(),
            snapshot,
            unknown: state.unknown.is_some(),
        };
        let mut p = plan(&state.examples, &source, options)?;
        if let Some(sub) = sub {
            for list in [&mut p.added, &mut p.updated, &mut p.split_changes] {
                for i in list.iter_mut() {
                    // An example carried as the server holds it is unchanged by construction.
                    *i = *sub.map.get(*i).ok_or_else(|| {
                        Error::new(ErrorKind::Internal, "a part changes an example it keeps")
                    })?;
                }
            }
        }
        let prev = &state.examples;
        let name = match &state.info {
            Some(info) => field(info, "name"),
            None => self.cfg.name.clone().unwrap_or_default(),
        };
        let report = PlanReport {
            dataset_name: name,
            dataset_id: state.dataset_id(),
            base_version_id: state.version_id(),
            merge: self.cfg.merge,
            action: p.action,
            added: p.added.clone(),
            updated: p.updated.clone(),
            split_changes: p.split_changes.clone(),
            deleted: p
                .deleted
                .iter()
                .map(|&q| {
                    prev.external_ids
                        .get(q)
                        .unwrap_or_else(|| prev.node_id(q))
                        .to_owned()
                })
                .collect(),
            unchanged: p.unchanged,
        };
        Ok((p, report))
    }

    fn plan_and_write(&mut self) -> Flow {
        let state = self.state.take().expect("a state to plan from");
        let (plan, report) = match self.make_plan(&state, self.problem.is_some(), None) {
            Ok(planned) => planned,
            Err(e)
                if e.kind == ErrorKind::InvalidSourceId
                    && state.from_manifest
                    && state.examples.node_ids_unknown() =>
            {
                // The manifest does not know every node id (a write of this client's created
                // examples it has not read back); the server does.
                self.state = None;
                self.read_state(Reader::Main);
                return Ok(());
            }
            Err(e) => return Err(Fail::Input(e)),
        };
        if self.cfg.dry_run {
            self.out.push_back(Step::Done(Box::new(Outcome {
                plan: report,
                synced: None,
                server_version: self.server_version.clone(),
            })));
            return Ok(());
        }
        if plan.action == Action::None {
            let examples = (!state.from_manifest).then_some(&state.examples);
            let report = self
                .overall
                .take()
                .or_else(|| self.wrote.clone())
                .unwrap_or(report);
            return self.finish(report, &state, examples, state.read_at);
        }
        let conflict = matches!(self.problem, Some(Problem::Conflict(_)));
        let limit = if conflict {
            self.cfg.retries.max(CONFLICT_WRITES)
        } else {
            self.cfg.retries
        };
        if self.writes - self.chunks >= limit {
            return Err(self.give_up());
        }
        if self.overall.is_none() {
            self.overall = Some(report.clone());
        }
        match self.contents_request(&state, &plan) {
            Kept::Known => {}
            Kept::Read(request, wanted) => {
                let state = Box::new(state);
                self.send(Phase::Contents { state, wanted }, *request);
                return Ok(());
            }
            Kept::NodeIdsUnknown => {
                // A manifest without the node ids of examples this client created: the
                // server's state has them.
                self.read_state(Reader::Main);
                return Ok(());
            }
        }
        let (plan, report, sub) = self.chunk(&state, plan, report)?;
        self.writes += 1;
        self.wrote = Some(report.clone());
        if let Some(why) = &state.unknown {
            self.log(
                Level::Warning,
                format!(
                    "dataset {}: {why}; writing the whole source ({} examples) instead of \
                     trusting that read",
                    quoted(&report.dataset_name),
                    self.src.hashes.len()
                ),
            );
        }
        let request = self.upload(&plan, &report, sub.as_ref());
        self.log(
            Level::Info,
            format!(
                "{} {}: sending {} examples (added {}, updated {}, deleted {}, unchanged {})",
                plan.action.as_str(),
                quoted(&report.dataset_name),
                request.examples,
                report.added.len(),
                report.updated.len() + report.split_changes.len(),
                report.deleted.len(),
                report.unchanged
            ),
        );
        self.write = Some(Write {
            report,
            plan,
            sub,
            from: state,
            result: Map::new(),
        });
        self.send(Phase::Upload, request);
        Ok(())
    }

    /// The write of a plan that creates more examples than one request may (see
    /// [`Config::write_limit`]): the first part of it — the source without the examples it
    /// adds past the limit, planned from the same state. Every state in between is the
    /// source without some of the examples it adds (a prefix of the plan); each write is
    /// proven, and the next is planned from the proven state. A state not known to be the
    /// server's is written whole (the server diffs it).
    fn chunk(
        &mut self,
        state: &State,
        plan: Plan,
        report: PlanReport,
    ) -> Result<(Plan, PlanReport, Option<Sub>), Fail> {
        let limit = self.cfg.write_limit.max(1);
        // An append carries only what changed; Phoenix also rebuilds the split memberships of
        // every example an append carries with one list of their ids.
        let appending = plan.action == Action::Append && !plan.full;
        let carried = plan.added.len() + plan.updated.len() + plan.split_changes.len();
        let adding = plan.added.len() > limit || (appending && carried > limit);
        // An update without splits removes the memberships of what it deletes with one list
        // of their ids: past the limit, the examples deleted later stay as they are.
        let deleting = plan.deleted.len() > limit;
        if state.unknown.is_some() || !(adding || deleting) {
            return Ok((plan, report, None));
        }
        let mut sub = if adding {
            self.adding_part(state, &plan, limit, appending)
        } else {
            Sub::of(&self.src, (0..self.src.hashes.len()).collect())
        };
        if deleting {
            let prev = &state.examples;
            for &p in &plan.deleted[limit..] {
                let content = self
                    .contents
                    .get(prev.node_id(p))
                    .cloned()
                    .ok_or_else(|| input_error(ErrorKind::Internal, "content not read"))?;
                sub.ids.push(Some(prev.node_id(p)));
                sub.hashes.push(prev.hashes[p]);
                if let Some(splits) = sub.splits.as_mut() {
                    splits.push(prev.splits[p].clone());
                }
                if let Some(lines) = sub.lines.as_mut() {
                    lines.push(0);
                }
                sub.kept.push(content);
            }
        }
        let (part, part_report) = self
            .make_plan(state, self.problem.is_some(), Some(&sub))
            .map_err(Fail::Input)?;
        let name = quoted(&report.dataset_name);
        let mut say = |what: (&str, usize), now: (&str, usize)| {
            self.log(
                Level::Info,
                format!(
                    "dataset {name}: this sync {} {} examples, more than one request may \
                     ({limit}: the server's query limits); {} {} now and the rest in further \
                     versions",
                    what.0, what.1, now.0, now.1
                ),
            );
        };
        if adding {
            let carried_now = part_report.added.len()
                + part_report.updated.len()
                + part_report.split_changes.len();
            let all = if appending { carried } else { plan.added.len() };
            say(("writes", all), ("writing", carried_now));
        }
        if deleting {
            let now = part_report.deleted.len();
            say(("deletes", plan.deleted.len()), ("deleting", now));
        }
        Ok((part, part_report, Some(sub)))
    }

    /// The part of a sync adding more than one request may: the source without the examples
    /// added past the limit, and with those changed past it as the dataset holds them now.
    fn adding_part(&self, state: &State, plan: &Plan, limit: usize, appending: bool) -> Sub {
        let mut first: Vec<usize> = if appending {
            plan.added
                .iter()
                .chain(&plan.updated)
                .chain(&plan.split_changes)
                .copied()
                .collect()
        } else {
            plan.added.clone()
        };
        first.sort_unstable();
        let later: std::collections::HashSet<usize> = first[limit..].iter().copied().collect();
        // The part leaves out the examples added later, and shows those changed later as the
        // dataset holds them now (same id, its hash and splits): unchanged for this part.
        let previous: std::collections::HashMap<usize, usize> =
            plan.matched.iter().copied().collect();
        let keep = (0..self.src.hashes.len())
            .filter(|i| !later.contains(i) || previous.contains_key(i))
            .collect();
        let mut sub = Sub::of(&self.src, keep);
        for k in 0..sub.map.len() {
            let i = sub.map[k];
            if let (true, Some(&p)) = (later.contains(&i), previous.get(&i)) {
                sub.hashes[k] = state.examples.hashes[p];
                if let Some(splits) = sub.splits.as_mut() {
                    splits[k] = state.examples.splits[p].clone();
                }
            }
        }
        sub
    }

    /// The read of the version's examples when a sync deletes more than one request may and
    /// the content of those it deletes later (carried as they are until then) is not known.
    fn contents_request(&self, state: &State, plan: &Plan) -> Kept {
        let limit = self.cfg.write_limit.max(1);
        if state.unknown.is_some() || plan.deleted.len() <= limit {
            return Kept::Known;
        }
        let prev = &state.examples;
        let wanted: Vec<String> = plan.deleted[limit..]
            .iter()
            .map(|&p| prev.node_id(p).to_owned())
            .filter(|id| !self.contents.contains_key(id))
            .collect();
        if wanted.is_empty() {
            return Kept::Known;
        }
        if wanted.iter().any(String::is_empty) {
            return Kept::NodeIdsUnknown;
        }
        let (Some(id), Some(version)) = (state.dataset_id(), state.version_id()) else {
            return Kept::NodeIdsUnknown;
        };
        let n = prev.len();
        let mut request = self.read_request(
            &format!("v1/datasets/{}/examples", segment(&id)),
            vec![("version_id".to_owned(), version)],
            "downloading the dataset's examples",
            wire::read_seconds(n),
            Purpose::Export,
            n,
        );
        request.label = format!(
            "reading {} (to delete its examples in parts)",
            quoted(&self.cfg.name.clone().unwrap_or_else(|| id.clone()))
        );
        Kept::Read(Box::new(request), wanted)
    }

    fn on_contents(&mut self, state: State, wanted: &[String], body: &[u8], what: &str) -> Flow {
        let wanted: std::collections::HashSet<&str> = wanted.iter().map(String::as_str).collect();
        for raw in self.raw_examples(body, what)? {
            let example: Listed = serde_json::from_str(raw.get()).map_err(|e| {
                Fail::Server(Failure::server(format!(
                    "{what}: an example is not what Phoenix sends ({e})"
                )))
            })?;
            if wanted.contains(example.node_id.as_str()) {
                self.contents.insert(
                    example.node_id,
                    [example.input, example.output, example.metadata],
                );
            }
        }
        if let Some(missing) = wanted.iter().find(|id| !self.contents.contains_key(**id)) {
            return Err(Fail::Server(Failure::server(format!(
                "{what}: version {} does not list example {missing}, which it was read with",
                state.version_id().unwrap_or_default()
            ))));
        }
        self.state = Some(state);
        self.plan_and_write()
    }

    /// The upload request: the plan's action and the examples it carries, as Phoenix's JSON
    /// upload (the rows written by the host's source, the rest here).
    fn upload(&self, plan: &Plan, report: &PlanReport, sub: Option<&Sub>) -> Request {
        let n = self.src.hashes.len();
        let indices: Vec<usize> =
            if plan.full || matches!(plan.action, Action::Create | Action::Update) {
                sub.map_or_else(|| (0..n).collect(), |s| s.map.clone())
            } else {
                let mut v: Vec<usize> = plan
                    .added
                    .iter()
                    .chain(&plan.updated)
                    .chain(&plan.split_changes)
                    .copied()
                    .collect();
                v.sort_unstable();
                v
            };
        let js = |s: &str| Value::String(s.to_owned()).to_string();
        let mut head = format!(
            "{{\"action\":{},\"name\":{}",
            js(plan.action.as_str()),
            js(&report.dataset_name)
        );
        if let (Some(d), Action::Create) = (&self.cfg.description, plan.action) {
            head.push_str(&format!(",\"description\":{}", js(d)));
        }
        // Examples of the dataset carried as the server holds them (a deletion in parts).
        let kept = sub.map_or(&[][..], |s| &s.kept[..]);
        let kept_ids: Vec<Option<&str>> = sub.map_or(Vec::new(), |s| {
            (s.map.len()..s.ids.len()).map(|k| s.ids.get(k)).collect()
        });
        let kept_splits = sub
            .and_then(|s| s.splits.as_ref())
            .map_or(&[][..], |s| &s[s.len() - kept.len()..]);
        let mut segments = vec![Segment::Bytes(head.into_bytes())];
        for (part, key) in ["inputs", "outputs", "metadata"].iter().enumerate() {
            segments.push(Segment::Bytes(format!(",\"{key}\":[").into_bytes()));
            segments.push(Segment::Rows(part as u8));
            let mut tail = Vec::new();
            for (k, content) in kept.iter().enumerate() {
                if k > 0 || !indices.is_empty() {
                    tail.push(b',');
                }
                tail.extend_from_slice(content[part].get().as_bytes());
            }
            tail.push(b']');
            segments.push(Segment::Bytes(tail));
        }
        let column = |key: &str, values: Vec<Value>| {
            Segment::Bytes(format!(",\"{key}\":{}", Value::Array(values)).into_bytes())
        };
        let opt = |v: Option<&str>| v.map_or(Value::Null, |v| Value::String(v.to_owned()));
        let names =
            |names: &Vec<String>| Value::Array(names.iter().cloned().map(Value::String).collect());
        if self.src.has_ids || !kept.is_empty() {
            segments.push(column(
                "example_ids",
                indices
                    .iter()
                    .map(|&i| opt(self.src.ids.get(i)))
                    .chain(kept_ids.iter().copied().map(opt))
                    .collect(),
            ));
        }
        if let Some(splits) = &self.src.splits {
            segments.push(column(
                "splits",
                indices
                    .iter()
                    .map(|&i| names(&splits[i]))
                    .chain(kept_splits.iter().map(names))
                    .collect(),
            ));
        }
        if let Some(spans) = &self.src.span_ids {
            segments.push(column(
                "span_ids",
                indices
                    .iter()
                    .map(|&i| opt(spans.get(i)))
                    .chain(kept.iter().map(|_| Value::Null))
                    .collect(),
            ));
        }
        let carried = indices.len() + kept.len();
        segments.push(Segment::Bytes(b"}".to_vec()));
        let (timeout, connect_timeout) =
            timeouts(self.cfg.timeout, wire::upload_seconds(carried, n));
        Request {
            method: Method::Post,
            path: "v1/datasets/upload".to_owned(),
            query: vec![("sync".to_owned(), "true".to_owned())],
            headers: WRITE_HEADERS.to_vec(),
            timeout,
            connect_timeout,
            examples: carried,
            label: format!(
                "{} {} examples",
                plan.action.as_str(),
                wire::thousands(carried)
            ),
            body: Some(super::Body { segments, indices }),
            purpose: Purpose::Upload,
            what: "uploading examples".to_owned(),
        }
    }

    /// A write that failed (no answer, or not a success): read again and plan again —
    /// never a blind resend.
    fn write_failed(&mut self, failure: Failure, transport: bool) -> Flow {
        self.phase = None;
        let status = failure.status;
        let creating = self
            .wrote
            .as_ref()
            .is_some_and(|w| w.action == Action::Create);
        let keeping = self
            .write
            .as_ref()
            .and_then(|w| w.sub.as_ref())
            .is_some_and(|s| !s.kept.is_empty());
        if keeping && status == Some(422) && failure.detail.contains("No examples found") {
            // Another writer deleted an example this part carries as the dataset held it.
            return self.conflict(format!(
                "an example this sync keeps until a later part is gone ({})",
                failure.short()
            ));
        }
        if creating && matches!(status, Some(409 | 500)) {
            // Another writer created the dataset first: sync into theirs. (On PostgreSQL the
            // loser of that race gets a 500, a unique-name violation.) Nothing landed.
            self.wrote = None;
            self.concurrent = true;
            self.log(
                Level::Info,
                format!(
                    "creating dataset {} failed (HTTP {}), as when another writer creates it at \
                     the same time; reading it again",
                    self.label(),
                    status.unwrap_or(0)
                ),
            );
        } else if !(transport || failure.retryable()) {
            return Err(Fail::Server(failure));
        } else {
            let r = self.rng.unit();
            let delay = self.retry.delay(
                self.writes.saturating_sub(1),
                failure.retry_after,
                Jitter::Half,
                r,
            );
            self.log(
                Level::Warning,
                format!(
                    "sync of {} failed ({}); reading the dataset again and planning again in \
                     {delay:.1} s",
                    self.label(),
                    failure.short()
                ),
            );
            self.out.push_back(Step::Sleep(delay));
        }
        self.problem = Some(Problem::Server(failure));
        if self.chunks == 0 {
            // After a proven part the plan reported stays the whole sync's: the next plan is
            // only what is left of it.
            self.overall = None;
        }
        self.state = None;
        self.read_state(Reader::Main);
        Ok(())
    }

    // -- proof ---------------------------------------------------------------------------

    fn prove(&mut self, result: Map<String, Value>) -> Flow {
        self.phase = None;
        let write = self.write.as_mut().expect("a write to prove");
        write.result = result;
        let (report, result, from) = (&write.report, &write.result, &write.from);
        let num = |k: &str| result.get(k).and_then(Value::as_i64).unwrap_or(-1);
        let got = [
            num("num_created_examples"),
            num("num_updated_examples"),
            num("num_deleted_examples"),
        ];
        let expected = [
            report.added.len() as i64,
            (report.updated.len() + report.split_changes.len()) as i64,
            report.deleted.len() as i64,
        ];
        if from.unknown.is_none() && got != expected {
            let p = format!(
                "the server reports {} created, {} updated, {} deleted; the plan had {}, {}, {}",
                got[0], got[1], got[2], expected[0], expected[1], expected[2]
            );
            return self.conflict(p);
        }
        if let Some(id) = &report.dataset_id {
            let went = result.get("dataset_id").and_then(Value::as_str);
            if went != Some(id.as_str()) {
                let p = format!(
                    "the upload went to dataset {}",
                    went.map_or_else(|| "None".to_owned(), quoted)
                );
                return self.conflict(p);
            }
        }
        // A source with splits (not versioned): a large dataset's content is proven by the
        // versions as for any write, then the members of each split are read back — unless
        // the write created examples (their node ids are not known yet) or was planned from a
        // state not known: then, as for a small one, the whole dataset is read back.
        if self.src.splits.is_some()
            && write.sub.is_none()
            && !(from.unknown.is_none()
                && report.added.is_empty()
                && self.src.hashes.len() > self.cfg.read_limit)
        {
            self.read_state(Reader::ReadBack);
            return Ok(());
        }
        let id = write.dataset_id();
        let request = self.get(
            &format!("v1/datasets/{}/versions", segment(&id)),
            vec![("limit".to_owned(), (VERSION_WINDOW + 1).to_string())],
            "listing dataset versions",
        );
        self.send(Phase::ProveVersions, request);
        Ok(())
    }

    fn read_back(&mut self, back: State) -> Flow {
        if let Some(why) = &back.unknown {
            return self.conflict(format!("the dataset read back is not known: {why}"));
        }
        let again = self.make_plan(&back, false, None).map_err(Fail::Input)?;
        if again.0.action != Action::None {
            return self.conflict("the dataset read back differs from the source".to_owned());
        }
        let write = self.write.take().expect("a write");
        self.made_version(back.version_id(), write.from.version_id());
        let report = self.overall.take().unwrap_or(write.report);
        self.finish(report, &back, Some(&back.examples), back.read_at)
    }

    /// Whether the dataset's newest version is the one this write made, right on top of the
    /// versions the plan was made from, which are unchanged below it.
    fn on_prove_versions(&mut self, versions: Vec<Map<String, Value>>) -> Flow {
        let write = self.write.as_ref().expect("a write");
        let ids: Vec<String> = versions.iter().map(|v| field(v, "version_id")).collect();
        let before: Vec<String> = write
            .from
            .versions
            .iter()
            .map(|v| field(v, "version_id"))
            .collect();
        let zero = [
            "num_created_examples",
            "num_updated_examples",
            "num_deleted_examples",
        ]
        .iter()
        .all(|k| write.result.get(*k).and_then(Value::as_i64) == Some(0));
        // A write changing split membership only makes no version either (Phoenix does not
        // version membership).
        let report = &write.report;
        let zero = zero
            || (self.src.splits.is_some()
                && report.added.is_empty()
                && report.updated.is_empty()
                && report.deleted.is_empty());
        let k = ids.len().min(before.len());
        let problem = if zero {
            // The server found nothing to change (a full write from a state that was not
            // known) and made no version. The versions must be exactly those read.
            (ids.is_empty() || ids[..k] != before[..k])
                .then(|| "another writer wrote while this sync wrote".to_owned())
        } else {
            let ours = write.result.get("version_id").map(wire::text);
            if ids.first() != ours.as_ref() {
                Some(OVERTAKEN.to_owned())
            } else {
                let below = &ids[1..];
                let k = below.len().min(before.len());
                if below.first() != write.report.base_version_id.as_ref() {
                    Some(
                        "another version was written between reading the dataset and writing it"
                            .to_owned(),
                    )
                } else if below[..k] != before[..k] {
                    Some(
                        "another writer's version appeared below the one the plan was made from"
                            .to_owned(),
                    )
                } else {
                    None
                }
            }
        };
        if let Some(p) = problem {
            return self.conflict(p);
        }
        let proven_at = self.clock;
        let id = write.dataset_id();
        self.reader = Reader::Prove;
        let request = self.get(
            &format!("v1/datasets/{}", segment(&id)),
            vec![],
            "reading the dataset",
        );
        self.send(Phase::GetById, request);
        // The proof's versions wait beside the request (see on_info_by_id).
        self.proof = Some((versions, proven_at));
        Ok(())
    }

    fn proven(
        &mut self,
        info: Map<String, Value>,
        versions: Vec<Map<String, Value>>,
        proven_at: Option<i64>,
    ) -> Flow {
        let write = self.write.take().expect("a write");
        let matched = &write.plan.matched;
        let (ids, hashes, splits) = match &write.sub {
            Some(sub) => (&sub.ids, &sub.hashes, sub.splits.as_deref()),
            None => (&self.src.ids, &self.src.hashes, self.src.splits.as_deref()),
        };
        let examples = manifest::after_write(
            &write.from.examples,
            ids,
            hashes,
            splits,
            matched,
            self.cfg.merge,
        )
        .map_err(|e| input_error(ErrorKind::Internal, e))?;
        let after = State {
            info: Some(info),
            versions,
            examples,
            read_at: proven_at,
            ..State::default()
        };
        if self.src.splits.is_some() && write.sub.is_none() {
            self.write = Some(write);
            if !self.members_only(&after.examples) {
                self.read_state(Reader::ReadBack);
                return Ok(());
            }
            // Read back the members of each split (see `prove`).
            self.reader = Reader::ReadBack;
            self.reading = State {
                info: after.info,
                versions: after.versions,
                read_at: proven_at,
                ..State::default()
            };
            self.listing = Some(Listing {
                examples: after.examples,
                ..Listing::default()
            });
            let request = self.split_page(None);
            self.send(Phase::SplitList, request);
            return Ok(());
        }
        self.made_version(after.version_id(), write.from.version_id());
        if write.sub.is_some() {
            // A chunk is proven: the next one is planned from the state it left, with the
            // budget of a new sync (the problem that spent the writes before is gone).
            self.chunks = self.writes;
            self.problem = None;
            self.log(
                Level::Info,
                format!(
                    "dataset {}: version {} holds {} of the source's {} examples; writing the next \
                     part",
                    quoted(&write.report.dataset_name),
                    after.version_id().unwrap_or_default(),
                    write.sub.as_ref().map_or(0, |s| s.map.len()),
                    self.src.hashes.len()
                ),
            );
            self.state = Some(after);
            return self.plan_and_write();
        }
        // Proven by the versions, but planned from a read that was not the server's state:
        // what the dataset holds is the source, not a manifest to keep.
        let keep = write.from.unknown.is_none().then_some(&after.examples);
        let report = self.overall.take().unwrap_or(write.report);
        self.finish(report, &after, keep, proven_at)
    }

    /// A proven write's version, unless it is the version the write was planned from or the
    /// last one listed: a write the server found nothing to change in, or one changing split
    /// membership only, makes no version.
    fn made_version(&mut self, version: Option<String>, before: Option<String>) {
        if let Some(v) =
            version.filter(|v| self.made.last() != Some(v) && before.as_ref() != Some(v))
        {
            self.made.push(v);
        }
    }

    /// Another writer was at work: read again and plan again after a fully jittered wait.
    fn conflict(&mut self, problem: String) -> Flow {
        let name = self
            .write
            .as_ref()
            .map(|w| w.report.dataset_name.clone())
            .unwrap_or_default();
        self.concurrent = true;
        let message = format!("dataset {} changed while syncing: {problem}", quoted(&name));
        let r = self.rng.unit();
        let delay = self
            .retry
            .delay(self.writes.saturating_sub(1), None, Jitter::Full, r);
        self.log(
            Level::Warning,
            format!(
                "{message}; reading it again and planning again in {delay:.1} s (write {} of \
                 at most {})",
                self.writes, self.cfg.retries
            ),
        );
        self.out.push_back(Step::Sleep(delay));
        self.problem = Some(Problem::Conflict(message));
        self.overall = None;
        self.state = None;
        self.read_state(Reader::Main);
        Ok(())
    }

    /// The error that ends a sync whose last allowed write did not prove out.
    fn give_up(&mut self) -> Fail {
        match self.problem.take() {
            Some(Problem::Conflict(message)) => Fail::Server(Failure::new(
                FailureKind::ConcurrentWrite,
                format!(
                    "{message} — gave up after {} writes; the dataset may hold another \
                     writer's content: run the sync again",
                    self.writes
                ),
            )),
            Some(Problem::Server(mut f)) if f.status.is_some() => {
                f.exhausted = true;
                Fail::Server(f)
            }
            Some(Problem::Server(f)) => {
                let mut f = Failure::server(format!(
                    "sync failed after {} attempts: {}",
                    self.writes, f.message
                ));
                f.exhausted = true;
                Fail::Server(f)
            }
            None => Fail::Server(Failure::server(format!(
                "sync failed after {} attempts",
                self.writes
            ))),
        }
    }

    /// Save the manifest for the state's version (if there is something new to save and the
    /// server's clock proves it) and end with the dataset there.
    fn finish(
        &mut self,
        report: PlanReport,
        state: &State,
        examples: Option<&Examples>,
        proven_at: Option<i64>,
    ) -> Flow {
        let info = state.info.clone().expect("a dataset to finish at");
        if let (true, Some(examples), false) =
            (self.cfg.manifest, examples, state.versions.is_empty())
        {
            if examples.len() == count(&info, "example_count") {
                let fp = self.fingerprint(&info, &state.versions);
                let file = manifest::file_name(&fp.server, &fp.dataset_id);
                if manifest::provable(&fp, proven_at) {
                    let data = manifest::encode(&fp, examples);
                    self.out.push_back(Step::SaveManifest {
                        file,
                        data: Some(data),
                    });
                } else {
                    self.log(
                        Level::Debug,
                        format!("not writing a sync manifest for {} yet", fp.version_id),
                    );
                    self.out.push_back(Step::SaveManifest { file, data: None });
                }
            }
        }
        self.out.push_back(Step::Done(Box::new(Outcome {
            plan: report,
            synced: Some(Synced {
                version_id: state.version_id().unwrap_or_default(),
                dataset: info,
                attempts: self.writes.max(1),
                concurrent_writer: self.concurrent,
                versions: std::mem::take(&mut self.made),
            }),
            server_version: self.server_version.clone(),
        })));
        Ok(())
    }
}

impl Write {
    fn dataset_id(&self) -> String {
        match self.result.get("dataset_id") {
            Some(Value::String(s)) if !s.is_empty() => s.clone(),
            _ => self.from.dataset_id().unwrap_or_default(),
        }
    }
}
