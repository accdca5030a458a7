//! What each classic command's pipeline costs per message on the pipeline thread alone, without
//! sockets or the forwarding path: the demo session's server messages, cycled with their own
//! `timenow` (the throughput bench's realistic corpus), delivered in batches as the framer hands
//! them over, to the real plugins loaded from the build's directory. Output goes to a sink.
//! Here one thread does everything; a running proxy parses on its indexing thread, so its
//! pipeline thread does the `total` minus the `parse` line's share.
//!
//! `cargo bench -p ctiproxy --bench pipeline_cost [-- NAME]` (release build; NAME: `parse`,
//! `spy`, `spy-si`, `stat`, `save`, all by default; `MESSAGES=N`). Meant as the fixed workload for
//! instruction counts (`valgrind --tool=callgrind`), which a shared machine does not disturb the
//! way it disturbs wall-clock time: build it with `--profile profiling` for symbols. Reports,
//! never asserts.

#[path = "common/corpus.rs"]
mod corpus;

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use clap::Parser;
use ctiproxy::classic::{self, save::Save, spy::Spy, stat::Stat};
use ctiproxy::event::Event;
use ctiproxy::framer::Frame;
use ctiproxy::host::ProxyHost;
use ctiproxy::pipeline::Pipeline;
use ctiproxy_plugin_api::Direction;

/// Bytes of lines per event: what one read of a busy stream carries.
const READ_BYTES: usize = 64 * 1024;

/// The realistic corpus as the pipeline's lines.
fn corpus(count: usize) -> Vec<Bytes> {
    corpus::realistic_lines(count).map(Bytes::from).collect()
}

/// The lines grouped into message events of about `READ_BYTES` each.
fn events(lines: &[Bytes]) -> Vec<Event> {
    let mut events = Vec::new();
    let mut frames = Vec::new();
    let mut bytes = 0;
    for line in lines {
        bytes += line.len() + 1;
        frames.push(Frame { line: line.clone(), len: line.len() as u64, flags: 0 });
        if bytes >= READ_BYTES {
            events.push(messages(std::mem::take(&mut frames)));
            bytes = 0;
        }
    }
    if !frames.is_empty() {
        events.push(messages(frames));
    }
    events
}

fn messages(frames: Vec<Frame>) -> Event {
    Event::Messages { session: 1, direction: Direction::ServerToClient, ts: 1, frames }
}

/// The configuration text of a classic command line.
fn config(name: &str) -> String {
    let common = ["127.0.0.1", "--listen-port", "0"];
    let text = match name {
        "spy" => classic::config_text(&Spy::parse_from(["ctispy"].iter().chain(&common))),
        "spy-si" => {
            classic::config_text(&Spy::parse_from(["ctispy"].iter().chain(&common).chain(&[
                "-s",
                "timenow",
                "-i",
                "class=getlist",
            ])))
        }
        "stat" => classic::config_text(&Stat::parse_from(["ctistat"].iter().chain(&common))),
        "save" => classic::config_text(&Save::parse_from(
            ["ctisave"].iter().chain(&common).chain(&["c.txt", "s.txt"]),
        )),
        other => panic!("unknown pipeline {other}: spy, spy-si, stat or save"),
    };
    text.expect("a valid command line")
}

fn run(name: &str, lines: &[Bytes]) {
    let config = ctiproxy::config::Config::parse("bench", &config(name)).expect("config");
    let registry = ctiproxy::app::registry(&config);
    let host = Arc::new(ProxyHost::with_sink(Box::new(std::io::sink()), false));
    let mut pipeline = Pipeline::build(&config, &registry, host).expect("the pipeline builds");
    let events = events(lines);
    let start = Instant::now();
    for event in events {
        pipeline.deliver(event);
    }
    pipeline.finish();
    report(name, start.elapsed(), lines.len());
}

/// The parse alone: what the indexing thread does for every line of every pipeline.
fn parse(lines: &[Bytes]) {
    let mut nodes = Vec::new();
    let start = Instant::now();
    for line in lines {
        let _ = ctiproxy_plugin_api::index::parse_into(line, &mut nodes);
    }
    report("parse", start.elapsed(), lines.len());
}

fn report(name: &str, elapsed: std::time::Duration, messages: usize) {
    println!(
        "{name:<8} {:>6.0} ns a message, {:>6.0}k msg/s ({messages} messages)",
        elapsed.as_nanos() as f64 / messages as f64,
        messages as f64 / elapsed.as_secs_f64() / 1e3,
    );
}

fn main() {
    let count = std::env::var("MESSAGES").ok().and_then(|n| n.parse().ok()).unwrap_or(200_000);
    let lines = corpus(count);
    let dir = tempfile::tempdir().expect("temp dir");
    std::env::set_current_dir(dir.path()).expect("ctisave writes into the working directory");
    let names: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).collect();
    let all = ["parse", "spy", "spy-si", "stat", "save"].map(String::from).to_vec();
    for name in if names.is_empty() { all } else { names } {
        match name.as_str() {
            "parse" => parse(&lines),
            _ => run(&name, &lines),
        }
    }
}
