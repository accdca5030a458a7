//! Reads one file of a classic ctisave pair (plugins/save/README.md, "classic"): pretty-printed
//! JSON messages (keys sorted, 4-space indent), lines that were not JSON kept as they came, and
//! oversize lines behind their `[oversize line: N bytes, not decoded] ` marker.
//!
//! A pretty-printed value opens with `{` or `[` alone on a line and closes with `}` or `]` alone
//! at the start of a line (everything inside is indented). Its lines are streamed into
//! serde_json's reader-based deserializer, so the text is never gathered into one buffer; the
//! value is then written back compactly, the line the plugins see.

use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;

use bytes::Bytes;
use ctiproxy_plugin_api::abi;
use serde_json::Value;

use super::error::{describe, ReplayError};
use super::frames;
use super::interleave::Fields;
use super::lines::{self, Lines};
use crate::framer::Frame;

/// What the save plugin writes before the kept beginning of an oversize line.
pub const OVERSIZE_START: &[u8] = b"[oversize line: ";
const OVERSIZE_END: &[u8] = b" bytes, not decoded] ";

/// One message of a classic file.
#[derive(Debug)]
pub struct Item {
    /// The line plugins see.
    pub frame: Frame,
    /// What the interleaving needs to know of it (JSON objects only).
    pub fields: Option<Fields>,
}

/// The messages of one classic file.
pub struct ClassicReader<R> {
    lines: Lines<R>,
    max_line: usize,
}

impl<R: BufRead> ClassicReader<R> {
    /// Reads `reader` (the file `path`); messages longer than `max_line` become oversize.
    pub fn new(reader: R, path: &Path, max_line: usize) -> Self {
        ClassicReader { lines: Lines::new(reader, path, lines::limit_for(max_line)), max_line }
    }

    /// The next message, or `None` at the end of the file.
    pub fn next_item(&mut self) -> Result<Option<Item>, ReplayError> {
        let max_line = self.max_line;
        let Some(line) = self.lines.next_line()? else { return Ok(None) };
        if let Some(frame) = oversize(line) {
            return Ok(Some(Item { frame, fields: None }));
        }
        let close = match line {
            b"{" => b'}',
            b"[" => b']',
            _ => {
                let frame = frames::frame(Bytes::copy_from_slice(line), None, 0, max_line);
                return Ok(Some(Item { frame, fields: None }));
            }
        };
        let opening = line[0];
        let value = self.value(opening, close)?;
        let compact = serde_json::to_vec(&value).expect("a Value always serializes");
        let frame = frames::frame(Bytes::from(compact), None, 0, max_line);
        Ok(Some(Item { frame, fields: Some(Fields::of(&value)) }))
    }

    /// Deserializes the value whose opening line was just read.
    fn value(&mut self, opening: u8, close: u8) -> Result<Value, ReplayError> {
        let start = self.lines.number();
        let budget = self.lines.limit();
        let mut text = ValueText {
            lines: &mut self.lines,
            pending: vec![opening, b'\n'],
            pos: 0,
            close,
            done: false,
            budget,
            failure: None,
        };
        let parsed = serde_json::from_reader::<_, Value>(BufReader::new(&mut text));
        let failure = text.failure.take();
        let path = self.lines.path();
        parsed.map_err(|e| match failure {
            Some(failure) => failure,
            None if e.is_eof() => ReplayError::invalid(
                path,
                start,
                "JSON value not terminated: the file ends inside it",
            ),
            None => ReplayError::invalid(
                path,
                start + e.line() as u64 - 1,
                format!("not JSON: {}", describe(&e)),
            ),
        })
    }
}

/// An oversize marker line: the kept beginning, with the full length the marker states.
fn oversize(line: &[u8]) -> Option<Frame> {
    let rest = line.strip_prefix(OVERSIZE_START)?;
    let end = rest.windows(OVERSIZE_END.len()).position(|w| w == OVERSIZE_END)?;
    let len = std::str::from_utf8(&rest[..end]).ok()?.parse().ok()?;
    let preview = Bytes::copy_from_slice(&rest[end + OVERSIZE_END.len()..]);
    Some(Frame { line: preview, len, flags: abi::MSG_OVERSIZE })
}

/// The lines of one pretty-printed value as a byte stream that ends after its closing line.
struct ValueText<'a, R> {
    lines: &'a mut Lines<R>,
    pending: Vec<u8>,
    pos: usize,
    close: u8,
    done: bool,
    /// Bytes the value may still take: a value no capture made with this configuration could
    /// hold is an error, not an unbounded allocation.
    budget: usize,
    /// Why reading stopped, kept here: serde_json only passes an opaque I/O error on.
    failure: Option<ReplayError>,
}

impl<R: BufRead> ValueText<'_, R> {
    fn refill(&mut self) -> Result<(), ReplayError> {
        self.pending.clear();
        self.pos = 0;
        let Some(line) = self.lines.next_line()? else {
            self.done = true;
            return Ok(());
        };
        self.done = line == [self.close];
        self.pending.extend_from_slice(line);
        self.pending.push(b'\n');
        self.budget = self.budget.checked_sub(self.pending.len()).ok_or_else(|| {
            self.lines.invalid(format!(
                "JSON value longer than {} bytes, more than a capture made with this configuration's [proxy] max_line_bytes can hold",
                self.lines.limit()
            ))
        })?;
        Ok(())
    }
}

impl<R: BufRead> Read for ValueText<'_, R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.pending.len() {
            if self.done {
                return Ok(0);
            }
            if let Err(e) = self.refill() {
                self.failure = Some(e);
                return Err(io::Error::other("capture unreadable"));
            }
        }
        let n = out.len().min(self.pending.len() - self.pos);
        out[..n].copy_from_slice(&self.pending[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn items(text: &str, max_line: usize) -> Result<Vec<Item>, ReplayError> {
        let mut reader = ClassicReader::new(text.as_bytes(), Path::new("c.txt"), max_line);
        std::iter::from_fn(|| reader.next_item().transpose()).collect()
    }

    fn lines(items: &[Item]) -> Vec<(String, u64, u32)> {
        let text = |i: &Item| String::from_utf8_lossy(&i.frame.line).into_owned();
        items.iter().map(|i| (text(i), i.frame.len, i.frame.flags)).collect()
    }

    #[test]
    fn values_become_compact_lines_and_other_lines_stay() {
        let text = "{\n    \"a\": [\n        1,\n        \"}\"\n    ],\n    \"b\": {}\n}\nnot json\n[]\n[oversize line: 99 bytes, not decoded] {\"x\n";
        let got = lines(&items(text, 1000).unwrap());
        assert_eq!(
            got,
            [
                (r#"{"a":[1,"}"],"b":{}}"#.to_owned(), 20, 0),
                ("not json".to_owned(), 8, 0),
                ("[]".to_owned(), 2, 0),
                ("{\"x".to_owned(), 99, abi::MSG_OVERSIZE),
            ]
        );
    }

    #[test]
    fn broken_values_name_their_line() {
        let error = items("{}\n{\n    \"a\": 1,\n    oops\n}\n", 1000).unwrap_err().to_string();
        assert!(error.starts_with("c.txt:4: not JSON: "), "{error}");
        let error = items("{\n    \"a\": 1\n", 1000).unwrap_err().to_string();
        assert!(error.starts_with("c.txt:1: JSON value not terminated"), "{error}");
    }

    #[test]
    fn a_value_too_long_for_the_configuration_is_refused() {
        let long = format!("{{\n    \"a\": \"{}\"\n}}\n", "x".repeat(5000));
        let error = items(&long, 10).unwrap_err().to_string();
        assert!(error.contains("c.txt:2: line longer than"), "{error}");
    }
}
