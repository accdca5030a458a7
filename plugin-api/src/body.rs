//! A message shown to a human: its JSON with sorted keys (compact or pretty) and every number as
//! it was written, or the bytes as they came when it is not JSON, is a raw read or is oversize. The spy prints it under its
//! headers and the save plugin writes it to its classic files, so a saved capture reads exactly
//! like the spy's output.
//!
//! The values of secret fields ([`Redact`], `password` unless configured otherwise) are written
//! as `"***"`, in decoded JSON and in bytes shown as they came alike.
//!
//! On a terminal ([`BodyStyle::visible`]) control characters are written out (`\x1b`, `\r`,
//! `\u009b` inside JSON strings) instead of being sent to the terminal to obey; anywhere else
//! (a file, a pipe) the bytes are kept exact, because captures and scripts rely on them.

use std::io::Write;

use crate::field_path::FieldPath;
use crate::index::{self, Writer};
use crate::redact::Redact;
use crate::visible::{self, Newlines};
use crate::Message;

/// How to show a message's content.
#[derive(Debug, Clone, Copy)]
pub struct BodyStyle {
    /// Never decode: bytes as they came.
    pub raw: bool,
    /// Indent JSON by 4 spaces.
    pub pretty: bool,
    /// Write control characters out, for a terminal (see [`crate::visible`]).
    pub visible: bool,
}

/// Renders messages for people, straight from the host's index of each line (no parse, no
/// serde value); numbers keep the text they had on the wire. Its buffers are reused from
/// message to message, so keep one per plugin instance.
#[derive(Debug)]
pub struct Body {
    writer: Writer,
    json: Vec<u8>,
    redact: Redact,
    /// Fields left out of decoded JSON, as a strip plugin before this one removes them.
    omit: Vec<FieldPath>,
    /// Bytes shown as they came, with their secrets masked.
    masked: Vec<u8>,
}

impl Default for Body {
    /// [`Body::new`]: masks nothing; a plugin's `redact` setting goes to [`Body::redacting`].
    fn default() -> Self {
        Body::new()
    }
}

impl Body {
    /// A renderer with empty buffers that masks nothing.
    pub fn new() -> Self {
        Body::redacting(Redact::none())
    }

    /// A renderer that writes the values of the `redact` fields as `"***"`.
    pub fn redacting(redact: Redact) -> Self {
        Body {
            writer: Writer::new(),
            json: Vec::new(),
            redact,
            omit: Vec::new(),
            masked: Vec::new(),
        }
    }

    /// This renderer, leaving the `omit` fields out of decoded JSON: what a strip plugin placed
    /// before it shows, without the stripped line being written and indexed in between. Bytes
    /// shown as they came keep every field, as strip leaves lines it cannot decode alone.
    pub fn omitting(mut self, omit: Vec<FieldPath>) -> Self {
        self.omit = omit;
        self
    }

    /// Appends `bytes` as they came (see [`Body::write`]), secrets masked, without the final
    /// `\n` a line may lack: for the spy's raw reads, which it ends itself.
    pub fn write_bytes(&mut self, out: &mut Vec<u8>, bytes: &[u8], visible: bool) {
        let bytes =
            if self.redact.line(bytes, None, &mut self.masked) { &self.masked } else { bytes };
        if visible {
            out.extend_from_slice(visible::bytes(bytes, Newlines::Keep).as_bytes());
        } else {
            out.extend_from_slice(bytes);
        }
    }

    /// Appends the message and one final `\n` to `out`.
    pub fn write(&mut self, out: &mut Vec<u8>, message: &Message<'_>, style: BodyStyle) {
        if message.is_oversize() {
            let _ = write!(out, "[oversize line: {} bytes, not decoded] ", message.len());
            self.write_as_it_came(out, message.bytes(), style);
        } else if style.raw || message.is_raw() {
            self.write_as_it_came(out, message.bytes(), style);
        } else if let Some(root) = message.root() {
            self.write_json(out, root, style);
        } else {
            self.write_as_it_came(out, message.bytes(), style);
        }
    }

    /// A raw TCP read may already end with `\n`; adding another would print a blank line.
    fn write_as_it_came(&mut self, out: &mut Vec<u8>, bytes: &[u8], style: BodyStyle) {
        self.write_bytes(out, bytes, style.visible);
        if bytes.last() != Some(&b'\n') {
            out.push(b'\n');
        }
    }

    fn write_json(&mut self, out: &mut Vec<u8>, root: index::Value<'_>, style: BodyStyle) {
        // On a terminal the JSON text is rendered aside first, to write its controls out.
        let target = if style.visible { &mut self.json } else { &mut *out };
        if style.visible {
            target.clear();
        }
        self.writer.sorted_without(root, &self.omit, style.pretty, &self.redact, target);
        if style.visible {
            // The writer escapes like serde_json: always UTF-8.
            let text = String::from_utf8_lossy(&self.json);
            out.extend_from_slice(visible::json(&text).as_bytes());
        }
        out.push(b'\n');
    }
}
