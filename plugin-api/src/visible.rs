//! Control characters made visible, for text shown to a person on a terminal.
//!
//! A terminal obeys the control characters it receives: `\x1b[2J` clears the screen, `\r`
//! rewrites the line, U+009B (an 8-bit CSI) starts an escape sequence on some terminals. Text
//! that came from the wire or from a configuration file could therefore hide itself or forge
//! other output, so it is shown with every control character written out instead: `\t`, `\r`,
//! `\n`, `\x1b`, `\x7f` (C0 and DEL), `\u{9b}` (C1). A byte that is not valid UTF-8 is written
//! `\xff`, so nothing a terminal could still decode as a control slips through.
//!
//! Backslashes are not doubled: this is for reading, not for decoding back.

use std::borrow::Cow;
use std::fmt::Write as _;

/// What to do with `\n`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Newlines {
    /// Keep line breaks: the text spans several lines (a raw TCP read).
    Keep,
    /// Write `\n`: the text must stay on one line (a diagnostic).
    Escape,
}

/// `bytes` with control characters and invalid UTF-8 written out; borrowed when nothing needed
/// escaping.
pub fn bytes(bytes: &[u8], newlines: Newlines) -> Cow<'_, str> {
    let shown = |c: char| !c.is_control() || (c == '\n' && newlines == Newlines::Keep);
    if let Ok(text) = std::str::from_utf8(bytes) {
        if text.chars().all(shown) {
            return Cow::Borrowed(text);
        }
    }
    let mut out = String::with_capacity(bytes.len() + 16);
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            if shown(c) {
                out.push(c);
            } else {
                push_escaped(&mut out, c);
            }
        }
        for byte in chunk.invalid() {
            // Writing to a String cannot fail.
            let _ = write!(out, "\\x{byte:02x}");
        }
    }
    Cow::Owned(out)
}

/// One-line text with every control character (line breaks included) written out.
pub fn text(text: &str) -> Cow<'_, str> {
    bytes(text.as_bytes(), Newlines::Escape)
}

/// Serialized JSON with DEL and C1 controls written as JSON escapes (`\u009b`), so it stays
/// valid JSON. serde_json already escapes C0 controls, and outside strings JSON text is ASCII
/// without controls, so only characters inside strings change.
pub fn json(json_text: &str) -> Cow<'_, str> {
    if !json_text.chars().any(char::is_control) {
        return Cow::Borrowed(json_text);
    }
    let mut out = String::with_capacity(json_text.len() + 16);
    for c in json_text.chars() {
        if c.is_control() {
            let _ = write!(out, "\\u{:04x}", u32::from(c));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

fn push_escaped(out: &mut String, c: char) {
    match c {
        '\t' => out.push_str("\\t"),
        '\r' => out.push_str("\\r"),
        '\n' => out.push_str("\\n"),
        c if c.is_ascii() => {
            let _ = write!(out, "\\x{:02x}", u32::from(c));
        }
        c => {
            let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_is_borrowed() {
        assert!(matches!(text("queue = \"big\" é"), Cow::Borrowed(_)));
        assert!(matches!(bytes(b"a\nb\n", Newlines::Keep), Cow::Borrowed(_)));
    }

    #[test]
    fn every_control_is_written_out() {
        assert_eq!(
            text("a\x1b[31mb\tc\rd\ne\x7ff\u{9b}g\u{85}\0"),
            "a\\x1b[31mb\\tc\\rd\\ne\\x7ff\\u{9b}g\\u{85}\\x00"
        );
    }

    #[test]
    fn line_breaks_can_be_kept() {
        assert_eq!(bytes(b"a\x1b\nb\r\n", Newlines::Keep), "a\\x1b\nb\\r\n");
    }

    #[test]
    fn invalid_utf8_bytes_are_written_as_bytes() {
        assert_eq!(bytes(b"a\xff\xc2\x9bb\xc2", Newlines::Escape), "a\\xff\\u{9b}b\\xc2");
        assert_eq!(bytes(b"\x9b[2J", Newlines::Keep), "\\x9b[2J");
    }

    #[test]
    fn json_stays_json() {
        let shown = json("{\"a\": \"x\u{7f}y\u{9b}z\", \"b\": \"\\u001b\"}");
        assert_eq!(shown, "{\"a\": \"x\\u007fy\\u009bz\", \"b\": \"\\u001b\"}");
        let back: serde_json::Value = serde_json::from_str(&shown).unwrap();
        assert_eq!(back["a"], "x\u{7f}y\u{9b}z");
    }
}
