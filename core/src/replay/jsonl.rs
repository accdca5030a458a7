//! Reads the save plugin's JSON-lines capture (format in plugins/save/README.md) one record at
//! a time, keeping each message's flags (oversize with its full length, raw, no newline, TLS) so the
//! plugins see what they saw live. Unknown keys are ignored, as the format asks of readers.

use std::io::BufRead;
use std::path::Path;

use base64::Engine;
use bytes::Bytes;
use ctiproxy_plugin_api::{abi, Direction};
use serde::Deserialize;

use super::error::{describe, ReplayError};
use super::frames;
use super::lines::{self, Lines};
use super::record::Record;
use crate::event::Traffic;

/// A record as written; which keys apply depends on `event`.
#[derive(Deserialize)]
struct Raw {
    ts_us: i64,
    session: u64,
    event: Option<String>,
    client: Option<String>,
    server: Option<String>,
    reason: Option<String>,
    dir: Option<String>,
    line: Option<String>,
    line_base64: Option<String>,
    #[serde(default)]
    oversize: bool,
    len: Option<u64>,
    #[serde(default)]
    raw: bool,
    #[serde(default)]
    no_newline: bool,
    /// A start record: TLS from the first byte; a message record: decrypted from TLS.
    #[serde(default)]
    tls: bool,
    // An end record's figures (absent ones count as zero). Not a flattened struct: serde
    // buffers every key of a record with a flattened field, `line` included.
    #[serde(default)]
    bytes_c2s: u64,
    #[serde(default)]
    bytes_s2c: u64,
    #[serde(default)]
    msgs_c2s: u64,
    #[serde(default)]
    msgs_s2c: u64,
    #[serde(default)]
    reads_c2s: u64,
    #[serde(default)]
    reads_s2c: u64,
    #[serde(default)]
    dropped: u64,
}

/// The records of one capture file.
pub struct JsonlReader<R> {
    lines: Lines<R>,
    max_line: usize,
}

impl<R: BufRead> JsonlReader<R> {
    /// Reads `reader` (the file `path`); lines longer than `max_line` become oversize frames.
    pub fn new(reader: R, path: &Path, max_line: usize) -> Self {
        JsonlReader { lines: Lines::new(reader, path, lines::limit_for(max_line)), max_line }
    }

    /// The next record, or `None` at the end of the file.
    pub fn next_record(&mut self) -> Result<Option<Record>, ReplayError> {
        loop {
            let Some(line) = self.lines.next_line()? else { return Ok(None) };
            if line.trim_ascii().is_empty() {
                continue;
            }
            let raw: Raw = serde_json::from_slice(line).map_err(|e| {
                self.lines.invalid(format!("not a capture record: {}", describe(&e)))
            })?;
            return self.convert(raw).map(Some).map_err(|why| self.lines.invalid(why));
        }
    }

    fn convert(&self, raw: Raw) -> Result<Record, String> {
        let (session, ts) = (raw.session, raw.ts_us);
        match raw.event.as_deref() {
            Some("start") => Ok(Record::Start {
                session,
                ts,
                client: raw.client.unwrap_or_default(),
                server: raw.server.unwrap_or_default(),
                tls: raw.tls,
            }),
            Some("end") => {
                let f = &raw;
                let c2s = Traffic {
                    bytes: f.bytes_c2s,
                    messages: f.msgs_c2s,
                    reads: f.reads_c2s,
                    dropped: f.dropped,
                };
                let s2c = Traffic {
                    bytes: f.bytes_s2c,
                    messages: f.msgs_s2c,
                    reads: f.reads_s2c,
                    dropped: 0,
                };
                Ok(Record::End { session, ts, reason: raw.reason.unwrap_or_default(), c2s, s2c })
            }
            Some(other) => Err(format!("unknown event {other:?} (expected \"start\" or \"end\")")),
            None => self.message(raw),
        }
    }

    fn message(&self, raw: Raw) -> Result<Record, String> {
        let direction = match raw.dir.as_deref() {
            Some("client") => Direction::ClientToServer,
            Some("server") => Direction::ServerToClient,
            Some(other) => return Err(format!("`dir` is {other:?}, not \"client\" or \"server\"")),
            None => return Err("a message record needs `dir`".into()),
        };
        let bytes = match (raw.line, raw.line_base64) {
            (Some(line), None) => Bytes::from(line.into_bytes()),
            (None, Some(encoded)) => base64::engine::general_purpose::STANDARD
                .decode(encoded)
                .map(Bytes::from)
                .map_err(|e| format!("`line_base64` is not base64: {e}"))?,
            _ => {
                return Err("a message record needs exactly one of `line` and `line_base64`".into())
            }
        };
        let flags = [
            (raw.oversize, abi::MSG_OVERSIZE),
            (raw.raw, abi::MSG_RAW),
            (raw.no_newline, abi::MSG_NO_NEWLINE),
            (raw.tls, abi::MSG_TLS),
        ]
        .iter()
        .filter(|(set, _)| *set)
        .fold(0, |flags, (_, bit)| flags | bit);
        let full_len = raw.len.filter(|_| raw.oversize);
        let frame = frames::frame(bytes, full_len, flags, self.max_line);
        Ok(Record::Message { session: raw.session, ts: raw.ts_us, direction, frame })
    }
}
