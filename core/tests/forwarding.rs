//! Forwarding through the real `ctiproxy run`: byte-exact under random chunking with concurrent
//! sessions (and the pipeline saw every line once, in order), half-close, an unreachable server.
mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::thread;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::SeedableRng;
use sha2::{Digest, Sha256};
use support::{ctiproxy, payload, proxy_config, write_config, Running};

/// Writes in random chunks from 1 byte to 64 KiB.
fn write_chunked(stream: &mut TcpStream, data: &[u8], rng: &mut StdRng) {
    let mut at = 0;
    while at < data.len() {
        let size = support::chunk_size(rng, data.len() - at);
        stream.write_all(&data[at..at + size]).unwrap();
        at += size;
    }
}

fn digest(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

/// Per connection: (client id, bytes received, bytes sent).
type ServerLog = Vec<(usize, Vec<u8>, Vec<u8>)>;

/// A server that, per connection, reads the client's first line, then sends its own payload
/// while reading the rest; returns (client id, what it received, what it sent).
fn start_echoless_server(
    connections: usize,
    seed: u64,
) -> (SocketAddr, thread::JoinHandle<ServerLog>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let handle = thread::spawn(move || {
        let workers: Vec<_> = (0..connections)
            .map(|n| {
                let (stream, _) = listener.accept().unwrap();
                thread::spawn(move || serve_one(stream, seed + 1000 + n as u64))
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).collect()
    });
    (addr, handle)
}

fn serve_one(stream: TcpStream, seed: u64) -> (usize, Vec<u8>, Vec<u8>) {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut first = String::new();
    reader.read_line(&mut first).unwrap();
    let id: usize = serde_json::from_str::<serde_json::Value>(&first).unwrap()["client"]
        .as_u64()
        .unwrap() as usize;
    let sent = payload(&mut rng, id, "server", 150);
    let mut writer = stream;
    let sender = {
        let sent = sent.clone();
        thread::spawn(move || {
            write_chunked(&mut writer, &sent, &mut rng);
            writer.shutdown(Shutdown::Write).unwrap();
        })
    };
    let mut received = first.into_bytes();
    reader.read_to_end(&mut received).unwrap();
    sender.join().unwrap();
    (id, received, sent)
}

fn run_client(proxy: SocketAddr, id: usize, seed: u64) -> (Vec<u8>, Vec<u8>) {
    let mut rng = StdRng::seed_from_u64(seed + id as u64);
    let sent = payload(&mut rng, id, "client", 150);
    let mut stream = TcpStream::connect(proxy).unwrap();
    let mut reader = stream.try_clone().unwrap();
    let receiver = thread::spawn(move || {
        let mut received = Vec::new();
        reader.read_to_end(&mut received).unwrap();
        received
    });
    write_chunked(&mut stream, &sent, &mut rng);
    stream.shutdown(Shutdown::Write).unwrap();
    (sent, receiver.join().unwrap())
}

/// Lines per (session, direction) from the jsonl capture, in file order.
fn captured_lines(capture: &str) -> std::collections::BTreeMap<(u64, String), Vec<String>> {
    let mut map = std::collections::BTreeMap::<(u64, String), Vec<String>>::new();
    for record in capture.lines() {
        let v: serde_json::Value = serde_json::from_str(record).unwrap();
        if let Some(line) = v.get("line").and_then(|l| l.as_str()) {
            let key = (v["session"].as_u64().unwrap(), v["dir"].as_str().unwrap().to_owned());
            map.entry(key).or_default().push(line.to_owned());
        }
    }
    map
}

fn lines_of(data: &[u8]) -> Vec<String> {
    String::from_utf8(data.to_vec()).unwrap().lines().map(str::to_owned).collect()
}

#[test]
fn byte_exact_with_random_chunking_and_concurrent_sessions() {
    let seed: u64 = rand::random();
    eprintln!("seed {seed}");
    const CLIENTS: usize = 4;
    let dir = tempfile::tempdir().unwrap();
    let capture = dir.path().join("capture.jsonl");
    let (server, server_thread) = start_echoless_server(CLIENTS, seed);
    let pipeline = format!(
        "[[pipeline]]\nplugin = \"save\"\nformat = \"jsonl\"\nfile = {:?}\n",
        capture.display().to_string()
    );
    let config = write_config(dir.path(), &proxy_config(server, "loop = true", &pipeline));
    let proxy = Running::start({
        let mut cmd = ctiproxy();
        cmd.arg("run").arg("-c").arg(&config);
        cmd
    });
    let addr = proxy.addr();
    let clients: Vec<_> =
        (0..CLIENTS).map(|id| thread::spawn(move || run_client(addr, id, seed))).collect();
    let clients: Vec<(Vec<u8>, Vec<u8>)> = clients.into_iter().map(|c| c.join().unwrap()).collect();
    let servers = server_thread.join().unwrap();
    for (id, server_received, server_sent) in &servers {
        let (client_sent, client_received) = &clients[*id];
        assert_eq!(
            digest(server_received),
            digest(client_sent),
            "client {id} → server bytes differ (seed {seed})"
        );
        assert_eq!(
            digest(client_received),
            digest(server_sent),
            "server → client {id} bytes differ (seed {seed})"
        );
    }
    proxy.signal("INT");
    let done = proxy.finish();
    assert!(done.status.success(), "{}", done.stderr);
    let captured = captured_lines(&std::fs::read_to_string(&capture).unwrap());
    assert_eq!(captured.len(), CLIENTS * 2, "one entry per session and direction");
    for ((_, dir), lines) in &captured {
        let id = serde_json::from_str::<serde_json::Value>(&lines[0]).unwrap()["client"]
            .as_u64()
            .unwrap() as usize;
        let expected = if dir == "client" { &clients[id].0 } else { &clients[id].1 };
        assert_eq!(
            lines,
            &lines_of(expected),
            "pipeline saw {dir} lines of client {id} out of order or not once"
        );
    }
}

fn run_proxy(server: SocketAddr, extra: &str) -> (tempfile::TempDir, Running) {
    support::start_proxy(
        server,
        extra,
        "[[pipeline]]
plugin = \"spy\"
",
    )
}

#[test]
fn half_close_lets_the_server_answer_after_the_client_stopped_sending() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let server_addr = listener.local_addr().unwrap();
    let server = thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut received = Vec::new();
        stream.read_to_end(&mut received).unwrap(); // the client's EOF arrives first
        for n in 0..3 {
            stream.write_all(format!("{{\"class\":\"late\",\"n\":{n}}}\n").as_bytes()).unwrap();
            thread::sleep(Duration::from_millis(50));
        }
        received
    });
    let (_dir, proxy) = run_proxy(server_addr, "");
    let mut client = TcpStream::connect(proxy.addr()).unwrap();
    client.write_all(b"{\"class\":\"logout\"}\n").unwrap();
    client.shutdown(Shutdown::Write).unwrap();
    let lines = support::read_lines(client);
    assert_eq!(server.join().unwrap(), b"{\"class\":\"logout\"}\n");
    assert_eq!(
        lines,
        vec![r#"{"class":"late","n":0}"#, r#"{"class":"late","n":1}"#, r#"{"class":"late","n":2}"#]
    );
    let done = proxy.finish();
    assert!(done.status.success(), "{}", done.stderr);
    assert!(done.stdout.contains(r#"{"class": "late", "n": 2}"#), "{}", done.stdout);
}

fn closed_address() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap()
}

fn assert_closed_promptly(proxy: SocketAddr) {
    let mut client = TcpStream::connect(proxy).unwrap();
    client.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut buf = [0u8; 16];
    let n = client.read(&mut buf).unwrap_or(0);
    assert_eq!(n, 0, "the proxy must close the client when the server is unreachable");
}

#[test]
fn unreachable_server_closes_the_client_and_exits_with_an_error() {
    let (_dir, proxy) = run_proxy(closed_address(), "");
    assert_closed_promptly(proxy.addr());
    let done = proxy.finish();
    assert_eq!(done.status.code(), Some(1), "{}", done.stderr);
    assert!(done.stderr.contains("Cannot reach the CTI server"), "{}", done.stderr);
    assert!(done.stderr.to_lowercase().contains("refused"), "{}", done.stderr);
}

#[test]
fn unreachable_server_with_loop_keeps_serving() {
    let (_dir, mut proxy) = run_proxy(closed_address(), "loop = true");
    assert_closed_promptly(proxy.addr());
    assert_closed_promptly(proxy.addr());
    assert!(proxy.is_running(), "the proxy must keep serving with loop");
    proxy.signal("TERM");
    let done = proxy.finish();
    assert!(done.status.success(), "{}", done.stderr);
    assert_eq!(done.stderr.matches("Cannot reach the CTI server").count(), 2, "{}", done.stderr);
}

#[test]
fn shutdown_does_not_wait_for_a_client_that_stopped_reading() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let server_addr = listener.local_addr().unwrap();
    // The server floods; the client never reads, so the proxy's write to it blocks.
    thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let block = vec![b'x'; 64 * 1024];
        while stream.write_all(&block).is_ok() {}
    });
    let (_dir, proxy) =
        support::start_proxy(server_addr, "loop = true", "[[pipeline]]\nplugin = \"stats\"\n");
    let _silent_client = TcpStream::connect(proxy.addr()).unwrap();
    // Wait until the proxy is stuck writing to the client: the server stops getting through.
    thread::sleep(Duration::from_millis(500));
    proxy.signal("TERM");
    let done = proxy.finish(); // panics if the proxy never exits
    assert!(done.status.success(), "{}", done.stderr);
    assert!(
        done.stdout.contains("proxy shutting down"),
        "the session's end is reported:\n{}",
        done.stdout
    );
}
