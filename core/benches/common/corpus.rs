//! The realistic corpus the benches share: the demo session's server messages, cycled, each
//! with its own increasing full-precision `timenow`, byte for byte as a live server sends them.
//! One generator, so that every bench measures the same traffic.
//!
//! The CTI server encodes with Python's `json.dumps(msg)` (reference: cti-protocol.md, "Transport
//! and framing"): `", "` and `": "` separators, keys in the server's order, non-ASCII escaped as
//! `\uXXXX`. The demo session's records hold each message in exactly that form, so a message's
//! text is cut out of its record as it is, not re-serialised (serde_json's compact output
//! would make every line shorter and every entry shaped unlike the real server's).

use ctiproxy_plugin_api::index::Index;

const DEMO: &str = include_str!("../../demo/session-login.jsonl");

/// The demo session's server messages as sent, split around their `timenow` value.
fn server_templates() -> Vec<(String, String)> {
    let mut nodes = Vec::new();
    let mut templates = Vec::new();
    for line in DEMO.lines() {
        let record = Index::parse(line.as_bytes(), &mut nodes).expect("a demo record");
        let root = record.root();
        if !root.get("dir").is_some_and(|dir| dir.text_equals("server")) {
            continue;
        }
        let message = root.get("msg").expect("a message");
        let timenow = message.get("timenow").expect("a server message's timenow");
        let (start, end) = (message.node().start as usize, message.node().end as usize);
        let (hole, hole_end) = (timenow.node().start as usize, timenow.node().end as usize);
        templates.push((line[start..hole].to_owned(), line[hole_end..end].to_owned()));
    }
    templates
}

/// `count` server messages of the demo session, cycled.
pub fn realistic_lines(count: usize) -> impl Iterator<Item = String> {
    let templates = server_templates();
    (0..count).map(move |n| {
        let (head, tail) = &templates[n % templates.len()];
        let timenow = 1_550_844_512.21 + n as f64 * 0.000_137;
        format!("{head}{timenow}{tail}")
    })
}
