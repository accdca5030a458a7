//! What `[metrics]` adds on the pipeline thread for each message: finding its class and counting
//! it. The forwarding path pays only relaxed atomic additions per read; this is the one cost per
//! message, and it must stay small next to a plugin's.
//!
//! `cargo bench -p ctiproxy --bench class_counting` (release build). The same lines over and
//! over, so they are in cache: a line's first read from memory is paid by whichever stage
//! touches it first, a plugin's if not this one. Reports, never asserts.

use std::hint::black_box;
use std::time::Instant;

use ctiproxy::metrics::Metrics;
use ctiproxy_plugin_api::Direction;

const DEMO: &str = include_str!("../demo/session-login.jsonl");
const COUNT: usize = 2_000_000;

/// The demo session's messages as compact JSON lines, as the pipeline gets them.
fn lines() -> Vec<Vec<u8>> {
    DEMO.lines()
        .map(|line| serde_json::from_str::<serde_json::Value>(line).expect("a demo record"))
        .map(|record| record["msg"].to_string().into_bytes())
        .collect()
}

fn main() {
    let lines = lines();
    let mut best = f64::MAX;
    for _ in 0..5 {
        let mut observed = Metrics::new().pipeline(&[]);
        let start = Instant::now();
        for line in lines.iter().cycle().take(COUNT) {
            observed.classes.count(Direction::ServerToClient, black_box(line));
        }
        best = best.min(start.elapsed().as_nanos() as f64 / COUNT as f64);
    }
    println!(
        "class counting: {best:.0} ns a message (best of 5 runs of {COUNT} lines of the demo session, {} distinct)",
        lines.len()
    );
}
