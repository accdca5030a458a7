//! What `[metrics]` adds on the pipeline thread for each message: reading its class from the
//! JSON index the pipeline builds for the plugins anyway, and counting it. The forwarding path pays only relaxed atomic additions per read; this is the one cost per
//! message, and it must stay small next to a plugin's.
//!
//! `cargo bench -p ctiproxy --bench class_counting` (release build). The same lines over and
//! over, so they are in cache: a line's first read from memory is paid by whichever stage
//! touches it first, a plugin's if not this one. Reports, never asserts.

use std::hint::black_box;
use std::time::Instant;

use ctiproxy::metrics::Metrics;
use ctiproxy_plugin_api::index::Node;
use ctiproxy_plugin_api::instance::index_line;
use ctiproxy_plugin_api::Direction;

const DEMO: &str = include_str!("../demo/session-login.jsonl");
const COUNT: usize = 2_000_000;

/// The demo session's messages as compact JSON lines, each with its index, as the pipeline has
/// them when it counts.
fn lines() -> Vec<(Vec<u8>, Vec<Node>)> {
    DEMO.lines()
        .map(|line| serde_json::from_str::<serde_json::Value>(line).expect("a demo record"))
        .map(|record| {
            let line = record["msg"].to_string().into_bytes();
            let mut nodes = Vec::new();
            index_line(&line, 0, &mut nodes);
            (line, nodes)
        })
        .collect()
}

fn main() {
    let lines = lines();
    let mut best = f64::MAX;
    for _ in 0..5 {
        let mut observed = Metrics::new().pipeline(&[]);
        let start = Instant::now();
        for (line, nodes) in lines.iter().cycle().take(COUNT) {
            observed.classes.count(Direction::ServerToClient, black_box(line), black_box(nodes));
        }
        best = best.min(start.elapsed().as_nanos() as f64 / COUNT as f64);
    }
    println!(
        "class counting: {best:.0} ns a message (best of 5 runs of {COUNT} lines of the demo session, {} distinct)",
        lines.len()
    );
}
