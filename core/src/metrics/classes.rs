//! Messages by class and direction, with a bounded set of classes: a peer sending ever-new class
//! names must not grow the exposition (or Prometheus's series) without end.
//!
//! The class is read from the JSON tape the pipeline thread builds for the plugins anyway, so
//! counting parses nothing. Owned by that thread, which alone counts, so the table of known
//! classes needs no lock; each known class maps straight to its two counters, and only the first message of a
//! class touches the shared family. CTI traffic comes in runs of one class (a burst of status
//! updates), so the last class counted is compared first, which spares most messages a hash.

use std::borrow::Cow;
use std::collections::HashMap;

use ctiproxy_plugin_api::index::{Index, Kind, Node};
use ctiproxy_plugin_api::Direction;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;

use super::labels::{index, ClassLabels, DirectionLabel};

/// Distinct classes counted by name; the others are counted as `other`.
pub const MAX_CLASSES: usize = 64;
/// Longest class name counted by name.
pub const MAX_CLASS_LEN: usize = 64;
/// The label of classes beyond [`MAX_CLASSES`], or not fit for a label.
pub const OTHER: &str = "other";
/// The label of messages without a class (not a JSON object with a string `class`, or not
/// indexed: oversize lines and raw reads).
pub const NONE: &str = "none";

type Pair = [Counter; 2];

/// Counts messages by class.
#[derive(Debug)]
pub struct ClassTable {
    family: Family<ClassLabels, Counter>,
    /// Each known class, and its counters.
    known: Vec<(Box<[u8]>, Pair)>,
    /// Where each known class is in `known`.
    index: HashMap<Box<[u8]>, usize>,
    /// The entry of `known` counted last.
    last: usize,
    other: Pair,
    none: Pair,
}

fn pair(family: &Family<ClassLabels, Counter>, class: &str) -> Pair {
    DirectionLabel::BOTH.map(|direction| {
        let labels = ClassLabels { class: class.to_owned(), direction: DirectionLabel(direction) };
        family.get_or_create_owned(&labels)
    })
}

/// A class name as a label: short, and plain (letters, digits, `_`, `-`, `.`, `:`), so a label
/// never carries a peer's escapes or control characters.
fn label(class: &[u8]) -> Option<&str> {
    let plain = |b: &u8| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b':');
    let fits = !class.is_empty() && class.len() <= MAX_CLASS_LEN && class.iter().all(plain);
    fits.then(|| std::str::from_utf8(class).ok()).flatten()
}

/// The top-level `class` string of an indexed line.
pub fn class_of<'a>(line: &'a [u8], nodes: &'a [Node]) -> Option<Cow<'a, str>> {
    if nodes.is_empty() {
        return None;
    }
    let root = Index::new(line, nodes).root();
    if root.kind() != Kind::Object {
        return None;
    }
    // The first `class` key, not the last as `get` would find: CTI messages give it first, so
    // the walk stops there instead of visiting every key of a large reply. A message repeating
    // `class` is malformed anyway.
    let (_, class) = root.entries().find(|(key, _)| key.text_equals("class"))?;
    class.as_str()
}

impl ClassTable {
    /// A table counting into `family`.
    pub fn new(family: Family<ClassLabels, Counter>) -> ClassTable {
        let other = pair(&family, OTHER);
        let none = pair(&family, NONE);
        ClassTable { family, known: Vec::new(), index: HashMap::new(), last: 0, other, none }
    }

    /// Counts one message: `line`, and the tape the pipeline indexed it into (empty when it is
    /// not JSON or not indexed).
    pub fn count(&mut self, direction: Direction, line: &[u8], nodes: &[Node]) {
        let at = index(direction);
        let Some(class) = class_of(line, nodes) else {
            self.none[at].inc();
            return;
        };
        let class = class.as_bytes();
        let found = match self.known.get(self.last) {
            Some((last, _)) if **last == *class => Some(self.last),
            _ => self.index.get(class).copied().or_else(|| self.admit(class)),
        };
        match found {
            Some(entry) => {
                self.last = entry;
                self.known[entry].1[at].inc();
            }
            None => {
                self.other[at].inc();
            }
        }
    }

    /// Gives a class seen for the first time its own counters, while there is room and its name
    /// makes a label; `None`: it counts as `other`.
    fn admit(&mut self, class: &[u8]) -> Option<usize> {
        let name = label(class).filter(|_| self.known.len() < MAX_CLASSES)?;
        self.known.push((class.into(), pair(&self.family, name)));
        self.index.insert(class.into(), self.known.len() - 1);
        Some(self.known.len() - 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ctiproxy_plugin_api::instance::index_line;

    fn value(family: &Family<ClassLabels, Counter>, class: &str, direction: Direction) -> u64 {
        let labels = ClassLabels { class: class.into(), direction: DirectionLabel(direction) };
        family.get(&labels).map_or(0, |c| c.get())
    }

    /// Counts `line` as the pipeline does: indexed first.
    fn count(table: &mut ClassTable, direction: Direction, line: &[u8]) {
        let mut nodes = Vec::new();
        index_line(line, 0, &mut nodes);
        table.count(direction, line, &nodes);
    }

    fn class(line: &str) -> Option<String> {
        let mut nodes = Vec::new();
        index_line(line.as_bytes(), 0, &mut nodes);
        class_of(line.as_bytes(), &nodes).map(Cow::into_owned)
    }

    #[test]
    fn the_class_is_the_top_level_string_class() {
        assert_eq!(
            class(r#"{"class":"login_id","userlogin":"alice"}"#).as_deref(),
            Some("login_id")
        );
        let nested = r#"{"data":{"class":"inner"},"s":"a\"}","class":"outer"}"#;
        assert_eq!(class(nested).as_deref(), Some("outer"));
        assert_eq!(class(r#"{"class":"esc\u0061ped"}"#).as_deref(), Some("escaped"));
        for line in [
            "",
            "hello",
            "[]",
            "{}",
            r#"{"class":3}"#,
            r#"{"data":{"class":"inner"}}"#,
            r#"{"class":"x""#,
        ] {
            assert_eq!(class(line), None, "{line}");
        }
    }

    #[test]
    fn classes_beyond_the_cap_and_unfit_names_count_as_other() {
        let family = Family::<ClassLabels, Counter>::default();
        let mut table = ClassTable::new(family.clone());
        let c2s = Direction::ClientToServer;
        for i in 0..MAX_CLASSES + 10 {
            count(&mut table, c2s, format!(r#"{{"class":"c{i}"}}"#).as_bytes());
        }
        count(&mut table, Direction::ServerToClient, br#"{"class":"c0"}"#);
        count(&mut table, c2s, br#"{"class":"c0"}"#);
        count(&mut table, c2s, br#"{"class":"bad\u001b[31m"}"#);
        count(&mut table, c2s, "{\"class\":\"caf\u{e9}\"}".as_bytes());
        count(&mut table, c2s, b"not json");
        assert_eq!(value(&family, "c0", c2s), 2);
        assert_eq!(value(&family, "c0", Direction::ServerToClient), 1);
        assert_eq!(value(&family, &format!("c{}", MAX_CLASSES - 1), c2s), 1);
        assert_eq!(value(&family, OTHER, c2s), 12);
        assert_eq!(value(&family, NONE, c2s), 1);
        let beyond =
            ClassLabels { class: format!("c{MAX_CLASSES}"), direction: DirectionLabel(c2s) };
        assert!(family.get(&beyond).is_none(), "no series beyond the cap");
    }
}
