//! Messages per second through the export plugin into a local nats-server with JetStream, next
//! to the save plugin's JSON-lines capture of the same messages (README: "Many PBXes").
//!
//! `cargo bench -p ctiproxy --bench export_rate` (release build; needs `nats-server`, as the
//! export tests do). Reports, never asserts. Each run is `ctiproxy replay` of one generated
//! capture (the demo session's server messages cycled, each with its own `timenow`) from the
//! process's start to its exit, so every record has been written, or published and
//! acknowledged by JetStream (file storage): the plugin's buffer is made large enough that
//! nothing is dropped, and the bench checks that the stream holds every record.
#[path = "common/corpus.rs"]
mod corpus;
#[path = "../tests/support/nats.rs"]
mod nats;
#[path = "../tests/support/mod.rs"]
mod support;

use std::io::Write;
use std::path::Path;
use std::time::Instant;

use nats::NatsServer;
use serde_json::json;

/// Messages in the capture (about 70 MB of records).
const MESSAGES: usize = 200_000;
/// Runs of each measurement; the best rate is kept, the one the machine's other load
/// disturbed least.
const REPEATS: usize = 3;

/// Writes a capture of one session holding `MESSAGES` server messages.
fn write_capture(path: &Path) {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).expect("capture"));
    let stamp = |n: usize| json!({"ts": "2026-01-01T00:00:00.000000Z", "ts_us": 1_767_225_600_000_000_i64 + n as i64, "session": 1});
    let mut start = stamp(0);
    start["event"] = "start".into();
    start["client"] = "127.0.0.1:40000".into();
    start["server"] = "10.0.0.5:5003".into();
    writeln!(out, "{start}").unwrap();
    for (n, line) in corpus::realistic_lines(MESSAGES).enumerate() {
        let mut record = stamp(n + 1);
        record["dir"] = "server".into();
        record["line"] = line.into();
        writeln!(out, "{record}").unwrap();
    }
    let mut end = stamp(MESSAGES + 1);
    end["event"] = "end".into();
    end["reason"] = "client closed".into();
    writeln!(out, "{end}").unwrap();
}

/// The best rate of `REPEATS` replays of `capture` through `pipeline`; `after` checks each run.
fn rate(pipeline: &str, capture: &Path, mut after: impl FnMut()) -> f64 {
    let dir = tempfile::tempdir().unwrap();
    let config = support::write_config(dir.path(), pipeline);
    let mut best = 0.0_f64;
    for _ in 0..REPEATS {
        let mut cmd = support::ctiproxy();
        cmd.env("RUST_LOG", "warn").arg("replay").arg("-c").arg(&config).arg(capture);
        let start = Instant::now();
        let finished = support::Running::spawn(cmd).finish();
        let elapsed = start.elapsed().as_secs_f64();
        assert!(finished.status.success(), "replay failed: {}", finished.stderr);
        assert!(!finished.stderr.contains("WARN"), "{}", finished.stderr);
        after();
        best = best.max(MESSAGES as f64 / elapsed);
    }
    best
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let capture = dir.path().join("capture.jsonl");
    write_capture(&capture);
    let saved = dir.path().join("saved.jsonl");

    let bare = rate("", &capture, || {});
    let save = format!("[[pipeline]]\nplugin = \"save\"\nformat = \"jsonl\"\nfile = {saved:?}\n");
    let save_rate = rate(&save, &capture, || {});

    let nats = NatsServer::start();
    let export = format!(
        "[[pipeline]]\nplugin = \"export\"\nurl = \"{}\"\nbuffer_bytes = 1073741824\n\
         flush_timeout = 600.0\n",
        nats.url()
    );
    let mut runs = 0;
    let export_rate = rate(&export, &capture, || {
        // Every record of every run is in the stream (start, messages, end): none dropped.
        runs += 1;
        let stored = nats::stream_len(&nats.url(), "CTI");
        assert_eq!(stored, runs * (MESSAGES as u64 + 2), "records stored");
    });

    println!("export rate ({MESSAGES} messages of the demo session, best of {REPEATS} replays):");
    println!("  replay, empty pipeline          {bare:>10.0} msg/s");
    println!("  save, format = \"jsonl\"          {save_rate:>10.0} msg/s");
    println!("  export to local JetStream (file) {export_rate:>10.0} msg/s");
}
