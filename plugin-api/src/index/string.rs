//! String text: decoding the escapes of a string the parser accepted, and writing a string back
//! escaped byte for byte as serde_json escapes it.
//!
//! serde_json escapes only `"`, `\` and the C0 controls (as `\b \t \n \f \r` or `\u00XX` in
//! lowercase hex); DEL, C1 controls, `/` and all other Unicode are written raw. So a string
//! written without escapes is already in serde_json's form and is copied as it is.

use std::borrow::Cow;

/// The text of a string or key whose span (quotes included) is `raw`.
pub(crate) fn text(raw: &[u8], escaped: bool) -> Cow<'_, str> {
    let content = content(raw);
    if !escaped {
        // The parser validated the line; lossy only matters for a foreign tape. Checked with
        // `from_utf8` first: on short strings it costs half of what `from_utf8_lossy` does.
        return match std::str::from_utf8(content) {
            Ok(text) => Cow::Borrowed(text),
            Err(_) => String::from_utf8_lossy(content),
        };
    }
    let mut decoded = Vec::with_capacity(content.len());
    unescape_into(content, &mut decoded);
    Cow::Owned(String::from_utf8_lossy(&decoded).into_owned())
}

/// The bytes between the quotes.
pub(crate) fn content(raw: &[u8]) -> &[u8] {
    raw.get(1..raw.len().saturating_sub(1)).unwrap_or_default()
}

/// Appends the decoded `content` (without quotes) of a string the parser accepted.
pub(crate) fn unescape_into(mut content: &[u8], out: &mut Vec<u8>) {
    while let Some(at) = content.iter().position(|&b| b == b'\\') {
        out.extend_from_slice(&content[..at]);
        content = decode_escape(&content[at + 1..], out);
    }
    out.extend_from_slice(content);
}

/// Decodes the escape after a `\`; returns the rest.
fn decode_escape<'c>(after: &'c [u8], out: &mut Vec<u8>) -> &'c [u8] {
    let Some((&letter, rest)) = after.split_first() else { return after };
    let short = match letter {
        b'b' => b'\x08',
        b'f' => b'\x0c',
        b'n' => b'\n',
        b'r' => b'\r',
        b't' => b'\t',
        b'u' => return decode_unicode(rest, out),
        other => other, // `"`, `\` and `/` stand for themselves.
    };
    out.push(short);
    rest
}

/// `XXXX` or, for a leading surrogate, `XXXX\uYYYY` (the parser checked the pairing).
fn decode_unicode<'c>(rest: &'c [u8], out: &mut Vec<u8>) -> &'c [u8] {
    let first = hex4(rest);
    let (code, rest) = if (0xD800..0xDC00).contains(&first) && rest.get(4..6) == Some(b"\\u") {
        let second = hex4(&rest[6..]);
        (0x10000 + ((first - 0xD800) << 10) + (second.wrapping_sub(0xDC00) & 0x3FF), &rest[10..])
    } else {
        (first, rest.get(4..).unwrap_or_default())
    };
    let c = char::from_u32(code).unwrap_or(char::REPLACEMENT_CHARACTER);
    out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
    rest
}

/// The value of four hex digits; 0xFFFD stands in for digits a foreign tape got wrong.
pub(crate) fn hex4(digits: &[u8]) -> u32 {
    let Some(digits) = digits.get(..4) else { return 0xFFFD };
    digits.iter().try_fold(0u32, |n, &d| Some(n << 4 | (d as char).to_digit(16)?)).unwrap_or(0xFFFD)
}

/// Appends `text` between quotes, escaped as serde_json escapes it.
pub(crate) fn escape_into(text: &[u8], out: &mut Vec<u8>) {
    out.push(b'"');
    let mut plain = 0;
    for (at, &b) in text.iter().enumerate() {
        if b >= 0x20 && b != b'"' && b != b'\\' {
            continue;
        }
        out.extend_from_slice(&text[plain..at]);
        plain = at + 1;
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\x08' => out.extend_from_slice(b"\\b"),
            b'\x0c' => out.extend_from_slice(b"\\f"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            control => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.extend_from_slice(b"\\u00");
                out.extend_from_slice(&[
                    HEX[usize::from(control >> 4)],
                    HEX[usize::from(control & 15)],
                ]);
            }
        }
    }
    out.extend_from_slice(&text[plain..]);
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decoded(raw: &str) -> String {
        text(raw.as_bytes(), raw.contains('\\')).into_owned()
    }

    #[test]
    fn decodes_every_escape() {
        assert_eq!(decoded(r#""a\"b\\c\/d\b\f\n\r\t""#), "a\"b\\c/d\x08\x0c\n\r\t");
        assert_eq!(decoded(r#""\u00e9\u0000\uD83D\uDE00x""#), "é\0😀x");
        assert!(matches!(text(b"\"plain\"", false), Cow::Borrowed("plain")));
    }

    #[test]
    fn escapes_like_serde_json() {
        let all: String =
            (0u32..0x100).filter_map(char::from_u32).chain(['😀', '\u{2028}']).collect();
        let mut ours = Vec::new();
        escape_into(all.as_bytes(), &mut ours);
        assert_eq!(ours, serde_json::to_vec(&all).unwrap());
    }
}
