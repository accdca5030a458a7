//! Nothing lost, never in the way, through the real binary: memory bounded in bytes under a
//! flood of tiny frames and behind a stalled plugin, unfinished lines under one budget, sessions
//! forwarded whatever the queue, shutdown with a deadline and on every terminating signal, a
//! connect raced by shutdown, resets passed on, `max_sessions` and `idle_timeout_secs`.
mod support;

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use support::{ctiproxy, proxy_config, write_config, Running};

const MIB: usize = 1024 * 1024;

/// A server that accepts every connection and reads it to the end, counting bytes.
fn sink_server() -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let total = Arc::new(AtomicUsize::new(0));
    let counted = total.clone();
    thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let counted = counted.clone();
            thread::spawn(move || {
                let mut stream = stream;
                let mut buf = vec![0u8; 64 * 1024];
                while let Ok(n) = stream.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    counted.fetch_add(n, Ordering::Relaxed);
                }
            });
        }
    });
    (addr, total)
}

fn start(
    server: SocketAddr,
    proxy: &str,
    pipeline: &str,
    unread: bool,
) -> (tempfile::TempDir, Running) {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &proxy_config(server, proxy, pipeline));
    let mut cmd = ctiproxy();
    cmd.arg("run").arg("-c").arg(&config);
    let running = if unread { Running::start_unread(cmd) } else { Running::start(cmd) };
    (dir, running)
}

/// Empty lines, 256 Ki of them.
fn newlines() -> Vec<u8> {
    vec![b'\n'; 256 * 1024]
}

/// 64 KiB of a tiny line and an oversize one (past a 1 KiB `max_line_bytes`): most of every
/// read is a line the queue only previews.
fn sparse_lines() -> Vec<u8> {
    let mut chunk = b"{}\n".to_vec();
    chunk.resize(64 * 1024 - 1, b'x');
    chunk.push(b'\n');
    chunk
}

/// Writes `chunk` to `addr` from a thread until `total` bytes went; returns the count written
/// so far.
fn flood(addr: SocketAddr, total: usize, chunk: Vec<u8>) -> Arc<AtomicUsize> {
    let written = Arc::new(AtomicUsize::new(0));
    let progress = written.clone();
    thread::spawn(move || {
        let mut stream = TcpStream::connect(addr).unwrap();
        while progress.load(Ordering::Relaxed) < total {
            if stream.write_all(&chunk).is_err() {
                return;
            }
            progress.fetch_add(chunk.len(), Ordering::Relaxed);
        }
        let _ = stream.shutdown(std::net::Shutdown::Write);
        thread::sleep(Duration::from_secs(600));
    });
    written
}

/// Waits until `counter` reaches `target` or stops moving for `quiet`.
fn settle(counter: &AtomicUsize, target: usize, quiet: Duration) -> usize {
    let deadline = Instant::now() + Duration::from_secs(60);
    let (mut last, mut since) = (usize::MAX, Instant::now());
    loop {
        let now = counter.load(Ordering::Relaxed);
        if now >= target || Instant::now() > deadline {
            return now;
        }
        if now != last {
            (last, since) = (now, Instant::now());
        } else if since.elapsed() >= quiet {
            return now;
        }
        thread::sleep(Duration::from_millis(20));
    }
}

const STALL: &str = "[[pipeline]]\nplugin = \"stall\"\nmillis = 200\n";

/// Floods a proxy in block mode with a 4 MiB queue, behind a stalled plugin; checks that the
/// sender is slowed and the peak RSS stays within the budget plus a constant. Returns what the
/// proxy printed at exit.
fn flood_behind_a_stall(proxy: &str, total: usize, chunk: Vec<u8>) -> String {
    let (server, _) = sink_server();
    let proxy = format!("queue_bytes = 4194304\nshutdown_timeout_secs = 1\n{proxy}");
    let (_dir, running) = start(server, &proxy, STALL, false);
    let written = flood(running.addr(), total, chunk);
    let sent = settle(&written, total, Duration::from_millis(700));
    let peak_mib = running.status_kib("VmHWM") / 1024;
    assert!(sent < total, "block mode slows the sender down once the budget is used");
    assert!(peak_mib < 4 + 120, "peak RSS {peak_mib} MiB for a 4 MiB queue");
    running.signal("TERM");
    running.finish().stderr
}

#[test]
fn a_newline_flood_behind_a_stalled_plugin_stays_within_the_byte_budget_and_slows_the_sender() {
    // 8 MiB of empty lines: 8 Mi frames, which the event-counted queue held as ~400 MiB.
    let stderr = flood_behind_a_stall("", 8 * MIB, newlines());
    assert!(stderr.contains("were not analysed"), "{stderr}");
}

#[test]
fn with_drop_a_newline_flood_is_forwarded_whole_and_memory_stays_flat() {
    let (server, received) = sink_server();
    let proxy = "queue_bytes = 4194304\noverflow = \"drop\"\nshutdown_timeout_secs = 1";
    let (_dir, running) = start(server, proxy, STALL, false);
    let written = flood(running.addr(), 8 * MIB, newlines());
    settle(&written, 8 * MIB, Duration::from_secs(5));
    let delivered = settle(&received, 8 * MIB, Duration::from_secs(5));
    assert_eq!(delivered, 8 * MIB, "every byte forwarded, never slowed");
    let peak_mib = running.status_kib("VmHWM") / 1024;
    assert!(peak_mib < 4 + 120, "peak RSS {peak_mib} MiB for a 4 MiB queue");
    running.signal("TERM");
    let done = running.finish();
    // The stalled plugin is still busy at the deadline: the drops are in that report.
    assert!(done.stderr.contains("messages lost to a full queue: "), "{}", done.stderr);
}

#[test]
fn reads_that_queue_few_bytes_do_not_pin_their_whole_buffers() {
    // Each queued read weighs a few hundred bytes (a tiny line, an oversize line's preview)
    // while its read buffer is 64 KiB: the 8,192 events the queue admits held ~512 MiB.
    flood_behind_a_stall("max_line_bytes = 1024", 1024 * MIB, sparse_lines());
}

#[test]
fn unfinished_lines_of_all_sessions_share_one_budget() {
    let (server, received) = sink_server();
    let proxy = "loop = true\nmax_partial_bytes = 8388608";
    let (_dir, running) = start(server, proxy, "[[pipeline]]\nplugin = \"stats\"\n", false);
    let line = vec![b'x'; 15 * MIB];
    let clients: Vec<TcpStream> = (0..8)
        .map(|_| {
            let mut client = TcpStream::connect(running.addr()).unwrap();
            client.write_all(&line).unwrap();
            client
        })
        .collect();
    settle(&received, 8 * 15 * MIB, Duration::from_secs(2));
    let rss_mib = running.status_kib("VmRSS") / 1024;
    // Without the budget, 8 sessions held 8 × 15 MiB (and up to twice that in buffer slack).
    assert!(rss_mib < 8 + 90, "RSS {rss_mib} MiB holding 120 MiB of unfinished lines");
    assert!(running.stderr().contains("reached max_partial_bytes"), "{}", running.stderr());
    drop(clients);
}

#[test]
fn a_new_session_is_forwarded_while_the_queue_is_full_in_drop_mode() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let server = listener.local_addr().unwrap();
    let proxy = "loop = true\nqueue = 1\noverflow = \"drop\"\nshutdown_timeout_secs = 1";
    let stall = "[[pipeline]]\nplugin = \"stall\"\nmillis = 3000\n";
    let (_dir, running) = start(server, proxy, stall, false);
    let mut first = TcpStream::connect(running.addr()).unwrap();
    let (mut first_server, _) = listener.accept().unwrap();
    for line in ["{\"n\":1}\n", "{\"n\":2}\n", "{\"n\":3}\n"] {
        first.write_all(line.as_bytes()).unwrap();
        let mut buf = [0u8; 8];
        first_server.read_exact(&mut buf).unwrap();
    }
    let mut second = TcpStream::connect(running.addr()).unwrap();
    second.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let (mut second_server, _) = listener.accept().unwrap();
    second.write_all(b"hello\n").unwrap();
    let mut got = [0u8; 6];
    second_server.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"hello\n");
    second_server.write_all(b"world\n").unwrap();
    second.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"world\n");
}

#[test]
fn shutdown_has_a_deadline_when_a_plugin_output_is_not_read() {
    let (server, _) = sink_server();
    let proxy = "shutdown_timeout_secs = 1";
    let (_dir, running) = start(server, proxy, "[[pipeline]]\nplugin = \"spy\"\n", true);
    let mut client = TcpStream::connect(running.addr()).unwrap();
    let line = format!("{{\"class\":\"x\",\"pad\":\"{}\"}}\n", "y".repeat(1000));
    for _ in 0..4000 {
        client.write_all(line.as_bytes()).unwrap();
    }
    thread::sleep(Duration::from_millis(300));
    running.signal("TERM");
    let done = running.finish();
    assert_eq!(done.status.code(), Some(1), "{}", done.stderr);
    assert!(done.stderr.contains("did not finish within 1s"), "{}", done.stderr);
    assert!(
        done.stderr.contains("plugin spy was still busy")
            || done.stderr.contains("output could not be written (is stdout being read?)"),
        "{}",
        done.stderr
    );
}

fn session_with_stats(signal: &str) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let server = listener.local_addr().unwrap();
    let (_dir, running) = start(server, "", "[[pipeline]]\nplugin = \"stats\"\n", false);
    let mut client = TcpStream::connect(running.addr()).unwrap();
    let (mut upstream, _) = listener.accept().unwrap();
    client.write_all(b"{\"class\":\"login_id\"}\n").unwrap();
    let mut buf = [0u8; 21];
    upstream.read_exact(&mut buf).unwrap();
    running.signal(signal);
    let done = running.finish();
    assert!(done.status.success(), "{signal}: {}", done.stderr);
    assert!(done.stdout.contains("login_id"), "{signal}: statistics printed: {}", done.stdout);
    assert!(done.stderr.contains("finishing sessions and flushing plugins"), "{}", done.stderr);
}

#[test]
fn sighup_and_sigquit_finish_like_sigterm() {
    session_with_stats("HUP");
    session_with_stats("QUIT");
}

#[test]
fn shutdown_does_not_wait_for_a_server_that_never_accepts() {
    // A listener whose backlog is full: further connects hang in SYN retries.
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    let _guard = runtime.enter();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let listener = socket.listen(1).unwrap();
    let server = listener.local_addr().unwrap();
    let _fill: Vec<std::net::TcpStream> = (0..4).filter_map(|_| connect_briefly(server)).collect();
    let proxy = "connect_timeout_secs = 120";
    let (_dir, running) = start(server, proxy, "", false);
    let _client = TcpStream::connect(running.addr()).unwrap();
    thread::sleep(Duration::from_millis(300));
    let started = Instant::now();
    running.signal("TERM");
    let done = running.finish();
    assert!(started.elapsed() < Duration::from_secs(60), "did not wait for the connect timeout");
    assert!(done.stderr.contains("shut down while connecting"), "{}", done.stderr);
}

/// A connect that gives up after a second (so filling a backlog never hangs the test).
fn connect_briefly(addr: SocketAddr) -> Option<TcpStream> {
    TcpStream::connect_timeout(&addr, Duration::from_secs(1)).ok()
}

#[test]
fn a_server_reset_reaches_the_client_as_a_reset() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let server = listener.local_addr().unwrap();
    let (_dir, running) = start(server, "", "", false);
    let mut client = TcpStream::connect(running.addr()).unwrap();
    let (mut upstream, _) = listener.accept().unwrap();
    // Mid-stream: a line goes through first.
    upstream.write_all(b"{\"class\":\"login_id\"}\n").unwrap();
    let mut line = [0u8; 21];
    client.read_exact(&mut line).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async move {
        upstream.set_nonblocking(true).unwrap();
        let upstream = tokio::net::TcpStream::from_std(upstream).unwrap();
        upstream.set_zero_linger().unwrap();
        drop(upstream); // closing with linger 0 sends a reset
    });
    client.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut buf = [0u8; 16];
    let read = client.read(&mut buf);
    assert!(
        matches!(&read, Err(e) if e.kind() == ErrorKind::ConnectionReset),
        "expected a reset, got {read:?}\n{}",
        running.stderr()
    );
}

#[test]
fn max_sessions_closes_the_client_beyond() {
    let (server, _) = sink_server();
    let (_dir, running) = start(server, "loop = true\nmax_sessions = 1", "", false);
    let _first = TcpStream::connect(running.addr()).unwrap();
    thread::sleep(Duration::from_millis(200));
    let mut second = TcpStream::connect(running.addr()).unwrap();
    second.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut buf = [0u8; 1];
    assert!(matches!(second.read(&mut buf), Ok(0) | Err(_)), "closed at once");
    thread::sleep(Duration::from_millis(100));
    assert!(running.stderr().contains("(max_sessions)"), "{}", running.stderr());
}

#[test]
fn an_idle_session_is_closed_after_idle_timeout() {
    let (server, _) = sink_server();
    let (_dir, running) = start(server, "idle_timeout_secs = 0.5", "", false);
    let mut client = TcpStream::connect(running.addr()).unwrap();
    client.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut buf = [0u8; 1];
    assert!(matches!(client.read(&mut buf), Ok(0)), "closed when idle");
    let done = running.finish();
    assert!(done.stderr.contains("idle for 500ms"), "{}", done.stderr);
}

#[test]
fn a_shutdown_under_load_never_captures_a_line_the_server_did_not_get() {
    // A server that reads slowly, so writes to it are pending when the stop comes.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let server = listener.local_addr().unwrap();
    let received = Arc::new(AtomicUsize::new(0));
    let counted = received.clone();
    let reader = thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut buf = vec![0u8; 16 * 1024];
        while let Ok(n) = stream.read(&mut buf) {
            if n == 0 {
                break;
            }
            counted.fetch_add(buf[..n].iter().filter(|b| **b == b'\n').count(), Ordering::Relaxed);
            thread::sleep(Duration::from_millis(2));
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let capture = dir.path().join("c.jsonl");
    let save = format!(
        "[[pipeline]]\nplugin = \"save\"\nformat = \"jsonl\"\nfile = \"{}\"\n",
        capture.display()
    );
    let (_dir, running) = start(server, "", &save, false);
    let mut client = TcpStream::connect(running.addr()).unwrap();
    let line = format!("{{\"class\":\"x\",\"pad\":\"{}\"}}\n", "y".repeat(200));
    let writer = thread::spawn(move || {
        for _ in 0..100_000 {
            if client.write_all(line.as_bytes()).is_err() {
                return;
            }
        }
    });
    thread::sleep(Duration::from_millis(500));
    running.signal("TERM");
    let done = running.finish();
    let _ = writer.join();
    reader.join().unwrap(); // to the end of the stream: what was in flight counts
    assert!(done.status.success(), "{}", done.stderr);
    let captured = std::fs::read_to_string(&capture).unwrap();
    // A tail cut by the stop is captured flagged `no_newline`: its bytes went, its `\n` never came.
    let whole = |l: &&str| l.contains("\"dir\":\"client\"") && !l.contains("\"no_newline\":true");
    let captured = captured.lines().filter(whole).count();
    let delivered = received.load(Ordering::Relaxed);
    assert!(captured > 0);
    assert!(captured <= delivered, "captured {captured} lines, the server got {delivered}");
}

#[test]
fn a_run_that_ends_with_its_session_analyses_everything_whatever_the_deadline() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let server = listener.local_addr().unwrap();
    let pipeline = "[[pipeline]]\nplugin = \"stall\"\nmillis = 20\n\n[[pipeline]]\nplugin = \"stats\"\nformat = \"json\"\nshow = \"msg\"\n";
    let (_dir, running) = start(server, "shutdown_timeout_secs = 0.2", pipeline, false);
    let mut client = TcpStream::connect(running.addr()).unwrap();
    let (mut upstream, _) = listener.accept().unwrap();
    for n in 0..60 {
        client.write_all(format!("{{\"class\":\"c{}\"}}\n", n % 3).as_bytes()).unwrap();
    }
    drop(client);
    let mut forwarded = Vec::new();
    upstream.read_to_end(&mut forwarded).unwrap();
    drop(upstream); // the session ends: 60 × 20 ms of analysis is still queued
    let done = running.finish();
    assert!(done.status.success(), "{}", done.stderr);
    let report: serde_json::Value =
        serde_json::from_str(done.stdout.lines().last().expect("a report")).unwrap();
    assert_eq!(report["messages"]["client"], 60, "every message analysed: {report}");
}
