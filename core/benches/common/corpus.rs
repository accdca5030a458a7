//! The realistic corpus the benches share: the demo session's server messages, cycled, each
//! with its own increasing full-precision `timenow`, as a live server sends them (compact JSON,
//! one message per item, without its newline). One generator, so that every bench measures the
//! same traffic.

const DEMO: &str = include_str!("../../demo/session-login.jsonl");

/// The demo session's server messages as compact JSON, split around their `timenow` value.
fn server_templates() -> Vec<(String, String)> {
    const HOLE: &str = "\"@timenow@\"";
    DEMO.lines()
        .map(|line| serde_json::from_str::<serde_json::Value>(line).expect("a demo record"))
        .filter(|record| record["dir"] == "server")
        .map(|mut record| {
            record["msg"]["timenow"] = HOLE.trim_matches('"').into();
            let text = record["msg"].to_string();
            let (head, tail) = text.split_once(HOLE).expect("the timenow hole");
            (head.to_owned(), tail.to_owned())
        })
        .collect()
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
