//! A message shown to a human: decoded JSON with sorted keys (compact or pretty), or the bytes as
//! they came when it is not JSON, is a raw read or is oversize. The spy prints it under its
//! headers and the save plugin writes it to its classic files, so a saved capture reads exactly
//! like the spy's output.
//!
//! On a terminal ([`BodyStyle::visible`]) control characters are written out (`\x1b`, `\r`,
//! `\u009b` inside JSON strings) instead of being sent to the terminal to obey; anywhere else
//! (a file, a pipe) the bytes are kept exact, because captures and scripts rely on them.

use std::io::{self, Write};

use crate::sorted_json;
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

/// Writes the message and one final `\n`.
pub fn write_body<W: Write>(
    out: &mut W,
    message: &Message<'_>,
    style: BodyStyle,
) -> io::Result<()> {
    if message.is_oversize() {
        write_oversize(out, message, style)
    } else if style.raw || message.is_raw() {
        write_as_it_came(out, message.bytes(), style)
    } else if let Some(json) = message.json() {
        write_json(out, json, style)
    } else {
        write_as_it_came(out, message.bytes(), style)
    }
}

/// Oversize lines are not decoded: say so, then show the preview the host kept.
fn write_oversize<W: Write>(
    out: &mut W,
    message: &Message<'_>,
    style: BodyStyle,
) -> io::Result<()> {
    write!(out, "[oversize line: {} bytes, not decoded] ", message.len())?;
    write_as_it_came(out, message.bytes(), style)
}

/// A raw TCP read may already end with `\n`; adding another would print a blank line.
fn write_as_it_came<W: Write>(out: &mut W, bytes: &[u8], style: BodyStyle) -> io::Result<()> {
    if style.visible {
        out.write_all(visible::bytes(bytes, Newlines::Keep).as_bytes())?;
    } else {
        out.write_all(bytes)?;
    }
    if bytes.last() == Some(&b'\n') {
        Ok(())
    } else {
        out.write_all(b"\n")
    }
}

fn write_json<W: Write>(out: &mut W, json: &serde_json::Value, style: BodyStyle) -> io::Result<()> {
    if style.visible {
        let mut text = Vec::new();
        write_sorted(&mut text, json, style.pretty)?;
        let text =
            String::from_utf8(text).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        out.write_all(visible::json(&text).as_bytes())?;
    } else {
        write_sorted(&mut *out, json, style.pretty)?;
    }
    out.write_all(b"\n")
}

fn write_sorted<W: Write>(out: W, json: &serde_json::Value, pretty: bool) -> io::Result<()> {
    if pretty {
        sorted_json::write_pretty(out, json)
    } else {
        sorted_json::write_compact(out, json)
    }
}
