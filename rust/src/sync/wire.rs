//! What the sync engine sends and how it reads the answers: requests (paths, headers,
//! timeouts sized to the payload), answers into JSON or typed failures (status → error), the
//! retry policy and its backoff, Phoenix's ids and the server's clock. No I/O: the hosts send
//! what [`Request`] says and hand back what came.

use std::borrow::Cow;

use serde_json::{Map, Value};

use crate::error::py_repr;

/// Oldest Phoenix server with dataset example ids and `action=update` uploads.
pub const MIN_SERVER_VERSION: [u64; 3] = [15, 0, 0];

/// An HTTP method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
        }
    }
}

/// A piece of an upload body: bytes as they are, or the rows of one part (0 inputs,
/// 1 outputs, 2 metadata) of the examples at [`Body::indices`], as the host's source writes
/// them (the core's canonical texts of each example), joined by commas.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    Bytes(Vec<u8>),
    Rows(u8),
}

/// An upload's body, to be streamed in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Body {
    pub segments: Vec<Segment>,
    /// The source examples the body carries, in order.
    pub indices: Vec<usize>,
}

/// What a request is for (the host may show progress for the long ones).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    Read,
    /// The JSONL export of a version: `examples` lines are expected.
    Export,
    Upload,
}

/// One request for the host to send (relative to the server's base URL).
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub method: Method,
    /// Without a leading slash: `v1/datasets/…`.
    pub path: String,
    pub query: Vec<(String, String)>,
    pub headers: Vec<(&'static str, &'static str)>,
    /// Seconds for the whole request, and for connecting.
    pub timeout: f64,
    pub connect_timeout: f64,
    pub body: Option<Body>,
    pub purpose: Purpose,
    /// Examples the request moves (for progress): those expected in an export, those sent.
    pub examples: usize,
    /// What the request does, as errors say it ("downloading the dataset").
    pub what: String,
    /// What a progress bar of it says ("reading 'qa'", "create 40,000 examples").
    pub label: String,
}

/// `40,000`.
pub fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Headers of every read: the answer must come from Phoenix, not from a cache in between (a
/// shared cache that served an old export or versions list would make a sync prove a state
/// the server no longer holds).
pub const READ_HEADERS: [(&str, &str); 3] = [
    ("accept", "application/json"),
    ("cache-control", "no-cache"),
    ("pragma", "no-cache"),
];
pub const WRITE_HEADERS: [(&str, &str); 2] = [
    ("content-type", "application/json"),
    ("accept", "application/json"),
];

/// Percent-encode one path segment (an id).
pub fn segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Timeouts: the caller's for every request if given, else `default`; connecting takes at
/// most 15 s.
pub fn timeouts(fixed: Option<f64>, default: f64) -> (f64, f64) {
    let seconds = fixed.unwrap_or(default);
    (seconds, seconds.min(15.0))
}

/// Seconds an export or a list of examples of `n` examples may take.
pub fn read_seconds(n: usize) -> f64 {
    60.0 + 0.005 * n as f64
}

/// Seconds an upload may take: Phoenix inserts about 2 ms per example on SQLite and hashes
/// every example of the snapshot in Python.
pub fn upload_seconds(examples: usize, snapshot: usize) -> f64 {
    60.0 + 0.02 * examples as f64 + 0.002 * snapshot as f64
}

/// What the host got back. The body may be borrowed from the host (Python's bytes): the
/// engine reads it while handling the answer and keeps nothing of it, so an answer of a
/// million examples is not copied once more.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response<'a> {
    pub status: u16,
    /// Header names in lower case (only `date`, `retry-after` and `content-type` are read).
    pub headers: Vec<(String, String)>,
    pub body: Cow<'a, [u8]>,
}

impl Response<'_> {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// Why a request got no answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportKind {
    /// The connection closed under the request: a kept-alive connection the server had
    /// closed (it does after a 500). Repeated once at once, without a warning.
    Stale,
    /// A timeout, a refused or reset connection: retried with backoff.
    Other,
}

/// The errors of the server side, as both SDKs name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    Server,
    Authentication,
    DatasetNotFound,
    ServerTooOld,
    ConcurrentWrite,
}

impl FailureKind {
    pub fn class_name(self) -> &'static str {
        match self {
            FailureKind::Server => "ServerError",
            FailureKind::Authentication => "AuthenticationError",
            FailureKind::DatasetNotFound => "DatasetNotFoundError",
            FailureKind::ServerTooOld => "ServerTooOldError",
            FailureKind::ConcurrentWrite => "ConcurrentWriteError",
        }
    }
}

/// A failure the server side caused (the typed errors of `phoenix_upsert.errors` and the
/// npm package's `errors`).
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    pub kind: FailureKind,
    pub message: String,
    pub status: Option<u16>,
    pub detail: String,
    /// Seconds the server asked to wait (429 `Retry-After`).
    pub retry_after: Option<f64>,
    /// Retried as often as allowed already.
    pub exhausted: bool,
}

impl Failure {
    pub fn new(kind: FailureKind, message: impl Into<String>) -> Self {
        Failure {
            kind,
            message: message.into(),
            status: None,
            detail: String::new(),
            retry_after: None,
            exhausted: false,
        }
    }

    pub fn server(message: impl Into<String>) -> Self {
        Failure::new(FailureKind::Server, message)
    }

    fn with_status(mut self, status: u16, detail: &str) -> Self {
        self.status = Some(status);
        self.detail = detail.to_owned();
        self
    }

    /// Worth another try later: 429 and 5xx (not a refusal, not a server too old).
    pub fn retryable(&self) -> bool {
        self.kind == FailureKind::Server && self.status.is_some_and(|s| s == 429 || s >= 500)
    }

    /// How a warning names it: `HTTP 503`, or the message.
    pub fn short(&self) -> String {
        match self.status {
            Some(s) => format!("HTTP {s}"),
            None => self.message.clone(),
        }
    }
}

fn clip(text: &str) -> String {
    text.trim().chars().take(2000).collect()
}

/// The server's reason for an unsuccessful answer: its JSON `detail`, else its text.
pub fn detail(body: &[u8]) -> String {
    if let Ok(Value::Object(map)) = serde_json::from_slice::<Value>(body) {
        if let Some(d) = map.get("detail") {
            return clip(&match d {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            });
        }
    }
    clip(&String::from_utf8_lossy(body))
}

/// The typed failure of an unsuccessful answer. `credentials`: how this SDK's user sets
/// them ("set PHOENIX_API_KEY (or pass api_key=)").
pub fn failure(response: &Response<'_>, what: &str, credentials: &str) -> Failure {
    let status = response.status;
    let detail = detail(&response.body);
    let reason = if detail.is_empty() {
        String::new()
    } else {
        format!(": {detail}")
    };
    let mut f = if status == 401 || status == 403 {
        // The server's own reason stays in the message (a viewer's key: "Viewers cannot
        // perform this action."), beside what to do about it.
        let message = if status == 403 {
            format!(
                "{what}: the server refused the request (HTTP 403{reason}); the credentials \
                 are not allowed to do this: {credentials} to a key that is, e.g. a member's \
                 or an admin's for a write"
            )
        } else {
            format!(
                "{what}: the server refused the credentials (HTTP {status}{reason}); \
                 {credentials}"
            )
        };
        Failure::new(FailureKind::Authentication, message)
    } else if status == 422
        && (detail.contains("Invalid dateset action") || detail.contains("Invalid dataset action"))
    {
        Failure::new(
            FailureKind::ServerTooOld,
            format!(
                "{what}: this Phoenix server does not support declarative dataset updates; \
                 phoenix-upsert needs Phoenix >= {}",
                version_text(&MIN_SERVER_VERSION)
            ),
        )
    } else {
        Failure::server(format!("{what}: HTTP {status}{reason}"))
    }
    .with_status(status, &detail);
    if status == 429 {
        f.retry_after = response
            .header("retry-after")
            .and_then(|v| v.trim().parse::<f64>().ok())
            .filter(|v| v.is_finite());
    }
    f
}

/// The JSON object of a successful answer, or a clear error for anything else (a web page
/// answering 200: the endpoint is not Phoenix's REST API).
pub fn json_object(
    response: &Response<'_>,
    what: &str,
    server: &str,
    path: &str,
) -> Result<Map<String, Value>, Failure> {
    match serde_json::from_slice::<Value>(&response.body) {
        Ok(Value::Object(map)) => Ok(map),
        _ => {
            let kind = response
                .header("content-type")
                .map(|c| c.split(';').next().unwrap_or("").trim().to_owned())
                .unwrap_or_else(|| "no content type".to_owned());
            let mut f = Failure::server(format!(
                "{what}: {server} is not a Phoenix REST API: /{path} answered HTTP {} with \
                 {kind} instead of a JSON object (give the server's base URL, e.g. \
                 http://localhost:6006, without /v1)",
                response.status
            ));
            f.status = Some(response.status);
            Err(f)
        }
    }
}

/// The `data` of a Phoenix answer.
pub fn data(mut body: Map<String, Value>, what: &str) -> Result<Value, Failure> {
    body.remove("data").ok_or_else(|| {
        Failure::server(format!(
            "{what}: the answer has no 'data' (is this a Phoenix server?)"
        ))
    })
}

/// How often and how patiently to retry what is safe to retry.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    /// Tries of a read (at least 1).
    pub attempts: u32,
    pub backoff: f64,
    pub max_backoff: f64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 5,
            backoff: 0.5,
            max_backoff: 15.0,
        }
    }
}

/// The jitter of a backoff: over half the window (retries of one request) or all of it (for
/// writers contending for one dataset, so that two that collided do not retry in step).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Jitter {
    Half,
    Full,
}

impl RetryPolicy {
    /// Seconds to wait before try `attempt + 1`; `random` in [0, 1).
    pub fn delay(
        &self,
        attempt: u32,
        retry_after: Option<f64>,
        jitter: Jitter,
        random: f64,
    ) -> f64 {
        if let Some(after) = retry_after {
            return after.clamp(0.0, 60.0);
        }
        let base = self
            .max_backoff
            .min(self.backoff * 2f64.powi(attempt.min(60) as i32));
        match jitter {
            Jitter::Full => base * random,
            Jitter::Half => base * (0.5 + random / 2.0),
        }
    }
}

/// A small deterministic generator (xorshift64*): randomness comes in as a seed.
#[derive(Debug, Clone)]
pub struct Random(u64);

impl Random {
    pub fn new(seed: u64) -> Self {
        Random(seed ^ 0x9E37_79B9_7F4A_7C15 | 1)
    }

    /// A number in [0, 1).
    pub fn unit(&mut self) -> f64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// `(type name, row id)` of a Phoenix GlobalID (`Type:<n>` in base64), or `None`.
pub fn global_id(text: &str) -> Option<(String, i64)> {
    use base64::Engine as _;
    let raw = text.trim();
    let padded = format!("{raw}{}", "=".repeat((4 - raw.len() % 4) % 4));
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(padded)
        .ok()?;
    let decoded = String::from_utf8(bytes).ok()?;
    let (kind, number) = decoded.split_once(':')?;
    Some((kind.to_owned(), number.trim().parse().ok()?))
}

/// The row id behind a version's id, or -1: what Phoenix orders versions by.
pub fn version_number(version: &Map<String, Value>) -> i64 {
    match version.get("version_id").map(text) {
        Some(id) => match global_id(&id) {
            Some((kind, n)) if kind == "DatasetVersion" => n,
            _ => -1,
        },
        None => -1,
    }
}

/// A JSON value as Python's `str()` shows it (`None` for null or absent): the manifest's
/// fingerprint fields, shared by both SDKs.
pub fn text(value: &Value) -> String {
    match value {
        Value::Null => "None".to_owned(),
        Value::String(s) => s.clone(),
        Value::Bool(true) => "True".to_owned(),
        Value::Bool(false) => "False".to_owned(),
        other => other.to_string(),
    }
}

/// A field of a JSON object as text (`None` when absent).
pub fn field(map: &Map<String, Value>, key: &str) -> String {
    map.get(key).map_or_else(|| "None".to_owned(), text)
}

/// A count field (`example_count`), 0 when absent or not a count.
pub fn count(map: &Map<String, Value>, key: &str) -> usize {
    match map.get(key) {
        Some(Value::Number(n)) => n.as_u64().unwrap_or(0) as usize,
        Some(Value::String(s)) => s.trim().parse().unwrap_or(0),
        _ => 0,
    }
}

/// The server's clock from an answer's `Date` header, in seconds since the epoch.
pub fn date(response: &Response<'_>) -> Option<i64> {
    let value = response.header("date")?;
    chrono::DateTime::parse_from_rfc2822(value.trim())
        .ok()
        .map(|t| t.timestamp())
}

/// `15.0.0`.
pub fn version_text(v: &[u64]) -> String {
    v.iter().map(u64::to_string).collect::<Vec<_>>().join(".")
}

/// The numbers of a version text (`20.26.1`, `v15.0.0rc1`): up to three.
pub fn parse_version(text: &str) -> Vec<u64> {
    let mut parts = Vec::new();
    for piece in text.trim().split('.').take(3) {
        let digits: String = piece.chars().filter(char::is_ascii_digit).collect();
        match digits.parse() {
            Ok(n) => parts.push(n),
            Err(_) => break,
        }
    }
    parts
}

/// A name as messages quote it.
pub fn quoted(name: &str) -> String {
    py_repr(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_versions() {
        assert_eq!(
            global_id("RGF0YXNldFZlcnNpb246MTI="),
            Some(("DatasetVersion".into(), 12))
        );
        assert_eq!(global_id("nope!"), None);
        assert_eq!(parse_version("20.26.1\n"), vec![20, 26, 1]);
        assert_eq!(parse_version("v15.0.0"), vec![15, 0, 0]);
        assert_eq!(parse_version(""), Vec::<u64>::new());
        assert_eq!(segment("a b/é"), "a%20b%2F%C3%A9");
    }

    #[test]
    fn failures() {
        let r = |status: u16, body: &str| Response {
            status,
            headers: vec![("retry-after".into(), "3".into())],
            body: body.as_bytes().to_vec().into(),
        };
        let f = failure(&r(503, "down"), "reading", "set KEY");
        assert_eq!(f.message, "reading: HTTP 503: down");
        assert!(f.retryable());
        let f = failure(&r(429, r#"{"detail": "slow"}"#), "reading", "set KEY");
        assert_eq!(f.retry_after, Some(3.0));
        assert_eq!(f.detail, "slow");
        let f = failure(&r(403, r#"{"detail": "Viewers cannot"}"#), "w", "set KEY");
        assert_eq!(f.kind, FailureKind::Authentication);
        assert!(f.message.contains("Viewers cannot") && !f.retryable());
        let f = failure(&r(422, "Invalid dateset action"), "w", "k");
        assert_eq!(f.kind, FailureKind::ServerTooOld);
    }

    #[test]
    fn backoff() {
        let p = RetryPolicy::default();
        assert_eq!(p.delay(3, Some(100.0), Jitter::Half, 0.3), 60.0);
        assert_eq!(p.delay(10, None, Jitter::Half, 0.0), 7.5);
        let mut r = Random::new(7);
        for _ in 0..1000 {
            let x = r.unit();
            assert!((0.0..1.0).contains(&x));
        }
    }
}
