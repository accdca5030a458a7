//! Writers: JSON text straight from an index into a reused buffer, never through a serde
//! `Value`.
//!
//! Each writes what today's serde-based code writes for the same message, byte for byte, except
//! numbers, which keep their text as written (`1550844512.3439999`, `1e-07`, `-0`, `1.0` and
//! integers beyond 64 bits stay as they came; serde_json reprints them from a double):
//! - [`Writer::sorted_compact`] and [`Writer::sorted_pretty`]: [`crate::sorted_json`]'s output,
//!   keys sorted by their unescaped bytes;
//! - [`Writer::compact`] and [`Writer::compact_without`]: `serde_json::to_vec` of the message
//!   (keys in their order, after [`FieldPath::remove`] for the omitted fields).
//!
//! A repeated key is written once, with its last value, where serde_json's map puts it: in
//! sorted order, or at the key's first position. Strings written without escapes are copied;
//! the others are decoded and re-escaped the way serde_json escapes.

use super::node::Kind;
use super::string;
use super::view::Value;
use crate::field_path::FieldPath;
use crate::redact::{self, Redact};

/// Objects of at most this many entries are checked for repeated keys pair by pair (at most
/// 120 comparisons, most of them of two integers) rather than by sorting.
const SMALL_OBJECT: usize = 16;

/// Whether two entries of `entries` have the same key.
fn has_repeats(entries: &[Entry], same: impl Fn(&Entry, &Entry) -> bool) -> bool {
    entries.iter().enumerate().any(|(i, a)| entries[..i].iter().any(|b| same(a, b)))
}

/// Scratch space reused across messages: once warm, writing allocates nothing.
#[derive(Debug, Default)]
pub struct Writer {
    /// The entries of the objects being written, outermost first.
    entries: Vec<Entry>,
    /// Decoded text of escaped keys, for sorting.
    keys: Vec<u8>,
    /// A decoded string on its way to being re-escaped.
    text: Vec<u8>,
    /// Key positions of the entries left out.
    omitted: Vec<usize>,
    /// Value positions written as [`redact::MASK`].
    masked: Vec<usize>,
    /// The top-level names of the last [`Redact`] written with, whose values are written as
    /// [`redact::MASK`] at the root while `mask_top_level`. A copy rather than an argument: one
    /// more argument through the recursive writers cost the spy and the save plugin about 180
    /// instructions a message (callgrind), the copy's comparison a few.
    top_level: Vec<KeyName>,
    mask_top_level: bool,
}

/// An object entry after collapsing duplicates. 32 bytes, as sorting moves entries around:
/// positions and offsets fit in `u32` (the parser refuses lines of 4 GiB or more).
#[derive(Debug, Clone, Copy)]
struct Entry {
    /// Its first 8 bytes, big-endian, zero-padded: orders most keys without reading them.
    prefix: u64,
    /// The last occurrence's key (written) and value.
    key: u32,
    value: u32,
    /// The first occurrence's key position: where preserve_order keeps the entry.
    first: u32,
    /// The unescaped key: `start..end` in the line, or in `Writer::keys` when `decoded`.
    start: u32,
    end: u32,
    decoded: bool,
}

const _: () = assert!(std::mem::size_of::<Entry>() == 32);

/// An entry's unescaped key: in the line, or decoded into the writer's `keys`.
#[inline(always)]
fn text<'t>(keys: &'t [u8], line: &'t [u8], entry: &Entry) -> &'t [u8] {
    let (start, end) = (entry.start as usize, entry.end as usize);
    if entry.decoded {
        &keys[start..end]
    } else {
        &line[start..end]
    }
}

/// Whether two entries have the same key.
#[inline(always)]
fn same(keys: &[u8], line: &[u8], a: &Entry, b: &Entry) -> bool {
    a.prefix == b.prefix && text(keys, line, a) == text(keys, line, b)
}

/// The first 8 bytes of `text` as a big-endian number, zero-padded. A smaller prefix means a
/// smaller text (a text that ends early pads with zeros, below any byte that goes on); equal
/// prefixes say nothing, and the texts are compared.
fn prefix(text: &[u8]) -> u64 {
    let mut bytes = [0u8; 8];
    let n = text.len().min(8);
    bytes[..n].copy_from_slice(&text[..n]);
    u64::from_be_bytes(bytes)
}

/// [`prefix`] of `line[start..end]`, read as one 8-byte word when the line goes on that far
/// (it usually does: a key is followed by at least its closing quote, a colon and a value),
/// the bytes past `end` masked off.
#[inline(always)]
fn prefix_in_line(line: &[u8], start: usize, end: usize) -> u64 {
    let Some(word) = line.get(start..start + 8) else {
        return prefix(&line[start..end]);
    };
    let word = u64::from_be_bytes(word.try_into().expect("8 bytes"));
    let len = (end - start).min(8);
    // Keeps the first `len` bytes: all for 8, none for 0.
    let keep = u64::MAX.checked_shr(8 * len as u32).map_or(u64::MAX, |dropped| !dropped);
    word & keep
}

/// A key to recognise among an object's entries: its text and its [`prefix`], so that most
/// entries are told apart by one integer comparison.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct KeyName {
    prefix: u64,
    text: Box<[u8]>,
}

impl KeyName {
    pub(crate) fn new(text: &str) -> Self {
        KeyName { prefix: prefix(text.as_bytes()), text: text.as_bytes().into() }
    }

    /// Whether `entry`'s key is this name.
    #[inline(always)]
    fn matches(&self, keys: &[u8], line: &[u8], entry: &Entry) -> bool {
        self.prefix == entry.prefix && *self.text == *text(keys, line, entry)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    /// Python's `json.dumps` defaults: `", "` and `": "`.
    Python,
    /// serde_json's `PrettyFormatter` with a 4-space indent.
    Pretty,
    /// serde_json's compact output: `,` and `:`.
    Serde,
}

#[derive(Debug, Clone, Copy)]
struct Layout {
    format: Format,
    sorted: bool,
}

impl Format {
    #[inline(always)]
    fn separate(self, first: bool, depth: usize, out: &mut Vec<u8>) {
        match (self, first) {
            (Format::Pretty, true) => newline_indent(depth, out),
            (Format::Pretty, false) => match COMMA_NEWLINE_INDENT.get(..2 + 4 * depth) {
                Some(run) => out.extend_from_slice(run),
                None => {
                    out.push(b',');
                    deep_newline_indent(depth, out);
                }
            },
            (_, true) => {}
            (Format::Python, false) => out.extend_from_slice(b", "),
            (Format::Serde, false) => out.push(b','),
        }
    }

    #[inline(always)]
    fn close(self, bracket: u8, depth: usize, out: &mut Vec<u8>) {
        if self == Format::Pretty {
            newline_indent(depth, out);
        }
        out.push(bracket);
    }

    #[inline(always)]
    fn key_separator(self) -> &'static [u8] {
        if self == Format::Serde {
            b":"
        } else {
            b": "
        }
    }
}

/// A comma, a newline and 16 levels of indentation: most lines start with one copy from here,
/// with the comma that ends the entry before them or without it ([`NEWLINE_INDENT`]).
const COMMA_NEWLINE_INDENT: &[u8; 66] =
    b",\n                                                                ";
const NEWLINE_INDENT: &[u8] = COMMA_NEWLINE_INDENT.split_first().unwrap().1;

/// A newline and `depth` levels of 4 spaces.
#[inline(always)]
fn newline_indent(depth: usize, out: &mut Vec<u8>) {
    match NEWLINE_INDENT.get(..1 + 4 * depth) {
        Some(run) => out.extend_from_slice(run),
        None => deep_newline_indent(depth, out),
    }
}

#[cold]
fn deep_newline_indent(depth: usize, out: &mut Vec<u8>) {
    out.push(b'\n');
    for _ in 0..depth {
        out.extend_from_slice(b"    ");
    }
}

impl Writer {
    /// A writer with empty scratch space.
    pub fn new() -> Self {
        Writer::default()
    }

    /// Appends `value` on one line with sorted keys: `{"a": 1, "b": [1, 2]}`.
    pub fn sorted_compact(&mut self, value: Value<'_>, out: &mut Vec<u8>) {
        self.write(value, Layout { format: Format::Python, sorted: true }, out);
    }

    /// Appends `value` with sorted keys, indented by 4 spaces, one key per line.
    pub fn sorted_pretty(&mut self, value: Value<'_>, out: &mut Vec<u8>) {
        self.write(value, Layout { format: Format::Pretty, sorted: true }, out);
    }

    /// Appends `value` as [`Writer::sorted_pretty`] (`pretty`) or [`Writer::sorted_compact`]
    /// writes it, with the values of the `redact` fields written as `"***"`.
    pub fn sorted_redacted(
        &mut self,
        value: Value<'_>,
        pretty: bool,
        redact: &Redact,
        out: &mut Vec<u8>,
    ) {
        self.sorted_without(value, &[], pretty, redact, out);
    }

    /// [`Writer::sorted_redacted`] without the `omit` fields, left out as
    /// [`Writer::compact_without`] leaves them out: what a strip plugin followed by this
    /// writer shows, without writing and indexing the stripped line in between. Returns how
    /// many of the fields were there.
    pub fn sorted_without(
        &mut self,
        value: Value<'_>,
        omit: &[FieldPath],
        pretty: bool,
        redact: &Redact,
        out: &mut Vec<u8>,
    ) -> usize {
        let count = if omit.is_empty() { 0 } else { self.find_omitted(value, omit) };
        let omitted = &self.omitted;
        redact.find_paths_hiding(value, |k| omitted.contains(&k), &mut self.masked);
        let format = if pretty { Format::Pretty } else { Format::Python };
        // The top-level names are recognised among the root's entries as they are collected:
        // looking each one up first walked the top level once more per name, with a
        // hard-to-predict comparison per key (the spy and the save plugin ran 1-7% faster
        // without it).
        if self.top_level != redact.top_level() {
            self.top_level = redact.top_level().to_vec();
        }
        self.mask_top_level = !self.top_level.is_empty();
        self.write(value, Layout { format, sorted: true }, out);
        self.mask_top_level = false;
        self.masked.clear();
        self.omitted.clear();
        count
    }

    /// Appends `value` compact, keys in their order: `{"b":[1,2],"a":1}`.
    pub fn compact(&mut self, value: Value<'_>, out: &mut Vec<u8>) {
        self.compact_without(value, &[], out);
    }

    /// Appends `value` like [`Writer::compact`] without the `omit` fields, removed in turn as
    /// [`FieldPath::remove`] removes them. Returns how many of them were there.
    pub fn compact_without(
        &mut self,
        value: Value<'_>,
        omit: &[FieldPath],
        out: &mut Vec<u8>,
    ) -> usize {
        self.write_without(value, omit, false, out)
    }

    /// [`Writer::compact_without`] when at least one of the `omit` fields is there; otherwise
    /// writes nothing and returns 0. Strip's case: checking for the fields first and then
    /// writing looked each field up twice.
    pub fn compact_without_any(
        &mut self,
        value: Value<'_>,
        omit: &[FieldPath],
        out: &mut Vec<u8>,
    ) -> usize {
        self.write_without(value, omit, true, out)
    }

    /// Both of the above: writes unless `only_if_any` and none of the fields is there.
    fn write_without(
        &mut self,
        value: Value<'_>,
        omit: &[FieldPath],
        only_if_any: bool,
        out: &mut Vec<u8>,
    ) -> usize {
        let count = self.find_omitted(value, omit);
        if count > 0 || !only_if_any {
            out.reserve(value.raw().len());
            self.write(value, Layout { format: Format::Serde, sorted: false }, out);
        }
        self.omitted.clear();
        count
    }

    /// Fills `omitted` with the key positions of the `omit` fields, removed in turn.
    fn find_omitted(&mut self, value: Value<'_>, omit: &[FieldPath]) -> usize {
        self.omitted.clear();
        for field in omit {
            let omitted = &self.omitted;
            let found = value.resolve(field.as_str(), field.segments(), |k| omitted.contains(&k));
            if let Some((key, _)) = found {
                self.omitted.push(key.position());
            }
        }
        self.omitted.len()
    }

    fn write(&mut self, value: Value<'_>, layout: Layout, out: &mut Vec<u8>) {
        self.entries.clear();
        self.keys.clear();
        self.value(value, layout, 0, out);
    }

    fn value(&mut self, value: Value<'_>, layout: Layout, depth: usize, out: &mut Vec<u8>) {
        match value.kind() {
            Kind::Object => self.object(value, layout, depth, out),
            Kind::Array => self.array(value, layout, depth, out),
            Kind::String | Kind::Key => self.string(value, out),
            Kind::Number | Kind::True | Kind::False | Kind::Null => {
                out.extend_from_slice(value.raw())
            }
        }
    }

    fn array(&mut self, array: Value<'_>, layout: Layout, depth: usize, out: &mut Vec<u8>) {
        out.push(b'[');
        if array.is_empty() {
            out.push(b']');
            return;
        }
        for (i, item) in array.items().enumerate() {
            layout.format.separate(i == 0, depth + 1, out);
            self.value(item, layout, depth + 1, out);
        }
        layout.format.close(b']', depth, out);
    }

    fn object(&mut self, object: Value<'_>, layout: Layout, depth: usize, out: &mut Vec<u8>) {
        let (base, keys_base) = (self.entries.len(), self.keys.len());
        self.collect_entries(object, layout.sorted);
        let (end, line) = (self.entries.len(), object.line());
        if depth == 0 && self.mask_top_level {
            self.mask_top_level_names(base, line);
        }
        out.push(b'{');
        let mut first = true;
        for i in base..end {
            let entry = self.entries[i];
            // Sorted, the entries of a repeated key are side by side, and the last one counts;
            // the omitted ones are skipped here too, rather than in a pass of their own.
            if layout.sorted
                && (self.entries[i + 1..end]
                    .first()
                    .is_some_and(|n| same(&self.keys, line, n, &entry))
                    || self.omitted.contains(&(entry.key as usize)))
            {
                continue;
            }
            layout.format.separate(first, depth + 1, out);
            first = false;
            let (key, value) = (object.at(entry.key as usize), object.at(entry.value as usize));
            if self.masked.contains(&(entry.value as usize)) {
                self.string(key, out);
                out.extend_from_slice(layout.format.key_separator());
                out.extend_from_slice(redact::MASK);
            } else {
                self.entry(key, value, layout, depth + 1, out);
            }
        }
        if first {
            out.push(b'}');
        } else {
            layout.format.close(b'}', depth, out);
        }
        self.entries.truncate(base);
        self.keys.truncate(keys_base);
    }

    /// Writes `key`, the key separator and `value`. When the line already has exactly that
    /// separator after the key, the key is copied with it, and a scalar written as it came
    /// (number, literal, string without escapes) right after it too: one copy for the whole
    /// entry when the sender separated it as it is written (`"key": value` from Python's
    /// `json.dumps` for the spy and the save files, `"key":value` for strip's compact output).
    #[inline(always)]
    fn entry(
        &mut self,
        key: Value<'_>,
        value: Value<'_>,
        layout: Layout,
        depth: usize,
        out: &mut Vec<u8>,
    ) {
        let separator = layout.format.key_separator();
        let (k, v) = (key.node(), value.node());
        let line = key.line();
        let (start, end) = (k.start as usize, k.end as usize + separator.len());
        // Byte by byte: a slice comparison would call memcmp.
        let separated = match layout.format {
            Format::Serde => line.get(end - 1) == Some(&b':'),
            Format::Python | Format::Pretty => {
                line.get(end - 2) == Some(&b':') && line.get(end - 1) == Some(&b' ')
            }
        };
        if k.is_escaped() || !separated {
            self.string(key, out);
            out.extend_from_slice(separator);
            self.value(value, layout, depth, out);
            return;
        }
        let as_it_came = match v.kind() {
            Kind::Number | Kind::True | Kind::False | Kind::Null => true,
            Kind::String => !v.is_escaped(),
            Kind::Object | Kind::Array | Kind::Key => false,
        };
        if as_it_came && v.start as usize == end {
            out.extend_from_slice(&line[start..v.end as usize]);
        } else {
            out.extend_from_slice(&line[start..end]);
            self.value(value, layout, depth, out);
        }
    }

    /// Pushes the object's entries: sorted by key, repeated keys side by side (the caller
    /// skips all but the last, and the omitted ones); or in preserve_order's order, duplicates
    /// collapsed and omitted ones left out. Decoded keys stay in `keys` for the caller.
    fn collect_entries(&mut self, object: Value<'_>, sorted: bool) {
        let base = self.entries.len();
        let line = object.line();
        for (key, value) in object.entries() {
            let (start, end, decoded) = self.key_text(key);
            let prefix = if decoded {
                prefix(&self.keys[start..end])
            } else {
                prefix_in_line(line, start, end)
            };
            let (key, value) = (key.position() as u32, value.position() as u32);
            let (start, end) = (start as u32, end as u32);
            self.entries.push(Entry { prefix, key, value, first: key, start, end, decoded });
        }
        let Writer { entries, keys, omitted, .. } = self;
        let text = |e: &Entry| text(keys, line, e);
        let entries = &mut entries[base..];
        let same = |a: &Entry, b: &Entry| same(keys, line, a, b);
        // In the sender's order, a small object without repeated keys needs no sorting at all;
        // repeated keys are rare, and looking for them pair by pair costs less than a sort.
        if !sorted && entries.len() <= SMALL_OBJECT && !has_repeats(entries, same) {
            let mut kept = 0;
            for i in 0..entries.len() {
                if !omitted.contains(&(entries[i].key as usize)) {
                    entries[kept] = entries[i];
                    kept += 1;
                }
            }
            self.entries.truncate(base + kept);
            return;
        }
        let order = |a: &Entry, b: &Entry| {
            // Ties broken by position: the order a stable sort gives, without its buffer.
            a.prefix.cmp(&b.prefix).then_with(|| text(a).cmp(text(b))).then(a.key.cmp(&b.key))
        };
        // Keys often come in order already (senders that sort, the spy's own output saved).
        if !entries.windows(2).all(|pair| order(&pair[0], &pair[1]).is_lt()) {
            // By prefix first, one integer comparison; then each run of entries sharing their
            // first 8 bytes (rare: repeated keys, long common stems) in the full order.
            entries.sort_unstable_by_key(|e| e.prefix);
            let mut start = 0;
            while start < entries.len() {
                let prefix = entries[start].prefix;
                let run = entries[start..].iter().take_while(|e| e.prefix == prefix).count();
                if run > 1 {
                    entries[start..start + run].sort_unstable_by(order);
                }
                start += run;
            }
        }
        if sorted {
            return;
        }
        let mut kept = 0;
        let mut run_start = 0;
        for i in 0..entries.len() {
            if entries.get(i + 1).is_some_and(|next| same(next, &entries[i])) {
                continue;
            }
            let winner = Entry { first: entries[run_start].key, ..entries[i] };
            run_start = i + 1;
            if !omitted.contains(&(winner.key as usize)) {
                entries[kept] = winner;
                kept += 1;
            }
        }
        entries[..kept].sort_unstable_by_key(|e| e.first);
        self.entries.truncate(base + kept);
    }

    /// Adds to `masked` the values of the entries from `base` on that a top-level name names.
    /// Each is masked if written: only the last of a repeated key is, as looking it up finds.
    /// Not inlined: it runs once a message, and [`Writer::object`] is inlined into its caller.
    #[inline(never)]
    fn mask_top_level_names(&mut self, base: usize, line: &[u8]) {
        for entry in &self.entries[base..] {
            if self.top_level.iter().any(|name| name.matches(&self.keys, line, entry)) {
                self.masked.push(entry.value as usize);
            }
        }
    }

    /// Where a key's unescaped text is: in the line, or decoded into `keys`.
    fn key_text(&mut self, key: Value<'_>) -> (usize, usize, bool) {
        let span = key.node().span();
        if !key.node().is_escaped() {
            return (span.start + 1, span.end - 1, false);
        }
        let start = self.keys.len();
        string::unescape_into(string::content(key.raw()), &mut self.keys);
        (start, self.keys.len(), true)
    }

    fn string(&mut self, value: Value<'_>, out: &mut Vec<u8>) {
        if !value.node().is_escaped() {
            out.extend_from_slice(value.raw());
            return;
        }
        self.text.clear();
        string::unescape_into(string::content(value.raw()), &mut self.text);
        string::escape_into(&self.text, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::Index;
    use crate::sorted_json;

    fn written(line: &str, write: impl FnOnce(&mut Writer, Value<'_>, &mut Vec<u8>)) -> String {
        let mut nodes = Vec::new();
        let index = Index::parse(line.as_bytes(), &mut nodes).unwrap();
        let mut out = b"kept:".to_vec();
        write(&mut Writer::new(), index.root(), &mut out);
        String::from_utf8(out).unwrap().strip_prefix("kept:").unwrap().to_owned()
    }

    fn today(line: &str) -> [String; 3] {
        let value: serde_json::Value = serde_json::from_str(line).unwrap();
        let (mut compact, mut pretty) = (Vec::new(), Vec::new());
        sorted_json::write_compact(&mut compact, &value).unwrap();
        sorted_json::write_pretty(&mut pretty, &value).unwrap();
        [compact, pretty, serde_json::to_vec(&value).unwrap()]
            .map(|v| String::from_utf8(v).unwrap())
    }

    fn ours(line: &str) -> [String; 3] {
        [
            written(line, |w, v, out| w.sorted_compact(v, out)),
            written(line, |w, v, out| w.sorted_pretty(v, out)),
            written(line, |w, v, out| w.compact(v, out)),
        ]
    }

    #[test]
    fn writes_what_serde_json_writes() {
        for line in [
            r#"{"b":[1,{"z":1,"y":2}],"a":"é","c":{},"d":[],"e":[[]],"f":{"g":{}}}"#,
            r#" { "k" : "a\"b\\c\/d\u0001\u001f\u007f\u0080\ud83d\ude00\n" , "\u0062": true } "#,
            r#"{"dup":1,"x":null,"dup":{"b":false,"a":"2","b":[3]},"\u0064up":"last"}"#,
            r#"{"é":1,"z":2,"E":3,"":4,"a\u0000":5,"a":6}"#,
            r#"{"abcdefghij":1,"abcdefghi":2,"abcdefgh":3,"abcdefgh\u0000":4,"abcdefghi":5}"#,
            r#"{"stemstemB":1,"zz":2,"stemstemA":3,"a":4,"stemstem":5,"stemstemA":6,"b":{"x":7}}"#,
            r#"{"a":1,"b":2,"c":{"d":3,"e":4},"c":5}"#,
            r#"["x", 1, {"b": 2, "a": 1}, [true, false, null]]"#,
            r#""just a string""#,
            "3",
        ] {
            assert_eq!(ours(line), today(line), "{line}");
        }
    }

    #[test]
    fn objects_on_both_sides_of_the_pairwise_repeat_check() {
        for n in [1, 2, SMALL_OBJECT, SMALL_OBJECT + 1, 40] {
            for repeat in [false, true] {
                let mut keys: Vec<String> = (0..n).rev().map(|i| format!("key{i:03}")).collect();
                if repeat {
                    keys.push(keys[n / 2].clone());
                }
                let entries: Vec<String> =
                    keys.iter().enumerate().map(|(i, k)| format!(r#""{k}":{i}"#)).collect();
                let line = format!("{{{}}}", entries.join(","));
                assert_eq!(ours(&line), today(&line), "{line}");
            }
        }
    }

    #[test]
    fn the_prefix_read_from_the_line_is_the_prefix_of_the_text() {
        let line = b"\"abcdefghijklmnop\"";
        for start in 0..line.len() {
            for end in start..=line.len() {
                let text = &line[start..end];
                assert_eq!(prefix_in_line(line, start, end), prefix(text), "{text:?}");
            }
        }
    }

    #[test]
    fn pretty_indentation_past_the_static_run() {
        for depth in [15, 16, 17, 40] {
            let line = format!("{}{}", r#"{"k": ["#.repeat(depth), "]}".repeat(depth));
            assert_eq!(ours(&line), today(&line), "{depth}");
        }
    }

    #[test]
    fn entries_copied_whole_or_written_piece_by_piece() {
        for line in [
            r#"{"b": 1, "a": "x", "c": true, "d": null, "e": 2.5, "f": "\u0041", "g": [1], "h": {}}"#,
            r#"{"b":1,"a":"x","c" : true,"d":  null,"\u0065": 1.5,"f" :"y"}"#,
            r#"{"b": 1,"a":"x", "c":{"d": "e", "f" : 2}}"#,
        ] {
            assert_eq!(ours(line), today(line), "{line}");
        }
    }

    #[test]
    fn numbers_keep_their_text() {
        for number in [
            "1550844512.3439999",
            "1e-07",
            "18446744073709551616",
            "-0",
            "1.0",
            "1",
            "1E+2",
            "-9223372036854775809",
            "0.1000",
            "123456789012345678901234567890",
        ] {
            let line = format!(r#"{{"b": [{number}], "a": {number}}}"#);
            let [compact, pretty, serde] = ours(&line);
            assert_eq!(compact, format!(r#"{{"a": {number}, "b": [{number}]}}"#));
            assert_eq!(
                pretty,
                format!("{{\n    \"a\": {number},\n    \"b\": [\n        {number}\n    ]\n}}")
            );
            assert_eq!(serde, format!(r#"{{"b":[{number}],"a":{number}}}"#));
        }
    }

    #[test]
    fn omits_fields_as_field_path_removes_them() {
        let line = r#"{"a":1,"s":{"x":1,"new":2,"y":3},"s.x":0,"b":2,"a":5,"t":{"u":{"v":1}}}"#;
        for names in [
            &["a"][..],
            &["s.new"],
            &["s.x"],
            &["s.x", "s.x"],
            &["t.u.v", "b"],
            &["nope", "a.b"],
            &["s", "s.new"],
            &["s.new", "s"],
            &["t.u"],
        ] {
            let fields: Vec<_> =
                names.iter().map(|n| FieldPath::parse(n, "fields").unwrap()).collect();
            let mut expected: serde_json::Value = serde_json::from_str(line).unwrap();
            let removed = fields.iter().filter(|f| f.remove(&mut expected)).count();
            let mut count = 0;
            let text = written(line, |w, v, out| count = w.compact_without(v, &fields, out));
            assert_eq!(text, serde_json::to_string(&expected).unwrap(), "{names:?}");
            assert_eq!(count, removed, "{names:?}");
            let any = written(line, |w, v, out| count = w.compact_without_any(v, &fields, out));
            assert_eq!(count, removed, "{names:?}");
            assert_eq!(any, if removed > 0 { text } else { String::new() }, "{names:?}");
        }
    }

    #[test]
    fn leaving_fields_out_shows_what_stripping_them_first_shows() {
        let line = r#"{"a":1,"s":{"x":1,"new":2,"y":3},"s.x":0,"b":"\u00e9","a":5,"password":"p"}"#;
        let redact = ["password", "s.x"].map(String::from).to_vec();
        let redact = Redact::try_from(redact).unwrap();
        for names in [&["a"][..], &["s.new"], &["s.x", "s.x"], &["nope"], &["s", "password"]] {
            let fields: Vec<_> =
                names.iter().map(|n| FieldPath::parse(n, "fields").unwrap()).collect();
            for pretty in [false, true] {
                let stripped = written(line, |w, v, out| {
                    w.compact_without(v, &fields, out);
                });
                let then_sorted =
                    written(&stripped, |w, v, out| w.sorted_redacted(v, pretty, &redact, out));
                let mut count = 0;
                let at_once = written(line, |w, v, out| {
                    count = w.sorted_without(v, &fields, pretty, &redact, out)
                });
                assert_eq!(at_once, then_sorted, "{names:?} pretty={pretty}");
                assert_eq!(count > 0, stripped != written(line, |w, v, out| w.compact(v, out)));
            }
        }
    }

    #[test]
    fn redacts_the_value_that_is_written() {
        let line = r#"{"password": "a", "b": {"password": 2}, "password": {"x": 1}}"#;
        let redact = Redact::try_from(vec!["password".to_owned(), "b.password".to_owned()]);
        let redact = redact.unwrap();
        let compact = written(line, |w, v, out| w.sorted_redacted(v, false, &redact, out));
        assert_eq!(compact, r#"{"b": {"password": "***"}, "password": "***"}"#);
        let pretty = written(line, |w, v, out| w.sorted_redacted(v, true, &redact, out));
        assert_eq!(
            pretty,
            "{\n    \"b\": {\n        \"password\": \"***\"\n    },\n    \"password\": \"***\"\n}"
        );
        let none = written(line, |w, v, out| w.sorted_redacted(v, false, &Redact::none(), out));
        assert_eq!(none, written(line, |w, v, out| w.sorted_compact(v, out)));
    }

    /// The top-level names, recognised while writing, mask what looking each field up first
    /// masked: the last entry of the key, found by its unescaped text, at the top level only.
    #[test]
    fn top_level_names_mask_what_looking_them_up_masks() {
        let names = ["password", "passwordX", "auth.token", "a"].map(String::from).to_vec();
        let redact = Redact::try_from(names.clone()).unwrap();
        // The last `password` left out: no entry of it is written, masked or not.
        let omit = ["password", "auth"].map(|n| FieldPath::parse(n, "omit").unwrap());
        for line in [
            r#"{"password": "s", "passwords": 1, "passwordY": 2, "passwordX": 3, "pass": 4}"#,
            r#"{"pass\u0077ord": "s", "a": 1}"#,
            r#"{"password": "a", "pass\u0077ord": "b", "z": 0}"#,
            r#"{"pass\u0077ord": "b", "password": "a"}"#,
            r#"{"password": 1, "password": 2, "passwordX": 3}"#,
            r#"{"x": {"password": "nested"}, "auth": {"token": "t", "password": 1}}"#,
            r#"[{"password": "in an array"}, "password"]"#,
            r#""password""#,
            r#"{"auth.token": 1, "auth": {"token": 2}, "a": {"a": 3}}"#,
            r#"{}"#,
        ] {
            for (pretty, omit) in [false, true].into_iter().flat_map(|p| [(p, &[][..]), (p, &omit)])
            {
                let ours = written(line, |w, v, out| {
                    w.sorted_without(v, omit, pretty, &redact, out);
                });
                let looked_up = written(line, |w, v, out| {
                    w.find_omitted(v, omit);
                    for name in &names {
                        let hidden = |k| w.omitted.contains(&k);
                        if let Some((_, value)) = v.resolve(name, name.split('.'), hidden) {
                            w.masked.push(value.position());
                        }
                    }
                    let format = if pretty { Format::Pretty } else { Format::Python };
                    w.write(v, Layout { format, sorted: true }, out);
                });
                assert_eq!(ours, looked_up, "{line} pretty={pretty} omit={}", omit.len());
            }
        }
    }

    #[test]
    fn appends_to_the_buffer_and_reuses_the_scratch() {
        let mut nodes = Vec::new();
        let index = Index::parse(br#"{"b":{"d":1,"c":2},"a":3}"#, &mut nodes).unwrap();
        let mut writer = Writer::new();
        let mut out = Vec::new();
        writer.sorted_compact(index.root(), &mut out);
        writer.sorted_compact(index.root().get("b").unwrap(), &mut out);
        assert_eq!(out, br#"{"a": 3, "b": {"c": 2, "d": 1}}{"c": 2, "d": 1}"#);
        assert!(writer.entries.is_empty() && writer.keys.is_empty());
    }
}
