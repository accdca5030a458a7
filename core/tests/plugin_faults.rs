//! Faulty plugins at run time through the real proxy: a plugin that panics on every message is
//! disabled, logged once, and neither the wire nor the other plugins notice; a stalled pipeline
//! with `overflow = "drop"` never slows the traffic and reports what it missed.
mod support;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::thread;

use ctiproxy_plugin_api::Direction;
use support::{play, session_steps, start_server};

#[test]
fn a_panicking_plugin_is_isolated() {
    let steps = session_steps();
    let (server_addr, server) = start_server(steps.clone()).unwrap();
    let capture_dir = tempfile::tempdir().unwrap();
    let capture = capture_dir.path().join("capture.jsonl");
    let pipeline = format!(
        "[[pipeline]]\nplugin = \"panic-message\"\n\n[[pipeline]]\nplugin = \"save\"\nformat = \"jsonl\"\nfile = {:?}\n",
        capture.display().to_string()
    );
    let (_dir, proxy) = support::start_proxy(server_addr, "", &pipeline);
    let client =
        play(TcpStream::connect(proxy.addr()).unwrap(), &steps, Direction::ClientToServer).unwrap();
    let server = server.join().unwrap().unwrap();
    assert_eq!(client.sent, server.received, "client → server bytes exact");
    assert_eq!(server.sent, client.received, "server → client bytes exact");
    let done = proxy.finish();
    assert!(done.status.success(), "{}", done.stderr);
    assert_eq!(
        done.stderr.matches("Plugin panicked: deliberate panic in on_message").count(),
        1,
        "{}",
        done.stderr
    );
    let skipped = steps.len() - 1 + 2; // later messages, session end, shutdown
    assert!(
        done.stderr.contains(&format!("disabled after a panic and missed {skipped} events")),
        "{}",
        done.stderr
    );
    let saved = std::fs::read_to_string(&capture).unwrap();
    let lines = saved.lines().filter(|l| l.contains("\"line\"")).count();
    assert_eq!(lines, steps.len(), "the plugin after the panicking one saw every message");
}

#[test]
fn a_stalled_pipeline_with_drop_overflow_never_slows_the_wire_and_counts_drops() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let server_addr = listener.local_addr().unwrap();
    let server = thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut received = Vec::new();
        stream.read_to_end(&mut received).unwrap();
        received
    });
    let pipeline = "[[pipeline]]\nplugin = \"stall\"\nmillis = 20\n\n[[pipeline]]\nplugin = \"stats\"\nshow = \"all\"\n";
    let (_dir, proxy) =
        support::start_proxy(server_addr, "queue = 1\noverflow = \"drop\"", pipeline);
    let data: Vec<u8> = (0..300)
        .flat_map(|n| format!("{{\"class\":\"burst\",\"n\":{n}}}\n").into_bytes())
        .collect();
    let mut client = TcpStream::connect(proxy.addr()).unwrap();
    client.set_nodelay(true).unwrap();
    // One line per write, paced, so the proxy reads them one by one faster than the stalled
    // plugin (20 ms a message) can take them.
    for line in data.split_inclusive(|b| *b == b'\n') {
        client.write_all(line).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    client.shutdown(Shutdown::Write).unwrap();
    let mut rest = Vec::new();
    client.read_to_end(&mut rest).unwrap();
    assert!(server.join().unwrap() == data, "every byte forwarded");
    let done = proxy.finish();
    assert!(done.status.success(), "{}", done.stderr);
    let dropped_line = done
        .stderr
        .lines()
        .find(|l| l.contains("were forwarded but not analysed"))
        .expect(&done.stderr);
    let dropped: u64 = dropped_line.split_whitespace().find_map(|w| w.parse().ok()).unwrap();
    assert!(dropped > 0 && dropped < 300, "{dropped_line}");
    assert!(
        done.stdout.contains(&format!("Dropped (queue full): {dropped}")),
        "stats report the same count:\n{}",
        done.stdout
    );
}

#[test]
fn plugin_counters_are_reported_at_exit() {
    let steps = session_steps();
    let (server_addr, server) = start_server(steps.clone()).unwrap();
    // /dev/full accepts the open and fails every write: the save plugin counts write errors.
    let pipeline = "[[pipeline]]\nplugin = \"save\"\nformat = \"jsonl\"\nfile = \"/dev/full\"\nappend = true\n";
    let (_dir, proxy) = support::start_proxy(server_addr, "", pipeline);
    let client =
        play(TcpStream::connect(proxy.addr()).unwrap(), &steps, Direction::ClientToServer).unwrap();
    assert_eq!(client.received, server.join().unwrap().unwrap().sent, "the wire is unaffected");
    let done = proxy.finish();
    assert!(done.status.success(), "{}", done.stderr);
    assert!(done.stderr.contains("cannot write /dev/full"), "{}", done.stderr);
    assert!(done.stderr.contains("Plugin counter write_errors = "), "{}", done.stderr);
}
