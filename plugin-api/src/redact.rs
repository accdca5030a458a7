//! Secrets kept out of what ctiproxy shows and saves: the values of a few fields (by default
//! `password`, which `login_pass` carries in clear) are written as `"***"` by the spy, the save
//! plugin's classic files and its JSON-lines capture. The wire is never touched: redaction only
//! changes copies made for people and files.
//!
//! The fields are [`FieldPath`]s (`password`, or a dotted path such as `auth.token`) read through
//! the host's index of each line. The spy's and the classic files' writers recognise a field
//! that is one top-level key by name as they go through the top-level entries, and look up only
//! the paths; [`Redact::find`] and [`Redact::line`] look every field up. Lines that are not decoded (raw reads, oversize lines,
//! anything that is not JSON) are scanned for `"NAME": "…"` with each field's last name instead,
//! so a secret does not leak because the proxy was told not to decode.

use serde::Deserialize;

use crate::error::ConfigError;
use crate::field_path::FieldPath;
use crate::index::{KeyName, Value};

/// What a redacted value becomes.
pub const MASK: &[u8] = b"\"***\"";

/// The fields whose values are masked: a plugin's `redact` setting.
///
/// Deserializes from a list of field names; `redact = []` turns redaction off.
#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "Vec<String>")]
pub struct Redact {
    fields: Vec<FieldPath>,
    /// The fields that are one top-level key (`password`), which a writer recognises by name
    /// as it goes through the top-level entries, instead of looking each one up first.
    top_level: Vec<KeyName>,
    /// The other fields (`auth.token`), looked up.
    paths: Vec<FieldPath>,
}

impl Default for Redact {
    /// `["password"]`.
    fn default() -> Self {
        let fields = DEFAULT_FIELDS.iter().filter_map(|name| FieldPath::parse(name, "").ok());
        Redact::of(fields.collect())
    }
}

/// The fields redacted when a plugin's settings say nothing.
pub const DEFAULT_FIELDS: &[&str] = &["password"];

impl TryFrom<Vec<String>> for Redact {
    type Error = ConfigError;

    fn try_from(names: Vec<String>) -> Result<Self, ConfigError> {
        let fields = names
            .iter()
            .enumerate()
            .map(|(i, name)| FieldPath::parse(name, &format!("item {}", i + 1)))
            .collect::<Result<_, _>>()?;
        Ok(Redact::of(fields))
    }
}

impl Redact {
    /// Redacts nothing (`redact = []`).
    pub fn none() -> Self {
        Redact::of(Vec::new())
    }

    fn of(fields: Vec<FieldPath>) -> Self {
        let is_path = |field: &&FieldPath| field.as_str().contains('.');
        let paths = fields.iter().filter(is_path).cloned().collect();
        let top_level =
            fields.iter().filter(|f| !is_path(f)).map(|f| KeyName::new(f.as_str())).collect();
        Redact { fields, top_level, paths }
    }

    /// True when nothing is redacted.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// Pushes onto `out` the tape positions of the values to mask in `root`.
    pub fn find(&self, root: Value<'_>, out: &mut Vec<usize>) {
        find_fields(&self.fields, root, |_| false, out);
    }

    /// [`Redact::find`] for the fields that are paths (`auth.token`), in `root` as it is once
    /// the entries whose key position `hidden` accepts are removed: a field a writer leaves out
    /// no longer hides the one it shadowed (a literal `"a.b"` key, left out, makes `a.b` the
    /// nested field, as after a strip). The writer recognises the others by name
    /// ([`Redact::top_level`]).
    pub(crate) fn find_paths_hiding(
        &self,
        root: Value<'_>,
        hidden: impl Fn(usize) -> bool,
        out: &mut Vec<usize>,
    ) {
        find_fields(&self.paths, root, hidden, out);
    }

    /// The fields that are one top-level key, as names a writer compares entries with: the
    /// last entry of that key at the top level is the one [`Redact::find`] finds.
    pub(crate) fn top_level(&self) -> &[KeyName] {
        &self.top_level
    }

    /// Copies `line` into `out` with every value to mask replaced by `"***"`, everything else
    /// byte for byte; `root` is the line's index, `None` when it was not decoded. The bytes are
    /// scanned too (see the module documentation), which over-masks rather than leaks. Returns false, leaving `out` empty, when there
    /// was nothing to mask.
    pub fn line(&self, line: &[u8], root: Option<Value<'_>>, out: &mut Vec<u8>) -> bool {
        out.clear();
        if self.is_empty() {
            return false;
        }
        let mut spans = Vec::new();
        if let Some(root) = root {
            let mut positions = Vec::new();
            self.find(root, &mut positions);
            spans.extend(positions.into_iter().map(|p| root.at(p).node().span()));
        }
        // Also on decoded lines: an earlier duplicate of the key, which the index reads past,
        // is still in the copied bytes.
        for field in &self.fields {
            let name = field.segments().last().unwrap_or(field.as_str());
            scan(line, name, &mut spans);
        }
        if spans.is_empty() {
            return false;
        }
        spans.sort_unstable_by_key(|span| span.start);
        let mut copied = 0;
        for span in spans {
            // A masked field inside another masked one is already gone.
            if span.start < copied {
                continue;
            }
            out.extend_from_slice(&line[copied..span.start]);
            out.extend_from_slice(MASK);
            copied = span.end;
        }
        out.extend_from_slice(&line[copied..]);
        true
    }
}

/// Pushes onto `out` the value positions of the `fields` found in `root`, as [`FieldPath`] finds
/// them, with the entries `hidden` accepts taken as absent.
fn find_fields(
    fields: &[FieldPath],
    root: Value<'_>,
    hidden: impl Fn(usize) -> bool,
    out: &mut Vec<usize>,
) {
    for field in fields {
        if let Some((_, value)) = root.resolve(field.as_str(), field.segments(), &hidden) {
            out.push(value.position());
        }
    }
}

/// Finds `"name"`, optional blanks, `:`, optional blanks and a string value in undecoded bytes,
/// pushing each value's span (quotes included; an unterminated string runs to the end).
fn scan(line: &[u8], name: &str, spans: &mut Vec<std::ops::Range<usize>>) {
    let key = format!("\"{name}\"");
    let key = key.as_bytes();
    let mut from = 0;
    let finder = memchr::memmem::Finder::new(key);
    while let Some(found) = finder.find(&line[from..]) {
        let mut at = from + found + key.len();
        from = at;
        at = skip_blanks(line, at);
        if line.get(at) != Some(&b':') {
            continue;
        }
        at = skip_blanks(line, at + 1);
        if line.get(at) != Some(&b'"') {
            continue;
        }
        let start = at;
        at += 1;
        while at < line.len() && line[at] != b'"' {
            at += if line[at] == b'\\' { 2 } else { 1 };
        }
        let end = (at + 1).min(line.len());
        spans.push(start..end);
        from = end;
    }
}

fn skip_blanks(line: &[u8], mut at: usize) -> usize {
    while line.get(at).is_some_and(|b| b" \t\r\n".contains(b)) {
        at += 1;
    }
    at
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::Index;

    fn redact(names: &[&str]) -> Redact {
        Redact::try_from(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).unwrap()
    }

    fn masked(redact: &Redact, line: &str, decoded: bool) -> Option<String> {
        let mut nodes = Vec::new();
        let index = Index::parse(line.as_bytes(), &mut nodes);
        let root = if decoded { Some(index.unwrap().root()) } else { None };
        let mut out = Vec::new();
        redact.line(line.as_bytes(), root, &mut out).then(|| String::from_utf8(out).unwrap())
    }

    #[test]
    fn masks_the_value_keeping_every_other_byte() {
        let line = r#"{"class": "login_pass", "password": "se\"cret", "commandid": 1.50}"#;
        let expected = r#"{"class": "login_pass", "password": "***", "commandid": 1.50}"#;
        assert_eq!(masked(&Redact::default(), line, true).as_deref(), Some(expected));
        assert_eq!(masked(&Redact::default(), line, false).as_deref(), Some(expected));
    }

    #[test]
    fn nested_and_non_string_values_and_nothing_to_mask() {
        let r = redact(&["auth.token", "pin", "auth"]);
        let line = r#"{"auth": {"token": "t"}, "pin": 1234, "x": "password"}"#;
        assert_eq!(
            masked(&r, line, true).as_deref(),
            Some(r#"{"auth": "***", "pin": "***", "x": "password"}"#)
        );
        assert_eq!(masked(&Redact::default(), line, true), None);
        assert_eq!(masked(&Redact::default(), line, false), None);
        assert_eq!(masked(&Redact::none(), r#"{"password": "s"}"#, true), None);
    }

    #[test]
    fn every_duplicate_is_masked() {
        let line = r#"{"password": "a", "password": "b"}"#;
        for decoded in [true, false] {
            assert_eq!(
                masked(&Redact::default(), line, decoded).as_deref(),
                Some(r#"{"password": "***", "password": "***"}"#)
            );
        }
    }

    #[test]
    fn an_empty_name_is_refused() {
        let err = Redact::try_from(vec!["password".into(), String::new()]).unwrap_err();
        assert_eq!(err.to_string(), "item 2: empty field name");
    }
}
