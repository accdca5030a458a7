//! The JSON-lines capture: one file, one JSON object per event, in the order the pipeline saw
//! them. It keeps what the classic files lose (timestamps, sessions, exact bytes), so
//! `ctiproxy replay` can feed it through a pipeline again. The format is specified in README.md.
//!
//! A line holding a secret field (`redact`) is saved with that value replaced by `"***"` and
//! every other byte as it came, and its record says `"redacted": true`: still valid JSON for
//! replay, no longer the exact wire bytes. `redact = []` keeps captures byte-exact.

use std::io::Write;

use ctiproxy_plugin_api::capture::{EndRecord, MessageRecord, StartRecord};
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
        self.record(&StartRecord::new(start));
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
        self.record(&EndRecord::new(end));
    }

    fn flush(&mut self) {
        self.sink.flush();
    }
}
