//! The view: borrowed handles on a line and its tape that read values without building them.
//!
//! Nothing here allocates except decoding a string that contains escapes. Reads follow
//! serde_json's `Value` with `preserve_order`, which is what `Message::json()` gives: an object's
//! last duplicate key wins, dotted field names resolve as [`FieldPath`] does, and numbers convert
//! as serde_json converts them. Two deliberate differences, both about number text: output and
//! [`Value::text_equals`] use a number as written, where serde_json would reprint it (`1.50`,
//! `1e2` and `-0` are not `1.5`, `100.0` and `-0.0` here).

use std::borrow::Cow;

use super::node::{Kind, Node};
use super::number::{self, Parsed};
use super::parse::{parse_into, ParseError};
use super::string;
use crate::field_path::FieldPath;

/// One line and its tape.
#[derive(Clone, Copy, Debug)]
pub struct Index<'a> {
    line: &'a [u8],
    nodes: &'a [Node],
}

impl<'a> Index<'a> {
    /// Pairs a line with the tape [`parse_into`] built for it. A tape that does not describe the
    /// line makes reads return wrong values or panic, never undefined behaviour.
    pub fn new(line: &'a [u8], nodes: &'a [Node]) -> Self {
        Index { line, nodes }
    }

    /// Parses `line` into `nodes` (reused) and returns the index over both.
    pub fn parse(line: &'a [u8], nodes: &'a mut Vec<Node>) -> Result<Self, ParseError> {
        parse_into(line, nodes)?;
        Ok(Index { line, nodes })
    }

    /// The line.
    pub fn line(&self) -> &'a [u8] {
        self.line
    }

    /// The tape.
    pub fn nodes(&self) -> &'a [Node] {
        self.nodes
    }

    /// The whole JSON value of the line.
    pub fn root(&self) -> Value<'a> {
        Value { index: *self, at: 0 }
    }
}

/// A value (or an object key) in an [`Index`]: a position on the tape.
#[derive(Clone, Copy, Debug)]
pub struct Value<'a> {
    index: Index<'a>,
    at: usize,
}

impl<'a> Value<'a> {
    /// Its node on the tape.
    pub fn node(&self) -> &'a Node {
        &self.index.nodes[self.at]
    }

    /// Its position on the tape: unique in the index, so usable as an identity.
    pub fn position(&self) -> usize {
        self.at
    }

    /// What it is.
    pub fn kind(&self) -> Kind {
        self.node().kind()
    }

    /// Its exact text in the line: quotes and escapes included for strings and keys,
    /// whitespace included inside containers.
    pub fn raw(&self) -> &'a [u8] {
        &self.index.line[self.node().span()]
    }

    /// Children of a container as written (an object's duplicate keys count); 0 for scalars.
    pub fn len(&self) -> usize {
        self.node().count as usize
    }

    /// True when it has no children (always for scalars).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The text of a string or key, unescaped: borrowed from the line when it has no escapes.
    pub fn as_str(&self) -> Option<Cow<'a, str>> {
        self.is_text().then(|| string::text(self.raw(), self.node().is_escaped()))
    }

    /// `true` or `false`.
    pub fn as_bool(&self) -> Option<bool> {
        match self.kind() {
            Kind::True => Some(true),
            Kind::False => Some(false),
            _ => None,
        }
    }

    /// `null`.
    pub fn is_null(&self) -> bool {
        self.kind() == Kind::Null
    }

    /// An integer that fits, as serde_json's `as_i64` (so `-0` and `1.0`, floats there, give
    /// `None`).
    pub fn as_i64(&self) -> Option<i64> {
        match self.number()? {
            Parsed::U64(n) => i64::try_from(n).ok(),
            Parsed::I64(n) => Some(n),
            Parsed::F64(_) => None,
        }
    }

    /// A non-negative integer that fits, as serde_json's `as_u64`.
    pub fn as_u64(&self) -> Option<u64> {
        match self.number()? {
            Parsed::U64(n) => Some(n),
            _ => None,
        }
    }

    /// Any number as a double, bit for bit the one serde_json's `as_f64` returns.
    pub fn as_f64(&self) -> Option<f64> {
        Some(match self.number()? {
            Parsed::U64(n) => n as f64,
            Parsed::I64(n) => n as f64,
            Parsed::F64(f) => f,
        })
    }

    /// An object's value for `key`; the last one when the key is repeated.
    pub fn get(&self, key: &str) -> Option<Value<'a>> {
        self.entry(key).map(|(_, value)| value)
    }

    /// An object's last entry for `key`: the key (whose position identifies the entry) and the
    /// value.
    pub fn entry(&self, key: &str) -> Option<(Value<'a>, Value<'a>)> {
        let [found] = self.key_positions([key]);
        found.map(|at| (self.at(at), self.at(at + 1)))
    }

    /// An object's values for several keys in one pass over its entries: what `get` returns
    /// for each, for a reader that needs a few fields of every message (a class and an id).
    pub fn get_many<const N: usize>(&self, keys: [&str; N]) -> [Option<Value<'a>>; N] {
        self.key_positions(keys).map(|found| found.map(|at| self.at(at + 1)))
    }

    /// Where each key's last entry is, in one tight loop over the tape: every message pays a
    /// few of these look-ups (class, the filters' fields, redaction).
    fn key_positions<const N: usize>(&self, keys: [&str; N]) -> [Option<usize>; N] {
        let mut found = [None; N];
        if self.kind() != Kind::Object {
            return found;
        }
        let nodes = self.index.nodes;
        let line = self.index.line;
        let end = (self.node().next as usize).min(nodes.len());
        let mut at = self.at + 1;
        while at + 1 < end {
            let node = &nodes[at];
            let length = node.end.wrapping_sub(node.start) as usize;
            let first = line.get(node.start as usize + 1);
            for (key, slot) in keys.iter().zip(&mut found) {
                // A key without escapes is this long with its quotes and starts with the same
                // byte: cheap tests before comparing the bytes (most keys fail one of them).
                let plausible = node.is_escaped()
                    || (length == key.len() + 2
                        && (key.is_empty() || first == key.as_bytes().first()));
                if plausible && self.at(at).key_equals(key) {
                    *slot = Some(at);
                }
            }
            // A malformed foreign tape must not loop forever: always move forward.
            at = (nodes[at + 1].next as usize).max(at + 2);
        }
        found
    }

    /// A field by name, as [`FieldPath`] reads it: `status.new` walks nested objects, but a
    /// key literally named `status.new` wins.
    pub fn path(&self, name: &str) -> Option<Value<'a>> {
        self.resolve(name, name.split('.'), |_| false).map(|(_, value)| value)
    }

    /// A field parsed at configuration time: the same as [`Value::path`] with its name.
    pub fn field(&self, field: &FieldPath) -> Option<Value<'a>> {
        self.resolve(field.as_str(), field.segments(), |_| false).map(|(_, value)| value)
    }

    /// The rule of [`FieldPath`], with entries whose key position `hidden` rejects taken as
    /// absent (the writer's omitted fields).
    pub(crate) fn resolve<'s>(
        &self,
        literal: &str,
        mut segments: impl Iterator<Item = &'s str>,
        hidden: impl Fn(usize) -> bool,
    ) -> Option<(Value<'a>, Value<'a>)> {
        let visible = |object: &Value<'a>, key: &str| {
            object.entry(key).filter(|(k, _)| !hidden(k.position()))
        };
        if self.kind() != Kind::Object {
            return None;
        }
        if let Some(found) = visible(self, literal) {
            return Some(found);
        }
        let first = segments.next()?;
        if first.len() == literal.len() {
            // A name without dots: its only segment is the literal name, just looked up.
            return None;
        }
        let mut current = visible(self, first)?;
        for segment in segments {
            if current.1.kind() != Kind::Object {
                return None;
            }
            current = visible(&current.1, segment)?;
        }
        Some(current)
    }

    /// An object's entries, in document order and as written: a repeated key appears each
    /// time (use [`Value::get`] for the value that counts). Empty for anything else.
    pub fn entries(&self) -> Entries<'a> {
        Entries(self.children(Kind::Object))
    }

    /// An array's items in order. Empty for anything else.
    pub fn items(&self) -> Items<'a> {
        Items(self.children(Kind::Array))
    }

    /// Does its text equal `expected`, as the `match` setting compares ([`crate::matcher`])?
    /// A string (or key) by its unescaped text, `true`/`false`/`null` by name, a number by its
    /// text as written: `3` and `"3"` both equal `3`, but `3.0` equals only `3.0` (serde_json
    /// agrees) and `1e2` only `1e2` (serde_json would say `100.0`). Containers never match.
    pub fn text_equals(&self, expected: &str) -> bool {
        match self.kind() {
            Kind::String | Kind::Key => self.key_equals(expected),
            Kind::Number | Kind::True | Kind::False | Kind::Null => {
                self.raw() == expected.as_bytes()
            }
            Kind::Object | Kind::Array => false,
        }
    }

    /// Compares the text of a string or key without decoding it when it has no escapes.
    fn key_equals(&self, expected: &str) -> bool {
        let raw = self.raw();
        if self.node().is_escaped() {
            string::text(raw, true) == expected
        } else {
            string::content(raw) == expected.as_bytes()
        }
    }

    /// Another position in the same index.
    pub(crate) fn at(&self, position: usize) -> Value<'a> {
        Value { index: self.index, at: position }
    }

    pub(crate) fn line(&self) -> &'a [u8] {
        self.index.line
    }

    fn is_text(&self) -> bool {
        matches!(self.kind(), Kind::String | Kind::Key)
    }

    fn number(&self) -> Option<Parsed> {
        (self.kind() == Kind::Number).then(|| number::read(self.raw())).flatten()
    }

    fn children(&self, kind: Kind) -> Children<'a> {
        let (at, end) =
            if self.kind() == kind { (self.at + 1, self.node().next as usize) } else { (0, 0) };
        Children { index: self.index, at, end }
    }
}

/// Walks the nodes of a container's direct children, skipping their subtrees.
#[derive(Clone, Debug)]
struct Children<'a> {
    index: Index<'a>,
    at: usize,
    end: usize,
}

impl<'a> Iterator for Children<'a> {
    type Item = Value<'a>;

    fn next(&mut self) -> Option<Value<'a>> {
        if self.at >= self.end {
            return None;
        }
        let value = Value { index: self.index, at: self.at };
        // A malformed foreign tape must not loop forever: always move forward.
        self.at = (value.node().next as usize).max(self.at + 1);
        Some(value)
    }
}

/// An object's `(key, value)` pairs; see [`Value::entries`].
#[derive(Clone, Debug)]
pub struct Entries<'a>(Children<'a>);

impl<'a> Iterator for Entries<'a> {
    type Item = (Value<'a>, Value<'a>);

    fn next(&mut self) -> Option<Self::Item> {
        Some((self.0.next()?, self.0.next()?))
    }
}

/// An array's items; see [`Value::items`].
#[derive(Clone, Debug)]
pub struct Items<'a>(Children<'a>);

impl<'a> Iterator for Items<'a> {
    type Item = Value<'a>;

    fn next(&mut self) -> Option<Value<'a>> {
        self.0.next()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINE: &[u8] = br#"{"class": "getlist", "tid": 3, "status": {"new": "2", "n\u00e9": -0},
        "a.b": 1, "a": {"b": 2}, "dup": 1, "dup": [true, null, 1.50], "e\"": "x\ty"}"#;

    fn with_root(test: impl FnOnce(Value<'_>)) {
        let mut nodes = Vec::new();
        test(Index::parse(LINE, &mut nodes).unwrap().root());
    }

    #[test]
    fn reads_keys_paths_and_the_last_duplicate() {
        with_root(|root| {
            assert_eq!(root.get("class").unwrap().as_str().unwrap(), "getlist");
            assert_eq!(root.path("status.new").unwrap().raw(), br#""2""#);
            assert_eq!(root.path("status.né").unwrap().raw(), b"-0");
            assert_eq!(root.path("a.b").unwrap().raw(), b"1");
            assert_eq!(root.get("dup").unwrap().kind(), Kind::Array);
            assert_eq!(root.get("e\"").unwrap().as_str().unwrap(), "x\ty");
            assert!(root.path("class.x").is_none() && root.path("status.old").is_none());
            let field = FieldPath::parse("status.new", "test").unwrap();
            assert_eq!(root.field(&field).unwrap().raw(), br#""2""#);
        });
    }

    #[test]
    fn looks_up_several_keys_in_one_pass_as_get_does() {
        let line = br#"{"": 0, "class": "a", "clasS": 1, "cl\u0061ss": "b", "dup": 1, "dup": 2}"#;
        let mut nodes = Vec::new();
        let root = Index::parse(line, &mut nodes).unwrap().root();
        let keys = ["class", "", "dup", "missing", "clasS", "c"];
        let many = root.get_many(keys);
        for (key, found) in keys.iter().zip(many) {
            assert_eq!(found.map(|v| v.raw()), root.get(key).map(|v| v.raw()), "{key:?}");
        }
        assert_eq!(many[0].unwrap().raw(), br#""b""#, "an escaped duplicate is the last one");
        assert_eq!(many[2].unwrap().raw(), b"2");
        assert!(many[3].is_none());
        with_root(|root| {
            let [class, dup] = root.get("tid").unwrap().get_many(["class", "dup"]);
            assert!(class.is_none() && dup.is_none(), "a number has no keys");
        });
    }

    #[test]
    fn iterates_in_document_order_with_duplicates() {
        with_root(|root| {
            let keys: Vec<_> = root.entries().map(|(k, _)| k.as_str().unwrap()).collect();
            assert_eq!(keys, ["class", "tid", "status", "a.b", "a", "dup", "dup", "e\""]);
            let items: Vec<_> = root.get("dup").unwrap().items().map(|v| v.kind()).collect();
            assert_eq!(items, [Kind::True, Kind::Null, Kind::Number]);
            assert_eq!(root.len(), 8);
            assert_eq!(root.get("tid").unwrap().entries().count(), 0);
        });
    }

    #[test]
    fn compares_text_like_the_matcher() {
        with_root(|root| {
            assert!(root.get("tid").unwrap().text_equals("3"));
            assert!(root.path("status.new").unwrap().text_equals("2"));
            assert!(root.get("dup").unwrap().items().nth(1).unwrap().text_equals("null"));
            assert!(root.get("dup").unwrap().items().nth(2).unwrap().text_equals("1.50"));
            assert!(!root.get("dup").unwrap().text_equals("[true, null, 1.50]"));
            assert!(!root.get("tid").unwrap().text_equals("03"));
        });
    }

    #[test]
    fn converts_numbers_like_serde_json() {
        with_root(|root| {
            let tid = root.get("tid").unwrap();
            assert_eq!((tid.as_i64(), tid.as_u64(), tid.as_f64()), (Some(3), Some(3), Some(3.0)));
            let zero = root.path("status.né").unwrap();
            assert_eq!(
                (zero.as_i64(), zero.as_f64().map(f64::to_bits)),
                (None, Some((-0.0f64).to_bits()))
            );
            assert_eq!(root.get("class").unwrap().as_i64(), None);
        });
    }
}
