//! MI latency benchmark: a CTI message in, its OpenSIPS MI datagram out, through the real
//! `ctiproxy run` process and the `mi` plugin (config.example.toml's rules, sending for real),
//! against the same command sent by one `ctiproxy mi` process per event, the way a shell
//! script driving OpenSIPS from CTI events would do it, measured in the same run.
//!
//! `cargo bench -p ctiproxy --bench mi_latency` (release build). Reports ratios, never asserts
//! timings: shared machines make timed tests flaky.
//!
//! Everything is on loopback. A stub CTI server (this process) stands behind the proxy; the MI
//! server is `ctiproxy_mi`'s test server, behind a relay that stamps each request datagram the
//! instant it arrives (a blocking receive, no polling) and passes it on, and the reply back.
//! One message at a time: message i is written, its MI request arrives, its reply goes back to
//! the plugin's worker, then message i+1 is written, so no measurement waits behind another.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use ctiproxy_mi::test_server::TestServer;

/// Voicemail updates measured through the plugin.
const MESSAGES: usize = 2_000;
/// Updates sent first and not measured (page faults, lazy initialisation, caches).
const WARMUP: usize = 100;
/// `ctiproxy mi` processes measured.
const SPAWNS: usize = 200;
/// Processes run first and not measured.
const SPAWN_WARMUP: usize = 10;
/// Longest wait for anything before the bench gives up (a broken setup, not a slow machine).
const PATIENCE: Duration = Duration::from_secs(20);

/// The phone whose lamp the example's `mwi-lamp` rule updates (the fixtures' Bob).
const PHONE: &str = "sip:1002@pbx.example.com";

// ---------------------------------------------------------------------------------------------
// The relay in front of the test MI server.

/// What the relay saw.
enum Note {
    /// A request datagram arrived; `mwi` when it is a message-summary NOTIFY.
    Arrived { at: Instant, mwi: bool },
    /// A reply went back to the requester.
    Replied,
}

/// A UDP relay that stamps each MI request's arrival, forwards it to the test server and its
/// reply back to the request's source port (matched by JSON-RPC id).
struct Relay {
    addr: SocketAddr,
    notes: Receiver<Note>,
    arrived: usize,
    replied: usize,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl Relay {
    fn start(server: &str) -> Relay {
        let front = UdpSocket::bind("127.0.0.1:0").expect("bind the relay");
        let upstream = UdpSocket::bind("127.0.0.1:0").expect("bind the relay's upstream side");
        upstream.connect(server).expect("connect to the test MI server");
        for socket in [&front, &upstream] {
            socket.set_read_timeout(Some(Duration::from_millis(100))).unwrap();
        }
        let addr = front.local_addr().unwrap();
        let (tx, notes) = mpsc::channel();
        let stop = Arc::new(AtomicBool::new(false));
        let peers: Arc<Mutex<HashMap<String, SocketAddr>>> = Arc::default();
        let requests = {
            let (front, upstream) = (front.try_clone().unwrap(), upstream.try_clone().unwrap());
            let (tx, stop, peers) = (tx.clone(), stop.clone(), peers.clone());
            thread::spawn(move || relay_requests(&front, &upstream, &tx, &stop, &peers))
        };
        let replies = {
            let stop = stop.clone();
            thread::spawn(move || relay_replies(&upstream, &front, &tx, &stop, &peers))
        };
        Relay { addr, notes, arrived: 0, replied: 0, stop, threads: vec![requests, replies] }
    }

    fn next(&mut self, waiting_for: &str) -> Note {
        let note = self
            .notes
            .recv_timeout(PATIENCE)
            .unwrap_or_else(|_| panic!("no MI traffic for {PATIENCE:?} waiting for {waiting_for}"));
        match note {
            Note::Arrived { .. } => self.arrived += 1,
            Note::Replied => self.replied += 1,
        }
        note
    }

    /// The arrival instant of the next message-summary NOTIFY (other requests are counted).
    fn next_mwi(&mut self, waiting_for: &str) -> Instant {
        loop {
            if let Note::Arrived { at, mwi: true } = self.next(waiting_for) {
                return at;
            }
        }
    }

    /// Waits until every request that arrived has had its reply relayed back.
    fn settle(&mut self, waiting_for: &str) {
        while self.replied < self.arrived {
            self.next(waiting_for);
        }
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

fn is_timeout(error: &std::io::Error) -> bool {
    matches!(error.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut)
}

/// The JSON-RPC id of a request or reply, as text.
fn rpc_id(datagram: &[u8]) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(datagram).ok()?;
    value.get("id").map(|id| id.to_string())
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn relay_requests(
    front: &UdpSocket,
    upstream: &UdpSocket,
    notes: &Sender<Note>,
    stop: &AtomicBool,
    peers: &Mutex<HashMap<String, SocketAddr>>,
) {
    let mut buffer = vec![0u8; 65536];
    while !stop.load(Ordering::SeqCst) {
        let (length, peer) = match front.recv_from(&mut buffer) {
            Ok(received) => received,
            Err(e) if is_timeout(&e) => continue,
            Err(e) => panic!("relay receive: {e}"),
        };
        let at = Instant::now();
        let request = &buffer[..length];
        if let Some(id) = rpc_id(request) {
            peers.lock().unwrap().insert(id, peer);
        }
        upstream.send(request).expect("relay to the test MI server");
        let mwi = contains(request, b"message-summary");
        if notes.send(Note::Arrived { at, mwi }).is_err() {
            return;
        }
    }
}

fn relay_replies(
    upstream: &UdpSocket,
    front: &UdpSocket,
    notes: &Sender<Note>,
    stop: &AtomicBool,
    peers: &Mutex<HashMap<String, SocketAddr>>,
) {
    let mut buffer = vec![0u8; 65536];
    while !stop.load(Ordering::SeqCst) {
        let length = match upstream.recv(&mut buffer) {
            Ok(length) => length,
            Err(e) if is_timeout(&e) => continue,
            Err(e) => panic!("relay receive from the test MI server: {e}"),
        };
        let reply = &buffer[..length];
        let peer = rpc_id(reply).and_then(|id| peers.lock().unwrap().remove(&id));
        let peer = peer.unwrap_or_else(|| {
            panic!("a reply matching no request: {}", String::from_utf8_lossy(reply))
        });
        front.send_to(reply, peer).expect("relay the reply");
        if notes.send(Note::Replied).is_err() {
            return;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The proxy process.

/// A directory holding a link to the `mi` plugin library this bench build made (the freshest
/// of `target/release/deps` and `target/release`), for `CTIPROXY_PLUGIN_PATH`.
fn plugin_dir() -> tempfile::TempDir {
    let exe = PathBuf::from(env!("CARGO_BIN_EXE_ctiproxy"));
    let target = exe.parent().expect("the binary has a directory");
    let name =
        format!("{}ctiproxy_mi{}", std::env::consts::DLL_PREFIX, std::env::consts::DLL_SUFFIX);
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    let library = [target.join("deps").join(&name), target.join(&name)]
        .into_iter()
        .filter(|p| p.exists())
        .max_by_key(|p| modified(p))
        .unwrap_or_else(|| panic!("{name} not found in {}/deps or beside it", target.display()));
    let dir = tempfile::tempdir().expect("temp dir");
    std::os::unix::fs::symlink(&library, dir.path().join(&name)).expect("link the plugin");
    dir
}

/// `ctiproxy run`, killed when dropped; its stderr is collected.
struct Proxy {
    child: Child,
    stderr: Arc<Mutex<Vec<u8>>>,
    addr: SocketAddr,
    _dir: tempfile::TempDir,
}

impl Proxy {
    /// Starts `ctiproxy run -c CONFIG` and waits until it listens.
    fn start(config_text: &str, plugins: &Path) -> Proxy {
        let dir = tempfile::tempdir().expect("temp dir");
        let config = dir.path().join("config.toml");
        std::fs::write(&config, config_text).expect("write the config");
        let mut child = Command::new(env!("CARGO_BIN_EXE_ctiproxy"))
            .arg("run")
            .arg("-c")
            .arg(&config)
            .env("CTIPROXY_PLUGIN_PATH", plugins)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn ctiproxy run");
        let stderr: Arc<Mutex<Vec<u8>>> = Arc::default();
        let mut pipe = child.stderr.take().unwrap();
        let collected = stderr.clone();
        thread::spawn(move || {
            let mut buffer = [0u8; 8192];
            while let Ok(n @ 1..) = pipe.read(&mut buffer) {
                collected.lock().unwrap().extend_from_slice(&buffer[..n]);
            }
        });
        let deadline = Instant::now() + PATIENCE;
        let addr = loop {
            let text = String::from_utf8_lossy(&stderr.lock().unwrap()).into_owned();
            let listening = text.lines().find_map(|l| l.split("Listening on ").nth(1));
            if let Some(addr) = listening.and_then(|a| a.split_whitespace().next()) {
                break addr.trim_end_matches('.').parse().expect("the listening address");
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!("ctiproxy run exited with {status} before listening:\n{text}");
            }
            assert!(Instant::now() < deadline, "ctiproxy run never listened:\n{text}");
            thread::sleep(Duration::from_millis(10));
        };
        Proxy { child, stderr, addr, _dir: dir }
    }

    fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.stderr.lock().unwrap()).into_owned()
    }

    /// Asks the proxy to stop (SIGINT) and waits for a successful exit.
    fn stop(mut self) {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").arg("-INT").arg(&pid).status();
        let deadline = Instant::now() + PATIENCE;
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("wait for ctiproxy run") {
                break status;
            }
            assert!(Instant::now() < deadline, "ctiproxy run did not stop:\n{}", self.stderr());
            thread::sleep(Duration::from_millis(10));
        };
        assert!(status.success(), "ctiproxy run exited with {status}:\n{}", self.stderr());
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------------------------------------
// The measurements.

/// config.example.toml's `mi` entry (its `mwi-lamp` rule: state lookups, `when`, `each` and
/// templates rendering from the message), sending for real through `relay`.
fn mi_entry(relay: SocketAddr) -> String {
    let example = ctiproxy::demo::example_mi_entry();
    let entry = example
        .replace("dry_run = true", "dry_run = false")
        .replace("datagram = \"127.0.0.1:8809\"", &format!("datagram = \"{relay}\""));
    assert!(
        entry.contains("dry_run = false") && entry.contains(&relay.to_string()),
        "config.example.toml's mi entry changed shape:\n{example}"
    );
    entry
}

/// The CTI configuration the rule needs: voicemail 3 is Bob's (user 4), whose line 8 is 1002.
const SETUP: &str = concat!(
    r#"{"class":"getlist","function":"updateconfig","listname":"voicemails","tipbxid":"xivo","tid":"3","config":{"context":"default","mailbox":"1002"},"timenow":1550844512.48}"#,
    "\n",
    r#"{"class":"getlist","function":"updateconfig","listname":"users","tipbxid":"xivo","tid":"4","config":{"firstname":"Bob","lastname":"Durand","fullname":"Bob Durand","voicemailid":3,"linelist":["8"]},"timenow":1550844512.44}"#,
    "\n",
    r#"{"class":"getlist","function":"updateconfig","listname":"phones","tipbxid":"xivo","tid":"8","config":{"number":"1002","iduserfeatures":4,"identity":"SIP/x2gjtw"},"timenow":1550844512.50}"#,
    "\n",
);

/// Voicemail 3 now holds `count` new messages (a different count each time, so the rule's
/// `changed('status.new')` holds).
fn mailbox_update(count: usize) -> String {
    format!(
        "{{\"class\":\"getlist\",\"function\":\"updatestatus\",\"listname\":\"voicemails\",\"tipbxid\":\"xivo\",\"tid\":\"3\",\"status\":{{\"new\":\"{count}\"}},\"timenow\":{}.{:02}}}\n",
        1_550_844_700 + count,
        count % 100
    )
}

/// Through the proxy and the plugin: each message's write → its MI request's arrival.
fn through_the_plugin(
    mi: &TestServer,
    relay: &mut Relay,
    plugins: &Path,
) -> (Vec<Duration>, Duration) {
    let stub = TcpListener::bind("127.0.0.1:0").expect("bind the stub CTI server");
    let config = format!(
        "[proxy]\nlisten = \"127.0.0.1:0\"\nserver = \"{}\"\n\n{}",
        stub.local_addr().unwrap(),
        mi_entry(relay.addr)
    );
    let proxy = Proxy::start(&config, plugins);
    let client = TcpStream::connect(proxy.addr).expect("connect to the proxy");
    // The client reads whatever the proxy forwards, so nothing backs up.
    let drain = thread::spawn(move || std::io::copy(&mut &client, &mut std::io::sink()));
    let (mut server, _) = stub.accept().expect("the proxy connects to the stub server");
    server.set_nodelay(true).unwrap();
    server.write_all(SETUP.as_bytes()).unwrap();

    let mut latencies = Vec::with_capacity(MESSAGES);
    let mut measured_from = Instant::now();
    for n in 0..WARMUP + MESSAGES {
        if n == WARMUP {
            measured_from = Instant::now();
        }
        let line = mailbox_update(n);
        let written = Instant::now();
        server.write_all(line.as_bytes()).unwrap();
        let arrived = relay.next_mwi(&format!("the lamp update of message {n}"));
        relay.settle(&format!("the reply to message {n}'s update"));
        if n >= WARMUP {
            latencies.push(arrived.saturating_duration_since(written));
        }
    }
    let took = measured_from.elapsed();

    let last = mi.uac_requests().pop().expect("the test MI server saw the updates");
    let expected = format!("Voice-Message: {}/0", WARMUP + MESSAGES - 1);
    assert!(
        last.ruri == PHONE && last.body.as_deref().unwrap_or("").contains(&expected),
        "the last update is not for the last message: {last:?}"
    );
    drop(server);
    let _ = drain.join();
    proxy.stop();
    (latencies, took)
}

/// One `ctiproxy mi … mwi-update` process per command: spawn → its request's arrival, and
/// spawn → exit (the reply received and printed).
fn process_per_command(relay: &mut Relay) -> (Vec<Duration>, Vec<Duration>) {
    let (mut to_datagram, mut to_exit) = (Vec::new(), Vec::new());
    let target = relay.addr.to_string();
    for n in 0..SPAWN_WARMUP + SPAWNS {
        let count = (n % 10).to_string();
        let spawned = Instant::now();
        let output = Command::new(env!("CARGO_BIN_EXE_ctiproxy"))
            .args(["mi", "--datagram", &target, "mwi-update", PHONE, PHONE, &count, "0"])
            .stdin(Stdio::null())
            .output()
            .expect("spawn ctiproxy mi");
        let exited = Instant::now();
        assert!(
            output.status.success(),
            "ctiproxy mi exited with {}: {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        let arrived = relay.next_mwi(&format!("process {n}'s request"));
        relay.settle(&format!("the reply to process {n}"));
        if n >= SPAWN_WARMUP {
            to_datagram.push(arrived.saturating_duration_since(spawned));
            to_exit.push(exited - spawned);
        }
    }
    (to_datagram, to_exit)
}

// ---------------------------------------------------------------------------------------------
// The report.

/// The `q` quantile (0.5, 0.99, 1.0) of sorted durations.
fn quantile(sorted: &[Duration], q: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

fn show(d: Duration) -> String {
    let micros = d.as_secs_f64() * 1e6;
    if micros < 1_000.0 {
        format!("{micros:.0} µs")
    } else {
        format!("{:.2} ms", micros / 1_000.0)
    }
}

fn row(name: &str, mut samples: Vec<Duration>, rest: &str) -> Duration {
    samples.sort();
    let p50 = quantile(&samples, 0.5);
    let line = format!(
        "{name:<42} {:>9} {:>9} {:>9}  {rest}",
        show(p50),
        show(quantile(&samples, 0.99)),
        show(quantile(&samples, 1.0)),
    );
    println!("{}", line.trim_end());
    p50
}

fn main() {
    let mi = TestServer::start();
    let mut relay = Relay::start(&mi.datagram_addr());
    let plugins = plugin_dir();

    let (plugin, took) = through_the_plugin(&mi, &mut relay, plugins.path());
    let (spawn_datagram, spawn_exit) = process_per_command(&mut relay);
    assert_eq!(mi.request_count(), relay.arrived, "every relayed request reached the MI server");

    println!(
        "ctiproxy MI latency on loopback: a CTI message in → its OpenSIPS MI datagram out\n\
         (mi plugin: {MESSAGES} voicemail updates through `ctiproxy run`, one at a time, after \
         {WARMUP} unmeasured;\n ctiproxy mi: {SPAWNS} processes, after {SPAWN_WARMUP} unmeasured)\n"
    );
    println!("{:<42} {:>9} {:>9} {:>9}", "", "p50", "p99", "max");
    let rate = MESSAGES as f64 / took.as_secs_f64();
    let plugin_p50 = row(
        "mi plugin: CTI line → MI datagram",
        plugin,
        &format!("{rate:.0} msg/s, one at a time with its reply"),
    );
    row("ctiproxy mi per process: spawn → datagram", spawn_datagram, "");
    let process_p50 = row("ctiproxy mi per process: spawn → exit", spawn_exit, "");
    println!(
        "\nthe plugin is {:.0}x faster at p50 (process spawn → exit / plugin message → datagram)",
        process_p50.as_secs_f64() / plugin_p50.as_secs_f64()
    );
}
