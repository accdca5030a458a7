//! The records of the JSON-lines capture (README: "The JSON-lines capture"), one per event:
//! written to a file by the save plugin and published to NATS by the export plugin, so both
//! speak one format that `ctiproxy replay` and any consumer read alike.

use base64::Engine;
use chrono::{DateTime, SecondsFormat};
use serde::Serialize;

use crate::message::{Message, SessionEnd, SessionStart};

/// The keys every record starts with.
#[derive(Debug, Serialize)]
pub struct Stamp {
    /// RFC 3339, UTC, microseconds: for people.
    ts: String,
    /// The same instant in microseconds since the Unix epoch: for programs.
    ts_us: i64,
    session: u64,
}

impl Stamp {
    fn new(unix_micros: i64, session: u64) -> Self {
        let ts = DateTime::from_timestamp_micros(unix_micros)
            .map(|t| t.to_rfc3339_opts(SecondsFormat::Micros, true))
            .unwrap_or_default();
        Stamp { ts, ts_us: unix_micros, session }
    }
}

/// `"event": "start"`: a session began.
#[derive(Debug, Serialize)]
pub struct StartRecord<'a> {
    #[serde(flatten)]
    stamp: Stamp,
    event: &'static str,
    client: &'a str,
    server: &'a str,
    /// TLS from the first byte (a TLS listener); a STARTTLS session marks its messages instead.
    #[serde(skip_serializing_if = "is_false")]
    tls: bool,
}

impl<'a> StartRecord<'a> {
    /// The record of `start`.
    pub fn new(start: &SessionStart<'a>) -> Self {
        StartRecord {
            stamp: Stamp::new(start.timestamp_micros, start.session_id),
            event: "start",
            client: start.client_addr,
            server: start.server_addr,
            tls: start.tls,
        }
    }
}

/// `"event": "end"`: a session ended, with its totals.
#[derive(Debug, Serialize)]
pub struct EndRecord<'a> {
    #[serde(flatten)]
    stamp: Stamp,
    event: &'static str,
    reason: &'a str,
    bytes_c2s: u64,
    bytes_s2c: u64,
    msgs_c2s: u64,
    msgs_s2c: u64,
    reads_c2s: u64,
    reads_s2c: u64,
    dropped: u64,
}

impl<'a> EndRecord<'a> {
    /// The record of `end`.
    pub fn new(end: &SessionEnd<'a>) -> Self {
        EndRecord {
            stamp: Stamp::new(end.timestamp_micros, end.session_id),
            event: "end",
            reason: end.reason,
            bytes_c2s: end.bytes_c2s,
            bytes_s2c: end.bytes_s2c,
            msgs_c2s: end.msgs_c2s,
            msgs_s2c: end.msgs_s2c,
            reads_c2s: end.reads_c2s,
            reads_s2c: end.reads_s2c,
            dropped: end.dropped,
        }
    }
}

/// One message (a record without `event`).
#[derive(Debug, Serialize)]
pub struct MessageRecord<'a> {
    #[serde(flatten)]
    stamp: Stamp,
    dir: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    line: Option<&'a str>,
    /// Only when the bytes are not UTF-8, which a JSON string cannot hold.
    #[serde(skip_serializing_if = "Option::is_none")]
    line_base64: Option<String>,
    #[serde(skip_serializing_if = "is_false")]
    oversize: bool,
    /// The full length of an oversize line, whose `line` is only the beginning.
    #[serde(skip_serializing_if = "Option::is_none")]
    len: Option<u64>,
    #[serde(skip_serializing_if = "is_false")]
    raw: bool,
    #[serde(skip_serializing_if = "is_false")]
    no_newline: bool,
    /// Decrypted: it travelled in TLS (after a STARTTLS switch, or on a TLS listener).
    #[serde(skip_serializing_if = "is_false")]
    tls: bool,
    /// Secret values in `line` were replaced by `"***"`.
    #[serde(skip_serializing_if = "is_false")]
    redacted: bool,
}

impl<'a> MessageRecord<'a> {
    /// The record of `message`, whose bytes are recorded as `bytes` (masked when `redacted`).
    pub fn new(message: &Message<'_>, bytes: &'a [u8], redacted: bool) -> Self {
        let line = std::str::from_utf8(bytes).ok();
        let line_base64 = match line {
            Some(_) => None,
            None => Some(base64::engine::general_purpose::STANDARD.encode(bytes)),
        };
        MessageRecord {
            stamp: Stamp::new(message.timestamp_micros(), message.session_id()),
            dir: message.direction().sender(),
            line,
            line_base64,
            oversize: message.is_oversize(),
            len: message.is_oversize().then(|| message.len()),
            raw: message.is_raw(),
            no_newline: message.lacks_newline(),
            tls: message.is_tls(),
            redacted,
        }
    }
}

fn is_false(value: &bool) -> bool {
    !value
}
