//! Parse once vs serde: the demo session's messages, cycled, printed sorted the way the spy
//! prints them. The baseline (serde_json's `Value` and `sorted_json`) runs in the same process,
//! so the ratios hold on any machine. `cargo bench -p ctiproxy-plugin-api --bench index`
//! (`MESSAGES=50000` for a quicker run).

use std::hint::black_box;
use std::time::{Duration, Instant};

use ctiproxy_plugin_api::index::{parse_into, Index, Writer};
use ctiproxy_plugin_api::sorted_json;

/// Each side is timed this many times; the best counts (the others met a busy machine).
const REPEATS: usize = 5;

fn main() {
    let messages = demo_messages();
    let count: usize =
        std::env::var("MESSAGES").ok().and_then(|n| n.parse().ok()).unwrap_or(200_000);
    let bytes: usize = messages.iter().cycle().take(count).map(Vec::len).sum();
    println!("{count} messages ({} distinct, {bytes} bytes), best of {REPEATS}", messages.len());
    println!("{:<28} {:>12} {:>12} {:>7}", "", "serde msgs/s", "index msgs/s", "ratio");
    for (name, pretty) in [("sorted pretty (spy -p)", true), ("sorted compact (spy)", false)] {
        let (serde, index) = best(
            || serde_sorted(&messages, count, pretty),
            || index_sorted(&messages, count, pretty),
        );
        report(name, count, serde, index);
    }
    let (serde, index) = best(|| serde_get(&messages, count), || index_get(&messages, count));
    report("parse + get(\"class\")", count, serde, index);
}

fn report(name: &str, count: usize, serde: Duration, index: Duration) {
    let rate = |d: Duration| count as f64 / d.as_secs_f64();
    println!(
        "{name:<28} {:>12.0} {:>12.0} {:>6.2}x",
        rate(serde),
        rate(index),
        serde.as_secs_f64() / index.as_secs_f64()
    );
}

/// The best time of each, the two taking turns so that both meet the same load.
fn best(
    mut baseline: impl FnMut() -> usize,
    mut candidate: impl FnMut() -> usize,
) -> (Duration, Duration) {
    let time = |run: &mut dyn FnMut() -> usize| {
        let start = Instant::now();
        black_box(run());
        start.elapsed()
    };
    (0..REPEATS).fold((Duration::MAX, Duration::MAX), |(b, c), _| {
        (b.min(time(&mut baseline)), c.min(time(&mut candidate)))
    })
}

fn serde_sorted(messages: &[Vec<u8>], count: usize, pretty: bool) -> usize {
    let mut out = Vec::with_capacity(1 << 16);
    let mut total = 0;
    for message in messages.iter().cycle().take(count) {
        let value: serde_json::Value = serde_json::from_slice(message).expect("demo JSON");
        out.clear();
        let written = if pretty {
            sorted_json::write_pretty(&mut out, &value)
        } else {
            sorted_json::write_compact(&mut out, &value)
        };
        written.expect("a Vec accepts everything");
        total += black_box(&out).len();
    }
    total
}

fn index_sorted(messages: &[Vec<u8>], count: usize, pretty: bool) -> usize {
    let (mut nodes, mut writer, mut out) = (Vec::new(), Writer::new(), Vec::with_capacity(1 << 16));
    let mut total = 0;
    for message in messages.iter().cycle().take(count) {
        parse_into(message, &mut nodes).expect("demo JSON");
        let root = Index::new(message, &nodes).root();
        out.clear();
        if pretty {
            writer.sorted_pretty(root, &mut out);
        } else {
            writer.sorted_compact(root, &mut out);
        }
        total += black_box(&out).len();
    }
    total
}

fn serde_get(messages: &[Vec<u8>], count: usize) -> usize {
    let mut total = 0;
    for message in messages.iter().cycle().take(count) {
        let value: serde_json::Value = serde_json::from_slice(message).expect("demo JSON");
        total += value.get("class").and_then(|c| c.as_str()).map_or(0, str::len);
    }
    total
}

fn index_get(messages: &[Vec<u8>], count: usize) -> usize {
    let mut nodes = Vec::new();
    let mut total = 0;
    for message in messages.iter().cycle().take(count) {
        parse_into(message, &mut nodes).expect("demo JSON");
        let class = Index::new(message, &nodes).root().get("class");
        total += class.and_then(|c| c.as_str()).map_or(0, |c| c.len());
    }
    total
}

/// The `msg` of every line of the demo session, as its text in the file.
fn demo_messages() -> Vec<Vec<u8>> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../core/demo/session-login.jsonl");
    let text = std::fs::read(path).expect("the demo session");
    let mut nodes = Vec::new();
    text.split(|&b| b == b'\n')
        .filter(|line| !line.is_empty())
        .map(|line| {
            let index = Index::parse(line, &mut nodes).expect("a JSON line");
            index.root().get("msg").expect("a msg field").raw().to_vec()
        })
        .collect()
}
