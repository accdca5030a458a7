//! The JSON-lines capture: one file, one JSON object per event, in the order the pipeline saw
//! them. It keeps what the classic files lose (timestamps, sessions, exact bytes), so
//! `ctiproxy replay` can feed it through a pipeline again. The format is specified in README.md.
//!
//! A line holding a secret field (`redact`) is saved with that value replaced by `"***"` and
//! every other byte as it came, and its record says `"redacted": true`: still valid JSON for
//! replay, no longer the exact wire bytes. `redact = []` keeps captures byte-exact.

use std::io::Write;

use base64::Engine;
use chrono::{DateTime, SecondsFormat};
use ctiproxy_plugin_api::redact::Redact;
use ctiproxy_plugin_api::{ConfigError, Host, Message, SessionEnd, SessionStart};
use serde::Serialize;

use crate::sink::Sink;
use crate::target::Target;
use crate::Store;

/// A JSON-lines capture file.
pub struct Jsonl {
    sink: Sink,
    redact: Redact,
    /// A line with its secrets masked, reused from message to message.
    masked: Vec<u8>,
}

impl Jsonl {
    /// Opens the capture file; errors name `file`.
    pub fn open(target: &Target, redact: Redact, host: &Host) -> Result<Self, ConfigError> {
        Ok(Jsonl { sink: Sink::open(target, host.clone())?, redact, masked: Vec::new() })
    }

    fn record(&mut self, record: &impl Serialize) {
        self.sink.write(|out| {
            serde_json::to_writer(&mut *out, record)?;
            out.write_all(b"\n")
        });
    }
}

impl Store for Jsonl {
    fn session_start(&mut self, start: &SessionStart<'_>) {
        self.record(&StartRecord {
            stamp: Stamp::new(start.timestamp_micros, start.session_id),
            event: "start",
            client: start.client_addr,
            server: start.server_addr,
            tls: start.tls,
        });
    }

    fn message(&mut self, message: &Message<'_>) {
        let redacted = self.redact.line(message.bytes(), message.root(), &mut self.masked);
        let bytes = if redacted { &self.masked[..] } else { message.bytes() };
        let record = MessageRecord::new(message, bytes, redacted);
        self.sink.write(|out| {
            serde_json::to_writer(&mut *out, &record)?;
            out.write_all(b"\n")
        });
    }

    fn session_end(&mut self, end: &SessionEnd<'_>) {
        self.record(&EndRecord {
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
        });
    }

    fn flush(&mut self) {
        self.sink.flush();
    }
}

/// The keys every record starts with.
#[derive(Serialize)]
struct Stamp {
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

#[derive(Serialize)]
struct StartRecord<'a> {
    #[serde(flatten)]
    stamp: Stamp,
    event: &'static str,
    client: &'a str,
    server: &'a str,
    /// TLS from the first byte (a TLS listener); a STARTTLS session marks its messages instead.
    #[serde(skip_serializing_if = "is_false")]
    tls: bool,
}

#[derive(Serialize)]
struct EndRecord<'a> {
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

#[derive(Serialize)]
struct MessageRecord<'a> {
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
    /// The record of `message`, whose bytes are saved as `bytes` (masked when `redacted`).
    fn new(message: &Message<'_>, bytes: &'a [u8], redacted: bool) -> Self {
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
