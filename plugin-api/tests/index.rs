//! The index against serde_json: the parser accepts exactly what `serde_json::from_slice`
//! accepts, the view reads what serde_json's `Value` holds, and the writers print what
//! `sorted_json` and `serde_json::to_vec` print, except that numbers keep their text. Checked on
//! generated JSON (tricky strings, duplicate keys, deep nesting, odd whitespace and escapes), on
//! mutations of it, on the tricky numbers of issue 9 and on every message of the fixtures.

use ctiproxy_plugin_api::field_path::FieldPath;
use ctiproxy_plugin_api::index::{Index, Kind, Value, Writer};
use ctiproxy_plugin_api::{matcher, sorted_json};
use proptest::prelude::*;
use serde_json::Value as Json;

/// A JSON document before it is written out: objects may repeat keys, numbers are text.
#[derive(Debug, Clone)]
enum Tree {
    Null,
    Bool(bool),
    Number(String),
    Text(String),
    Array(Vec<Tree>),
    Object(Vec<(String, Tree)>),
}

/// Characters that exercise escaping: quotes, backslashes, C0 controls, DEL, C1, non-BMP
/// (a surrogate pair when escaped), the dot of field paths.
fn tricky_char() -> impl Strategy<Value = char> {
    prop_oneof![
        4 => prop::sample::select(vec!['a', 'b', 'c', 'n', 'e', 'w', '.', ' ']),
        1 => prop::sample::select(vec!['"', '\\', '/', '\u{7f}', 'é', '😀', '\u{2028}', '\u{ffff}']),
        1 => (0u32..0x20).prop_map(|c| char::from_u32(c).unwrap()),
        1 => (0x80u32..0xa0).prop_map(|c| char::from_u32(c).unwrap()),
        1 => any::<char>(),
    ]
}

fn tricky_string(max: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(tricky_char(), 0..max).prop_map(String::from_iter)
}

/// Keys from a small alphabet so that objects repeat them.
fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(vec!["a", "b", "class", "new", "a.b", "", "é"]).prop_map(String::from),
        1 => tricky_string(4),
    ]
}

const TRICKY_NUMBERS: &[&str] = &[
    "1550844512.3439999",
    "1550844512.344",
    "1e-07",
    "1e-7",
    "18446744073709551616",
    "18446744073709551615",
    "-9223372036854775808",
    "-9223372036854775809",
    "-0",
    "0",
    "-0.0",
    "1.0",
    "1",
    "1E+2",
    "0.1e1",
    "2.5e-3",
    "1e400",
    "-1e400",
    "1e-400",
    "1.7976931348623157e308",
    "1.7976931348623159e308",
    "4.9e-324",
    "123456789012345678901234567890",
    "0.30000000000000004",
];

fn number_text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<i64>().prop_map(|n| n.to_string()),
        any::<u64>().prop_map(|n| n.to_string()),
        any::<f64>()
            .prop_filter_map("finite", serde_json::Number::from_f64)
            .prop_map(|n| n.to_string()),
        any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(|f| format!("{f:e}")),
        prop::sample::select(TRICKY_NUMBERS).prop_map(String::from),
        "-?(0|[1-9][0-9]{0,24})(\\.[0-9]{1,20})?([eE][+-]?[0-9]{1,3})?",
    ]
}

fn tree() -> impl Strategy<Value = Tree> {
    let leaf = prop_oneof![
        Just(Tree::Null),
        any::<bool>().prop_map(Tree::Bool),
        number_text().prop_map(Tree::Number),
        tricky_string(8).prop_map(Tree::Text),
    ];
    leaf.prop_recursive(5, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Tree::Array),
            prop::collection::vec((key(), inner), 0..6).prop_map(Tree::Object),
        ]
    })
}

/// A tree buried under up to 140 containers: around serde_json's limit of 127.
fn deep_tree() -> impl Strategy<Value = Tree> {
    (tree(), 110usize..140, any::<u64>()).prop_map(|(mut tree, depth, bits)| {
        for level in 0..depth {
            tree = if bits >> (level % 64) & 1 == 0 {
                Tree::Array(vec![tree])
            } else {
                Tree::Object(vec![("a".into(), tree)])
            };
        }
        tree
    })
}

/// Writes a tree as JSON text, choosing whitespace and escapes from a seed.
struct Emitter {
    seed: u64,
    out: String,
    /// Python's `json.dumps` separators (`, ` and `: `) and no other whitespace, as CTI servers
    /// write: the writers copy such entries whole.
    python: bool,
}

impl Emitter {
    fn write(tree: &Tree, seed: u64) -> String {
        Emitter::emit(tree, seed, false)
    }

    fn python(tree: &Tree, seed: u64) -> String {
        Emitter::emit(tree, seed, true)
    }

    fn emit(tree: &Tree, seed: u64, python: bool) -> String {
        let mut emitter = Emitter { seed: seed | 1, out: String::new(), python };
        emitter.value(tree);
        emitter.blank();
        emitter.out
    }

    fn roll(&mut self, one_in: u64) -> bool {
        // xorshift64
        self.seed ^= self.seed << 13;
        self.seed ^= self.seed >> 7;
        self.seed ^= self.seed << 17;
        self.seed.is_multiple_of(one_in)
    }

    fn blank(&mut self) {
        while !self.python && self.roll(4) {
            let c = [' ', '\n', '\t', '\r'][(self.seed >> 8) as usize % 4];
            self.out.push(c);
        }
    }

    fn value(&mut self, tree: &Tree) {
        self.blank();
        match tree {
            Tree::Null => self.out.push_str("null"),
            Tree::Bool(b) => self.out.push_str(if *b { "true" } else { "false" }),
            Tree::Number(text) => self.out.push_str(text),
            Tree::Text(text) => self.string(text),
            Tree::Array(items) => {
                self.out.push('[');
                for (i, item) in items.iter().enumerate() {
                    self.out.push_str(self.separator(i));
                    self.value(item);
                    self.blank();
                }
                self.blank();
                self.out.push(']');
            }
            Tree::Object(entries) => {
                self.out.push('{');
                for (i, (key, value)) in entries.iter().enumerate() {
                    self.out.push_str(self.separator(i));
                    self.blank();
                    self.string(key);
                    self.blank();
                    self.out.push_str(if self.python { ": " } else { ":" });
                    self.value(value);
                    self.blank();
                }
                self.blank();
                self.out.push('}');
            }
        }
    }

    fn separator(&self, i: usize) -> &'static str {
        match (i, self.python) {
            (0, _) => "",
            (_, true) => ", ",
            (_, false) => ",",
        }
    }

    fn string(&mut self, text: &str) {
        self.out.push('"');
        for c in text.chars() {
            let short = match c {
                '"' => Some("\\\""),
                '\\' => Some("\\\\"),
                '\n' => Some("\\n"),
                '\t' => Some("\\t"),
                '\r' => Some("\\r"),
                '\u{8}' => Some("\\b"),
                '\u{c}' => Some("\\f"),
                '/' if self.roll(2) => Some("\\/"),
                _ => None,
            };
            match short {
                Some(escape) if !self.roll(4) => self.out.push_str(escape),
                _ if (c as u32) < 0x20 || c == '"' || c == '\\' || self.roll(6) => self.unicode(c),
                _ => self.out.push(c),
            }
        }
        self.out.push('"');
    }

    fn unicode(&mut self, c: char) {
        for unit in c.encode_utf16(&mut [0; 2]) {
            let hex = format!("\\u{unit:04x}");
            let hex = if self.roll(2) { hex.to_uppercase().replace("\\U", "\\u") } else { hex };
            self.out.push_str(&hex);
        }
    }
}

/// Small edits that break or bend valid JSON.
fn mutate(text: &str, edits: &[(usize, u8, u8)]) -> Vec<u8> {
    const BYTES: &[u8] = b"\"\\,:[]{}0-e.+ uDd8\x00\x1f\x7f\x80\xff\xc3\xed\xa0";
    let mut bytes = text.as_bytes().to_vec();
    for &(at, op, pick) in edits {
        let at = at % (bytes.len() + 1);
        let byte = BYTES[pick as usize % BYTES.len()];
        match op % 5 {
            0 if at < bytes.len() => drop(bytes.remove(at)),
            1 => bytes.insert(at, byte),
            2 if at < bytes.len() => bytes[at] = byte,
            3 => bytes.truncate(at),
            _ => {
                let copy = bytes[at..].iter().take(8).copied().collect::<Vec<_>>();
                bytes.splice(at..at, copy);
            }
        }
    }
    bytes
}

/// Everything the index says about `text` agrees with serde_json.
fn check(text: &[u8]) -> Result<(), TestCaseError> {
    let serde = serde_json::from_slice::<Json>(text);
    let mut nodes = Vec::new();
    let parsed = Index::parse(text, &mut nodes);
    prop_assert_eq!(
        parsed.is_ok(),
        serde.is_ok(),
        "{:?}: ours {:?}",
        String::from_utf8_lossy(text),
        parsed.err()
    );
    let (Ok(index), Ok(json)) = (parsed, serde) else { return Ok(()) };
    agree(index.root(), &json)?;
    check_paths(index.root(), &json)?;
    if numbers_round_trip(index.root(), &json) {
        check_writers(index.root(), &json)?;
    }
    Ok(())
}

fn agree(value: Value<'_>, json: &Json) -> Result<(), TestCaseError> {
    match (value.kind(), json) {
        (Kind::Null, Json::Null) => {}
        (Kind::True | Kind::False, Json::Bool(b)) => prop_assert_eq!(value.as_bool(), Some(*b)),
        (Kind::String, Json::String(s)) => {
            prop_assert_eq!(value.as_str().unwrap_or_default(), s.as_str())
        }
        (Kind::Number, Json::Number(n)) => {
            prop_assert_eq!(value.as_i64(), n.as_i64());
            prop_assert_eq!(value.as_u64(), n.as_u64());
            prop_assert_eq!(value.as_f64().map(f64::to_bits), n.as_f64().map(f64::to_bits));
        }
        (Kind::Array, Json::Array(items)) => {
            prop_assert_eq!(value.len(), items.len());
            for (item, json) in value.items().zip(items) {
                agree(item, json)?;
            }
        }
        (Kind::Object, Json::Object(map)) => {
            let keys: Vec<String> =
                value.entries().map(|(k, _)| k.as_str().unwrap().into_owned()).collect();
            let unique: std::collections::HashSet<&String> = keys.iter().collect();
            prop_assert_eq!(unique.len(), map.len());
            if unique.len() == keys.len() {
                prop_assert!(keys.iter().eq(map.keys()), "document order");
            }
            for (key, json) in map {
                agree(value.get(key).expect("every key of serde's map"), json)?;
            }
        }
        (kind, json) => prop_assert!(false, "{kind:?} vs {json}"),
    }
    if !matches!(json, Json::Number(_)) || value.raw() == json.to_string().as_bytes() {
        let text = match json {
            Json::String(s) => s.clone(),
            other => other.to_string(),
        };
        prop_assert_eq!(value.text_equals(&text), matcher::text_equals(json, &text), "{}", text);
    }
    prop_assert!(!value.text_equals("\u{1}never"), "matches anything");
    Ok(())
}

/// Field names at the root: every key, and every key.key one level down.
fn names(json: &Json) -> Vec<String> {
    let Some(map) = json.as_object() else { return vec!["a".into(), "a.b".into()] };
    let mut names: Vec<String> = map.keys().filter(|k| !k.is_empty()).cloned().collect();
    for (key, value) in map {
        for inner in value.as_object().into_iter().flat_map(|m| m.keys()) {
            names.push(format!("{key}.{inner}"));
        }
    }
    names.push("class.new".into());
    names
}

fn check_paths(root: Value<'_>, json: &Json) -> Result<(), TestCaseError> {
    let keys: Vec<String> =
        json.as_object().map(|m| m.keys().cloned().collect()).unwrap_or_default();
    for pair in keys.chunks(2) {
        let (first, second) = (&pair[0], pair.last().unwrap());
        let [a, b] = root.get_many([first.as_str(), second.as_str()]);
        prop_assert_eq!(a.map(|v| v.position()), root.get(first).map(|v| v.position()));
        prop_assert_eq!(b.map(|v| v.position()), root.get(second).map(|v| v.position()));
    }
    for name in names(json) {
        let field = FieldPath::parse(&name, "test").unwrap();
        let ours = root.path(&name);
        prop_assert_eq!(ours.map(|v| v.position()), root.field(&field).map(|v| v.position()));
        match (ours, field.get(json)) {
            (Some(value), Some(json)) => agree(value, json)?,
            (None, None) => {}
            (ours, theirs) => {
                prop_assert!(false, "{}: {:?} vs {:?}", name, ours.map(|v| v.raw()), theirs)
            }
        }
    }
    Ok(())
}

/// True when serde_json prints every number of the document as it was written, so that its
/// output is the reference byte for byte.
fn numbers_round_trip(value: Value<'_>, json: &Json) -> bool {
    match json {
        Json::Number(n) => value.raw() == n.to_string().as_bytes(),
        Json::Array(items) => value.items().zip(items).all(|(v, j)| numbers_round_trip(v, j)),
        Json::Object(map) => map.iter().all(|(k, j)| numbers_round_trip(value.get(k).unwrap(), j)),
        _ => true,
    }
}

fn check_writers(root: Value<'_>, json: &Json) -> Result<(), TestCaseError> {
    let [compact, pretty, serde] = written(root);
    let mut expected = Vec::new();
    sorted_json::write_compact(&mut expected, json).unwrap();
    prop_assert_eq!(String::from_utf8_lossy(&compact), String::from_utf8_lossy(&expected));
    expected.clear();
    sorted_json::write_pretty(&mut expected, json).unwrap();
    prop_assert_eq!(String::from_utf8_lossy(&pretty), String::from_utf8_lossy(&expected));
    let expected = serde_json::to_vec(json).unwrap();
    prop_assert_eq!(String::from_utf8_lossy(&serde), String::from_utf8_lossy(&expected));
    let names = names(json);
    for omit in [&names[..names.len().min(1)], &names[..names.len().min(3)], &names] {
        let fields: Vec<_> = omit.iter().map(|n| FieldPath::parse(n, "test").unwrap()).collect();
        let mut stripped = json.clone();
        let removed = fields.iter().filter(|f| f.remove(&mut stripped)).count();
        let mut out = Vec::new();
        let count = Writer::new().compact_without(root, &fields, &mut out);
        prop_assert_eq!(count, removed);
        let mut any = Vec::new();
        let any_count = Writer::new().compact_without_any(root, &fields, &mut any);
        prop_assert_eq!(any_count, removed);
        prop_assert_eq!(&any, if removed > 0 { &out } else { &Vec::new() });
        prop_assert_eq!(out, serde_json::to_vec(&stripped).unwrap(), "omitting {:?}", omit);
    }
    Ok(())
}

/// Sorted compact, sorted pretty, order-preserving compact.
fn written(root: Value<'_>) -> [Vec<u8>; 3] {
    let mut writer = Writer::new();
    let mut outputs: [Vec<u8>; 3] = Default::default();
    writer.sorted_compact(root, &mut outputs[0]);
    writer.sorted_pretty(root, &mut outputs[1]);
    writer.compact(root, &mut outputs[2]);
    outputs
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn generated_json_agrees_with_serde_json(tree in tree(), seed in any::<u64>()) {
        check(Emitter::write(&tree, seed).as_bytes())?;
    }

    #[test]
    fn python_separated_json_agrees_with_serde_json(tree in tree(), seed in any::<u64>()) {
        check(Emitter::python(&tree, seed).as_bytes())?;
    }

    #[test]
    fn deep_json_agrees_with_serde_json(tree in deep_tree(), seed in any::<u64>()) {
        check(Emitter::write(&tree, seed).as_bytes())?;
    }

    #[test]
    fn mutated_json_agrees_with_serde_json(
        tree in tree(),
        seed in any::<u64>(),
        edits in prop::collection::vec((any::<usize>(), any::<u8>(), any::<u8>()), 1..4),
    ) {
        check(&mutate(&Emitter::write(&tree, seed), &edits))?;
    }

    #[test]
    fn arbitrary_bytes_agree_with_serde_json(bytes in prop::collection::vec(any::<u8>(), 0..24)) {
        check(&bytes)?;
    }
}

#[test]
fn tricky_numbers_keep_their_text_through_every_writer() {
    // Out of range for serde_json, and so for the index: 1e400 and, by its arithmetic, f64::MAX.
    let in_range = |n: &&&str| serde_json::from_str::<Json>(n).is_ok();
    for number in TRICKY_NUMBERS.iter().filter(in_range) {
        let line = format!(r#"{{"z": [{number}], "a": {{"n": {number}}}}}"#);
        let mut nodes = Vec::new();
        let index = Index::parse(line.as_bytes(), &mut nodes).unwrap();
        for output in written(index.root()) {
            let output = String::from_utf8(output).unwrap();
            assert_eq!(output.matches(number).count(), 2, "{number}: {output}");
            let reread: Json = serde_json::from_str(&output).unwrap();
            assert_eq!(reread, serde_json::from_str::<Json>(&line).unwrap());
        }
    }
}

/// Each fixture line's `msg`, as its text in the file and as serde_json writes it.
fn fixture_messages() -> Vec<Vec<u8>> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut messages = Vec::new();
    for file in
        ["core/demo/session-login.jsonl", "plugins/mi/tests/fixtures/cti/events-of-interest.jsonl"]
    {
        let text = std::fs::read(root.join(file)).unwrap();
        for line in text.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            let mut nodes = Vec::new();
            let msg = Index::parse(line, &mut nodes).unwrap().root().get("msg").unwrap().raw();
            messages.push(msg.to_vec());
            let json: Json = serde_json::from_slice(msg).unwrap();
            messages.push(serde_json::to_vec(&json).unwrap());
        }
    }
    assert!(messages.len() >= 2 * 150);
    messages
}

#[test]
fn every_fixture_message_is_written_as_today() {
    for message in fixture_messages() {
        let json: Json = serde_json::from_slice(&message).unwrap();
        let mut nodes = Vec::new();
        let root = Index::parse(&message, &mut nodes).unwrap().root();
        assert!(numbers_round_trip(root, &json), "{}", String::from_utf8_lossy(&message));
        check(&message).unwrap();
    }
}
