//! JSON output with object keys sorted (recursively), the way Python's
//! `json.dumps(sort_keys=True)` wrote it in the original tools: compact with `", "` and `": "`
//! separators, or pretty with a 4-space indent. Non-ASCII text is written as UTF-8.
//!
//! Messages are parsed with `preserve_order` (so filters keep the sender's key order), hence the
//! sorting here. It borrows the parsed value and sorts references to its keys: nothing is cloned.
//!
//! It lives here, not in the spy, because plugins share it (spy, save) and a plugin crate cannot
//! depend on another plugin crate: both would export the same `ctiproxy_plugin_v1` symbol.

use std::io;

use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::ser::{Formatter, PrettyFormatter};
use serde_json::Value;

/// Writes `value` on one line: `{"a": 1, "b": [1, 2]}`.
pub fn write_compact<W: io::Write>(out: W, value: &Value) -> io::Result<()> {
    write_with(out, value, PythonCompact)
}

/// Writes `value` indented by 4 spaces per level, one key per line.
pub fn write_pretty<W: io::Write>(out: W, value: &Value) -> io::Result<()> {
    write_with(out, value, PrettyFormatter::with_indent(b"    "))
}

fn write_with<W: io::Write, F: Formatter>(out: W, value: &Value, formatter: F) -> io::Result<()> {
    let mut serializer = serde_json::Serializer::with_formatter(out, formatter);
    Sorted(value).serialize(&mut serializer).map_err(io::Error::from)
}

/// A borrowed value that serializes with the keys of every object in sorted order.
struct Sorted<'a>(&'a Value);

impl Serialize for Sorted<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Value::Object(map) => {
                let mut entries: Vec<(&String, &Value)> = map.iter().collect();
                // Byte order of UTF-8 is code point order, which is what Python sorts by.
                entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
                let mut out = serializer.serialize_map(Some(entries.len()))?;
                for (key, value) in entries {
                    out.serialize_entry(key, &Sorted(value))?;
                }
                out.end()
            }
            Value::Array(items) => serializer.collect_seq(items.iter().map(Sorted)),
            scalar => scalar.serialize(serializer),
        }
    }
}

/// serde_json's compact output with Python's default separators.
struct PythonCompact;

impl Formatter for PythonCompact {
    fn begin_array_value<W: ?Sized + io::Write>(
        &mut self,
        out: &mut W,
        first: bool,
    ) -> io::Result<()> {
        separate(out, first)
    }

    fn begin_object_key<W: ?Sized + io::Write>(
        &mut self,
        out: &mut W,
        first: bool,
    ) -> io::Result<()> {
        separate(out, first)
    }

    fn begin_object_value<W: ?Sized + io::Write>(&mut self, out: &mut W) -> io::Result<()> {
        out.write_all(b": ")
    }
}

fn separate<W: ?Sized + io::Write>(out: &mut W, first: bool) -> io::Result<()> {
    if first {
        Ok(())
    } else {
        out.write_all(b", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compact(text: &str) -> String {
        let mut out = Vec::new();
        write_compact(&mut out, &serde_json::from_str(text).unwrap()).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn compact_sorts_keys_recursively_with_python_separators() {
        assert_eq!(
            compact(r#"{"b":[1,{"z":1,"y":2}],"a":"é","c":{}}"#),
            r#"{"a": "é", "b": [1, {"y": 2, "z": 1}], "c": {}}"#
        );
    }

    #[test]
    fn pretty_indents_by_four_spaces() {
        let mut out = Vec::new();
        write_pretty(&mut out, &serde_json::json!({"b": [1], "a": true})).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\n    \"a\": true,\n    \"b\": [\n        1\n    ]\n}"
        );
    }
}
