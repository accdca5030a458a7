//! The parser: one pass over a line that checks it exactly as `serde_json::from_slice::<Value>`
//! does and records its tokens on a tape of [`Node`]s.
//!
//! Accepted iff serde_json accepts: strings are UTF-8 (non-ASCII bytes elsewhere are syntax
//! errors); RFC 8259 grammar with no trailing
//! commas, leading zeros or bare words; strings without raw C0 controls and with valid escapes,
//! surrogates paired (serde_json refuses a lone `\ud800` when it builds a `String`); numbers
//! whose float does not overflow by serde_json's own arithmetic ([`super::number`]); at most
//! 127 nested containers (serde_json's recursion limit of 128 counts down to zero on the 128th);
//! only JSON whitespace (space, tab, `\n`, `\r`) around the value. Duplicate keys are allowed
//! and all recorded: readers decide (the last one wins, as in serde_json's map).
//!
//! The caller's `Vec` is reused: once it has grown to the largest message, parsing allocates
//! nothing.

use std::fmt;
use std::ops::Range;

use super::node::*;
use super::number;
use super::scan;
use super::string::hex4;

/// serde_json's default recursion limit: entering a container counts it down; zero fails.
const RECURSION_LIMIT: u32 = 128;

/// Above this many decimal digits of magnitude a number may overflow a double: only those pay
/// for serde_json's arithmetic.
const SAFE_MAGNITUDE: i64 = 300;

/// Why a line is not JSON, and where.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParseError {
    /// Byte offset in the line where the problem was found.
    pub offset: usize,
    /// What was wrong.
    pub reason: Reason,
}

/// What was wrong with a line (the categories of serde_json's errors).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// The line ended inside a value.
    Eof,
    /// Something other than a value where one was expected.
    ExpectedValue,
    /// A key not followed by `:`.
    ExpectedColon,
    /// An item not followed by `,` or the closing bracket.
    ExpectedCommaOrEnd,
    /// An object key that is not a string (including a trailing comma).
    KeyMustBeString,
    /// A malformed number (leading zero, missing digits).
    InvalidNumber,
    /// A number whose float would be infinite.
    NumberOutOfRange,
    /// An unknown escape or bad hex digits.
    InvalidEscape,
    /// A raw control character (below U+0020) inside a string.
    ControlCharacter,
    /// A `\u` surrogate escape without its other half.
    LoneSurrogate,
    /// Bytes that are not UTF-8.
    InvalidUtf8,
    /// More than 127 nested containers.
    RecursionLimit,
    /// Something after the value.
    TrailingCharacters,
    /// A line of 4 GiB or more: offsets are `u32`.
    TooLong,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?} at byte {}", self.reason, self.offset)
    }
}

impl std::error::Error for ParseError {}

/// Parses `line` into `nodes` (cleared first). On error `nodes` is left empty.
pub fn parse_into(line: &[u8], nodes: &mut Vec<Node>) -> Result<(), ParseError> {
    nodes.clear();
    parse_append(line, nodes).map(drop)
}

/// Parses `line` onto the end of `nodes`, so that the tapes of several lines share one buffer:
/// returns where its tape is. The tape's `next` indices count from its own first node, so the
/// slice `nodes[range]` is a tape on its own. On error `nodes` is left as it was.
pub fn parse_append(line: &[u8], nodes: &mut Vec<Node>) -> Result<Range<usize>, ParseError> {
    let base = nodes.len();
    let result = Parser { line, pos: 0, base, nodes }.document();
    match result {
        Ok(()) => Ok(base..nodes.len()),
        Err(e) => {
            nodes.truncate(base);
            Err(e)
        }
    }
}

struct Parser<'l, 'n> {
    line: &'l [u8],
    pos: usize,
    /// Where this line's tape starts in `nodes`: indices on the tape count from there.
    base: usize,
    nodes: &'n mut Vec<Node>,
}

impl Parser<'_, '_> {
    fn document(&mut self) -> Result<(), ParseError> {
        if u32::try_from(self.line.len()).is_err() {
            return Err(self.error(Reason::TooLong));
        }
        self.skip_whitespace();
        self.value(RECURSION_LIMIT)?;
        self.skip_whitespace();
        if self.pos < self.line.len() {
            return Err(self.error(Reason::TrailingCharacters));
        }
        Ok(())
    }

    fn value(&mut self, depth_left: u32) -> Result<(), ParseError> {
        match self.peek() {
            Some(b'{') => self.container(KIND_OBJECT, depth_left),
            Some(b'[') => self.container(KIND_ARRAY, depth_left),
            Some(b'"') => self.string(KIND_STRING),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(b't') => self.word(b"true", KIND_TRUE),
            Some(b'f') => self.word(b"false", KIND_FALSE),
            Some(b'n') => self.word(b"null", KIND_NULL),
            Some(_) => Err(self.error(Reason::ExpectedValue)),
            None => Err(self.error(Reason::Eof)),
        }
    }

    fn container(&mut self, kind: u8, depth_left: u32) -> Result<(), ParseError> {
        let depth_left = depth_left - 1;
        if depth_left == 0 {
            return Err(self.error(Reason::RecursionLimit));
        }
        let at = self.push(kind, self.pos, self.pos + 1, 0);
        let close = if kind == KIND_OBJECT { b'}' } else { b']' };
        self.pos += 1;
        self.skip_whitespace();
        let mut count = 0u32;
        if self.peek() != Some(close) {
            loop {
                if kind == KIND_OBJECT {
                    self.key()?;
                }
                // Strings are most values: parsed here, without a call.
                match self.peek() {
                    Some(b'"') => self.string(KIND_STRING)?,
                    _ => self.value(depth_left)?,
                }
                count += 1;
                if self.python_separator(b',') {
                    continue;
                }
                self.skip_whitespace();
                match self.peek() {
                    Some(b',') => {
                        self.pos += 1;
                        self.skip_whitespace();
                    }
                    Some(c) if c == close => break,
                    Some(_) => return Err(self.error(Reason::ExpectedCommaOrEnd)),
                    None => return Err(self.error(Reason::Eof)),
                }
            }
        }
        self.pos += 1;
        let next = (self.nodes.len() - self.base) as u32;
        let node = &mut self.nodes[at];
        node.end = self.pos as u32;
        node.next = next;
        node.count = count;
        Ok(())
    }

    /// A key, its colon and the whitespace up to the value.
    fn key(&mut self) -> Result<(), ParseError> {
        match self.peek() {
            Some(b'"') => self.string(KIND_KEY)?,
            Some(_) => return Err(self.error(Reason::KeyMustBeString)),
            None => return Err(self.error(Reason::Eof)),
        }
        if self.python_separator(b':') {
            return Ok(());
        }
        self.skip_whitespace();
        match self.peek() {
            Some(b':') => self.pos += 1,
            Some(_) => return Err(self.error(Reason::ExpectedColon)),
            None => return Err(self.error(Reason::Eof)),
        }
        self.skip_whitespace();
        Ok(())
    }

    // Inlined into its callers: a call cost more than scanning a short key.
    #[inline(always)]
    fn string(&mut self, kind: u8) -> Result<(), ParseError> {
        let start = self.pos;
        let mut flags = 0;
        self.pos += 1;
        loop {
            self.pos += scan::plain_run(self.line.get(self.pos..).unwrap_or_default());
            match self.peek() {
                Some(b'"') => break,
                Some(b'\\') => {
                    flags = FLAG_ESCAPED;
                    self.escape()?;
                }
                Some(0x80..) => self.non_ascii()?,
                Some(_) => return Err(self.error(Reason::ControlCharacter)),
                None => return Err(self.error(Reason::Eof)),
            }
        }
        self.pos += 1;
        self.push(kind, start, self.pos, flags);
        Ok(())
    }

    /// Checks the run of non-ASCII bytes at `pos` and moves past it. No UTF-8 sequence contains
    /// an ASCII byte, so the run must be valid on its own. Outside strings such bytes are
    /// syntax errors anyway: this is serde_json's UTF-8 check, without a pass over the line.
    #[inline(never)]
    fn non_ascii(&mut self) -> Result<(), ParseError> {
        let run = self.line[self.pos..].iter().take_while(|&&b| b >= 0x80).count();
        if let Err(e) = std::str::from_utf8(&self.line[self.pos..self.pos + run]) {
            self.pos += e.valid_up_to();
            return Err(self.error(Reason::InvalidUtf8));
        }
        self.pos += run;
        Ok(())
    }

    /// Checks the escape at `pos` (a backslash) and moves past it.
    #[inline(never)]
    fn escape(&mut self) -> Result<(), ParseError> {
        self.pos += 1;
        match self.peek() {
            Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => {
                self.pos += 1;
                Ok(())
            }
            Some(b'u') => self.unicode_escape(),
            Some(_) => Err(self.error(Reason::InvalidEscape)),
            None => Err(self.error(Reason::Eof)),
        }
    }

    /// `uXXXX` at `pos`; a leading surrogate must be followed by `\uXXXX` with a trailing one.
    fn unicode_escape(&mut self) -> Result<(), ParseError> {
        let first = self.hex_escape()?;
        if (0xDC00..0xE000).contains(&first) {
            return Err(self.error(Reason::LoneSurrogate));
        }
        if !(0xD800..0xDC00).contains(&first) {
            return Ok(());
        }
        match self.line.get(self.pos..self.pos + 2) {
            Some(b"\\u") => self.pos += 1,
            Some(_) => return Err(self.error(Reason::LoneSurrogate)),
            None => return Err(self.error(Reason::Eof)),
        }
        if (0xDC00..0xE000).contains(&self.hex_escape()?) {
            Ok(())
        } else {
            Err(self.error(Reason::LoneSurrogate))
        }
    }

    /// `uXXXX` at `pos`: its value.
    fn hex_escape(&mut self) -> Result<u32, ParseError> {
        self.pos += 1;
        let digits = &self.line[self.pos..];
        if let Some(bad) = digits.iter().take(4).position(|b| !b.is_ascii_hexdigit()) {
            self.pos += bad;
            return Err(self.error(Reason::InvalidEscape));
        }
        if digits.len() < 4 {
            self.pos = self.line.len();
            return Err(self.error(Reason::Eof));
        }
        self.pos += 4;
        Ok(hex4(digits))
    }

    fn number(&mut self) -> Result<(), ParseError> {
        let start = self.pos;
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        let integer_digits = match self.peek() {
            Some(b'0') => {
                self.pos += 1;
                1
            }
            Some(b'1'..=b'9') => self.digits(),
            _ => return Err(self.number_error()),
        };
        let mut flags = 0;
        if self.peek() == Some(b'.') {
            self.pos += 1;
            flags = FLAG_FLOAT;
            if self.digits() == 0 {
                return Err(self.number_error());
            }
        }
        let mut exponent = 0i64;
        if let Some(b'e' | b'E') = self.peek() {
            self.pos += 1;
            flags = FLAG_FLOAT;
            exponent = self.exponent()?;
        }
        if integer_digits as i64 + exponent > SAFE_MAGNITUDE
            && number::read(&self.line[start..self.pos]).is_none()
        {
            return Err(self.error(Reason::NumberOutOfRange));
        }
        self.push(KIND_NUMBER, start, self.pos, flags);
        Ok(())
    }

    /// The exponent after `e`, saturated: only its order of magnitude matters here.
    fn exponent(&mut self) -> Result<i64, ParseError> {
        let negative = self.peek() == Some(b'-');
        if let Some(b'-' | b'+') = self.peek() {
            self.pos += 1;
        }
        let start = self.pos;
        if self.digits() == 0 {
            return Err(self.number_error());
        }
        let value = self.line[start..self.pos]
            .iter()
            .fold(0i64, |n, &d| (n * 10 + i64::from(d - b'0')).min(1 << 40));
        Ok(if negative { -value } else { value })
    }

    fn number_error(&self) -> ParseError {
        self.error(if self.pos < self.line.len() { Reason::InvalidNumber } else { Reason::Eof })
    }

    /// Skips ASCII digits; how many.
    fn digits(&mut self) -> usize {
        let count = self.line[self.pos..].iter().take_while(|b| b.is_ascii_digit()).count();
        self.pos += count;
        count
    }

    fn word(&mut self, word: &[u8], kind: u8) -> Result<(), ParseError> {
        let rest = &self.line[self.pos..];
        if rest.starts_with(word) {
            self.push(kind, self.pos, self.pos + word.len(), 0);
            self.pos += word.len();
            return Ok(());
        }
        let matching = rest.iter().zip(word).take_while(|(a, b)| a == b).count();
        self.pos += matching;
        Err(self.error(if matching == rest.len() { Reason::Eof } else { Reason::ExpectedValue }))
    }

    #[inline(always)]
    fn push(&mut self, kind: u8, start: usize, end: usize, flags: u8) -> usize {
        let at = self.nodes.len();
        self.nodes.push(Node {
            start: start as u32,
            end: end as u32,
            next: (at - self.base) as u32 + 1,
            count: 0,
            kind,
            flags,
            reserved: [0; 2],
        });
        at
    }

    /// Moves past `separator` and one space when a token follows, as Python's `json.dumps`
    /// separates (`", "`, `": "`): one step instead of blanks, separator, blanks. False, moving
    /// nothing, for any other spacing.
    #[inline(always)]
    fn python_separator(&mut self, separator: u8) -> bool {
        match self.line.get(self.pos..self.pos + 3) {
            Some(&[s, b' ', next]) if s == separator && !is_blank(next) => {
                self.pos += 2;
                true
            }
            _ => false,
        }
    }

    #[inline(always)]
    fn skip_whitespace(&mut self) {
        // A plain loop: compact JSON has no blanks, and this runs several times per token.
        while self.line.get(self.pos).copied().is_some_and(is_blank) {
            self.pos += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.line.get(self.pos).copied()
    }

    fn error(&self, reason: Reason) -> ParseError {
        ParseError { offset: self.pos, reason }
    }
}

/// JSON whitespace.
fn is_blank(byte: u8) -> bool {
    matches!(byte, b' ' | b'\n' | b'\t' | b'\r')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accepts(text: &str) -> bool {
        let ours = parse_into(text.as_bytes(), &mut Vec::new()).is_ok();
        let serde = serde_json::from_str::<serde_json::Value>(text).is_ok();
        assert_eq!(ours, serde, "{text:?}: ours {ours}, serde_json {serde}");
        ours
    }

    #[test]
    fn records_kinds_offsets_subtrees_and_counts() {
        let line = br#" {"a": [1, "x\n"], "b": null} "#;
        let mut nodes = Vec::new();
        parse_into(line, &mut nodes).unwrap();
        let summary: Vec<_> =
            nodes.iter().map(|n| (n.kind, &line[n.span()], n.next, n.count, n.flags)).collect();
        assert_eq!(
            summary,
            [
                (KIND_OBJECT, &br#"{"a": [1, "x\n"], "b": null}"#[..], 7, 2, 0),
                (KIND_KEY, br#""a""#, 2, 0, 0),
                (KIND_ARRAY, br#"[1, "x\n"]"#, 5, 2, 0),
                (KIND_NUMBER, b"1", 4, 0, 0),
                (KIND_STRING, br#""x\n""#, 5, 0, FLAG_ESCAPED),
                (KIND_KEY, br#""b""#, 6, 0, 0),
                (KIND_NULL, b"null", 7, 0, 0),
            ]
        );
    }

    #[test]
    fn accepts_what_serde_json_accepts() {
        for text in [
            "0",
            "-0",
            "1.5e-3",
            "1E+2",
            " \t\r\n[ ] ",
            "{}",
            r#"{"a":1,"a":2}"#,
            r#""\u0000""#,
            r#""\uD83D\uDE00""#,
            "\"\u{7f}\u{80}\u{9b}\"",
            "1e-400",
            "true",
            "null",
            r#""\/\b\f""#,
            "123456789012345678901234567890",
        ] {
            assert!(accepts(text), "{text}");
        }
    }

    #[test]
    fn refuses_what_serde_json_refuses() {
        for text in [
            "",
            " ",
            "01",
            "-",
            "-a",
            "1.",
            ".5",
            "+1",
            "1e",
            "1e+",
            "[1,]",
            r#"{"a":1,}"#,
            "[1 2]",
            r#"{"a" 1}"#,
            "{1:2}",
            r#""\ud800""#,
            r#""\udc00""#,
            r#""\ud800\u0041""#,
            r#""\ud800x""#,
            r#""\x""#,
            r#""\u12g4""#,
            "\"a\u{1}\"",
            "\"\t\"",
            "1e400",
            "-1e400",
            "[1] x",
            "tru",
            "nul",
            "truex",
            "[",
            r#"{"a""#,
            "\u{feff}1",
            "NaN",
            "\"\\u12",
            "[1,",
            "1\x0c",
        ] {
            assert!(!accepts(text), "{text:?}");
        }
        assert!(parse_into(b"\"\xff\"", &mut Vec::new()).is_err());
        assert!(serde_json::from_slice::<serde_json::Value>(b"\"\xff\"").is_err());
    }

    #[test]
    fn python_separators_take_the_short_path_with_the_same_errors() {
        let error = |text: &str| parse_into(text.as_bytes(), &mut Vec::new()).unwrap_err();
        let at = |offset, reason| ParseError { offset, reason };
        assert_eq!(error(r#"{"a": 1, }"#), at(9, Reason::KeyMustBeString));
        assert_eq!(error("[1, ]"), at(4, Reason::ExpectedValue));
        assert_eq!(error(r#"{"a": }"#), at(6, Reason::ExpectedValue));
        assert_eq!(error(r#"{"a": 1, 2}"#), at(9, Reason::KeyMustBeString));
        assert_eq!(error("[1, "), at(4, Reason::Eof));
        for text in
            [r#"{"a":  1,  "b": [1,  2]}"#, "{\"a\": \n1, \t\"b\": 2}", r#"[1, "x", {"k": "v"}]"#]
        {
            assert!(accepts(text), "{text}");
        }
    }

    #[test]
    fn nests_as_deep_as_serde_json_and_no_deeper() {
        for depth in [126, 127, 128, 129] {
            let arrays = "[".repeat(depth) + &"]".repeat(depth);
            let objects = r#"{"a":"#.repeat(depth) + "1" + &"}".repeat(depth);
            assert_eq!(accepts(&arrays), depth < 128, "{depth}");
            assert_eq!(accepts(&objects), depth < 128, "{depth}");
        }
    }

    #[test]
    fn a_warm_vector_is_reused() {
        let mut nodes = Vec::new();
        parse_into(br#"{"a":[1,2,3]}"#, &mut nodes).unwrap();
        let capacity = nodes.capacity();
        parse_into(br#"[4,5]"#, &mut nodes).unwrap();
        assert_eq!((nodes.len(), nodes.capacity()), (3, capacity));
        assert!(parse_into(b"[", &mut nodes).is_err());
        assert!(nodes.is_empty());
    }

    #[test]
    fn appended_tapes_are_tapes_on_their_own() {
        let lines: [&[u8]; 4] =
            [br#"{"a":[1,{"b":2}],"c":"d"}"#, b"[[],[3]]", b"{\"broken\"", br#""s""#];
        let mut shared = Vec::new();
        let mut ranges = Vec::new();
        for line in lines {
            let before = shared.clone();
            match parse_append(line, &mut shared) {
                Ok(range) => ranges.push(Some(range)),
                Err(_) => {
                    assert_eq!(shared, before, "a refused line leaves the buffer as it was");
                    ranges.push(None);
                }
            }
        }
        for (line, range) in lines.iter().zip(ranges) {
            let mut alone = Vec::new();
            let parsed = parse_into(line, &mut alone);
            match range {
                Some(range) => assert_eq!(shared[range], alone[..], "{line:?}"),
                None => assert!(parsed.is_err()),
            }
        }
    }
}
