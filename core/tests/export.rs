//! The export plugin through the real `ctiproxy` binary, real sockets and a real `nats-server`
//! with JetStream (support/nats.rs), read back with async-nats: every record arrives once, in
//! order, with its subject and the save plugin's record; a NATS restart in mid-session loses
//! and doubles nothing while forwarding stays byte-exact; a full buffer drops as `on_full`
//! says and counts it; TLS works with the server's CA; wrong settings fail clearly.
#[path = "support/nats.rs"]
mod nats;
#[path = "support/tls.rs"]
mod peers;
mod support;

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::thread::JoinHandle;

use nats::{NatsServer, Stored};
use serde_json::Value;
use support::{
    ctiproxy, session_steps, start_client, start_proxy, start_server, Finished, Running,
};

/// An export entry publishing to `url`, with `extra` settings.
fn export_entry(url: &str, extra: &str) -> String {
    format!("[[pipeline]]\nplugin = \"export\"\nurl = \"{url}\"\nproxy = \"test-proxy\"\n{extra}\n")
}

/// `pbx` as the default subject shows it: the server address, made one token.
fn pbx_token(server: SocketAddr) -> String {
    server.to_string().replace(['.', ':'], "_")
}

/// A record without the proxy's identity: what the save plugin writes.
fn without_identity(record: &Value) -> Value {
    let mut record = record.clone();
    let map = record.as_object_mut().expect("record is an object");
    map.shift_remove("proxy");
    map.shift_remove("pbx");
    record
}

/// The class a record's subject names: the message's class, `start`/`end` for sessions.
fn expected_class(record: &Value) -> String {
    if let Some(event) = record["event"].as_str() {
        return event.to_owned();
    }
    let line: Value = serde_json::from_str(record["line"].as_str().expect("line")).expect("json");
    line["class"]
        .as_str()
        .unwrap_or("none")
        .replace(|c: char| !c.is_ascii_alphanumeric() && c != '-', "_")
}

#[test]
fn a_session_arrives_once_in_order_as_the_save_plugin_records_it() {
    let nats = NatsServer::start();
    let dir = tempfile::tempdir().unwrap();
    let capture = dir.path().join("capture.jsonl");
    let pipeline = format!(
        "[[pipeline]]\nplugin = \"save\"\nformat = \"jsonl\"\nfile = {capture:?}\n{}",
        export_entry(&nats.url(), "")
    );
    let steps = session_steps();
    let (server_addr, cti_server) = start_server(steps.clone()).expect("test server");
    let (_config, proxy) = start_proxy(server_addr, "", &pipeline);
    start_client(proxy.addr(), steps).join().unwrap().expect("client played");
    cti_server.join().unwrap().expect("server played");
    let finished = proxy.finish();
    assert!(finished.status.success(), "{}", finished.stderr);

    let saved: Vec<Value> = std::fs::read_to_string(&capture)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let stored = nats::read_stream(&nats.url(), "CTI");
    assert!(saved.len() > 10, "the session has messages: {}", saved.len());
    assert_eq!(stored.len(), saved.len(), "one record per event, no more");
    let pbx = pbx_token(server_addr);
    for (stored, saved) in stored.iter().zip(&saved) {
        assert_eq!(without_identity(&stored.payload), *saved, "same record as the capture");
        assert_eq!(stored.payload["proxy"], "test-proxy");
        assert_eq!(stored.payload["pbx"], server_addr.to_string());
        let direction = saved["dir"].as_str().unwrap_or("session");
        let subject = format!("cti.{pbx}.{direction}.{}", expected_class(saved));
        assert_eq!(stored.subject, subject);
    }
    assert_unique_ids(&stored);
    let counter = format!("Plugin counter published = {}.", saved.len());
    assert!(finished.stderr.contains(&counter), "{counter}\n{}", finished.stderr);
    assert_replays_as_saved(&stored, &saved, dir.path());
}

/// The records written to a file, one a line, replay as a capture: saved again, they are the
/// capture the save plugin wrote live.
fn assert_replays_as_saved(stored: &[Stored], saved: &[Value], dir: &Path) {
    let exported = dir.join("exported.jsonl");
    let lines: String = stored.iter().map(|s| format!("{}\n", s.payload)).collect();
    std::fs::write(&exported, lines).unwrap();
    let resaved = dir.join("resaved.jsonl");
    let pipeline =
        format!("[[pipeline]]\nplugin = \"save\"\nformat = \"jsonl\"\nfile = {resaved:?}\n");
    let config = support::write_config(dir, &pipeline);
    let mut cmd = ctiproxy();
    cmd.arg("replay").arg("-c").arg(&config).arg(&exported);
    let finished = Running::spawn(cmd).finish();
    assert!(finished.status.success(), "{}", finished.stderr);
    let resaved: Vec<Value> = std::fs::read_to_string(&resaved)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(resaved, saved);
}

fn assert_unique_ids(stored: &[Stored]) {
    let ids: HashSet<&str> =
        stored.iter().map(|s| s.msg_id.as_deref().expect("Nats-Msg-Id")).collect();
    assert_eq!(ids.len(), stored.len(), "every record has its own Nats-Msg-Id");
}

/// What a peer received and sent.
type Exchanged = (Vec<u8>, Vec<u8>);

/// A CTI server that answers each line with a `pong` line; returns what it received and sent.
fn pong_server() -> (SocketAddr, JoinHandle<Exchanged>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let handle = std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut writer = stream.try_clone().unwrap();
        let (mut received, mut sent) = (Vec::new(), Vec::new());
        let mut reader = BufReader::new(stream);
        let mut line = Vec::new();
        for n in 0.. {
            if reader.read_until(b'\n', &mut line).unwrap() == 0 {
                break;
            }
            received.extend_from_slice(&line);
            let reply = format!("{{\"class\":\"pong\",\"n\":{n}}}\n");
            writer.write_all(reply.as_bytes()).unwrap();
            sent.extend_from_slice(reply.as_bytes());
            line.clear();
        }
        (received, sent)
    });
    (addr, handle)
}

/// A CTI client sending `ping` lines one at a time, each after the previous reply.
struct PingClient {
    writer: TcpStream,
    reader: BufReader<TcpStream>,
    sent: Vec<u8>,
    received: Vec<u8>,
    count: usize,
}

impl PingClient {
    fn connect(proxy: SocketAddr) -> PingClient {
        let writer = TcpStream::connect(proxy).unwrap();
        let reader = BufReader::new(writer.try_clone().unwrap());
        PingClient { writer, reader, sent: Vec::new(), received: Vec::new(), count: 0 }
    }

    /// Sends `n` pings (each padded by `pad` bytes) and reads each reply.
    fn ping(&mut self, n: usize, pad: usize) {
        for _ in 0..n {
            let line = format!(
                "{{\"class\":\"ping\",\"n\":{},\"pad\":\"{}\"}}\n",
                self.count,
                "x".repeat(pad)
            );
            self.writer.write_all(line.as_bytes()).unwrap();
            self.sent.extend_from_slice(line.as_bytes());
            let mut reply = Vec::new();
            self.reader.read_until(b'\n', &mut reply).unwrap();
            assert!(reply.ends_with(b"\n"), "the proxy forwards the reply");
            self.received.extend_from_slice(&reply);
            self.count += 1;
        }
    }

    /// Closes the session; returns what was sent and received.
    fn close(self) -> (Vec<u8>, Vec<u8>) {
        self.writer.shutdown(std::net::Shutdown::Write).unwrap();
        (self.sent, self.received)
    }
}

/// Every line each peer sent is in the stream once, in the order sent.
fn assert_each_once_in_order(stored: &[Stored], client_sent: &[u8], server_sent: &[u8]) {
    let text = |bytes: &[u8]| String::from_utf8(bytes.to_vec()).expect("the peers send text");
    assert_eq!(
        lines_of(stored, "client").concat(),
        text(client_sent),
        "every ping, once, in order"
    );
    assert_eq!(
        lines_of(stored, "server").concat(),
        text(server_sent),
        "every pong, once, in order"
    );
}

/// The lines of one direction, in stream order.
fn lines_of(stored: &[Stored], dir: &str) -> Vec<String> {
    stored
        .iter()
        .filter(|s| s.payload["dir"] == dir)
        .map(|s| format!("{}\n", s.payload["line"].as_str().unwrap()))
        .collect()
}

#[test]
fn a_nats_restart_in_mid_session_loses_and_doubles_nothing() {
    let mut nats = NatsServer::start();
    let (server_addr, server) = pong_server();
    let entry = export_entry(&nats.url(), "ack_timeout = 1.0\nflush_timeout = 30.0");
    let (_config, proxy) = start_proxy(server_addr, "", &entry);
    let mut client = PingClient::connect(proxy.addr());
    client.ping(20, 10);
    // Start, 20 pings and 20 pongs stored: NATS goes down with the plugin up to date.
    nats::wait_until("the first records", || nats::stream_len(&nats.url(), "CTI") == 41);
    nats.stop();
    client.ping(30, 10);
    nats.restart();
    client.ping(20, 10);
    let (sent, received) = client.close();
    let (server_received, server_sent) = server.join().unwrap();
    let finished = proxy.finish();
    assert!(finished.status.success(), "{}", finished.stderr);
    assert_eq!(server_received, sent, "client → server forwarded byte-exact");
    assert_eq!(received, server_sent, "server → client forwarded byte-exact");

    let stored = nats::read_stream(&nats.url(), "CTI");
    let events: Vec<&str> = stored.iter().filter_map(|s| s.payload["event"].as_str()).collect();
    assert_eq!(events, ["start", "end"]);
    assert_each_once_in_order(&stored, &sent, &received);
    assert_eq!(stored.len(), 2 + 2 * 70);
    assert_unique_ids(&stored);
    assert_once(&finished.stderr, "cannot publish to NATS");
    assert_once(&finished.stderr, "publishing to NATS again");
}

#[test]
fn records_whose_acknowledgement_was_late_are_resent_and_stored_once() {
    let nats = NatsServer::start();
    let (server_addr, server) = pong_server();
    let entry = export_entry(&nats.url(), "ack_timeout = 0.5\nflush_timeout = 30.0");
    let (_config, proxy) = start_proxy(server_addr, "", &entry);
    let mut client = PingClient::connect(proxy.addr());
    client.ping(5, 0);
    nats::wait_until("the first records", || nats::stream_len(&nats.url(), "CTI") == 11);
    // A frozen server takes the records into its socket but acknowledges none: the plugin
    // gives up waiting and keeps them. Thawed, the server stores them, then gets them again.
    nats.pause();
    client.ping(10, 0);
    nats::wait_until("the outage", || proxy.stderr().contains("cannot publish to NATS"));
    nats.resume();
    client.ping(5, 0);
    let (sent, received) = client.close();
    server.join().unwrap();
    let finished = proxy.finish();
    assert!(finished.status.success(), "{}", finished.stderr);

    let stored = nats::read_stream(&nats.url(), "CTI");
    assert_each_once_in_order(&stored, &sent, &received);
    assert_eq!(stored.len(), 2 + 2 * 20);
    assert!(counter(&finished, "duplicates") > 0, "the server recognised resent records");
}

fn assert_once(stderr: &str, needle: &str) {
    assert_eq!(stderr.matches(needle).count(), 1, "{needle:?} logged once:\n{stderr}");
}

/// A counter of the exit report, e.g. `Plugin counter dropped = 12`.
fn counter(finished: &Finished, name: &str) -> u64 {
    let prefix = format!("Plugin counter {name} = ");
    finished
        .stderr
        .lines()
        .find_map(|line| line.split(&prefix).nth(1))
        .and_then(|rest| rest.split(['.', ':']).next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no counter {name}:\n{}", finished.stderr))
}

/// A session of 40 pings while NATS is away, with a buffer of a few records; NATS then comes
/// up and the proxy is stopped: what the buffer kept is delivered, the rest was dropped.
fn run_with_full_buffer(on_full: &str) -> (Vec<Stored>, Finished) {
    let port = NatsServer::unused_port();
    let (server_addr, server) = pong_server();
    let settings = format!("buffer_bytes = 4096\non_full = \"{on_full}\"\nflush_timeout = 30.0");
    let entry = export_entry(&format!("nats://127.0.0.1:{port}"), &settings);
    let dir = tempfile::tempdir().unwrap();
    let config = support::write_config(dir.path(), &support::proxy_config(server_addr, "", &entry));
    let proxy = Running::start(run_loop(&config));
    let mut client = PingClient::connect(proxy.addr());
    client.ping(40, 200);
    client.close();
    server.join().unwrap();
    nats::wait_until("the session's end", || proxy.stderr().contains("Session ended"));
    let nats = NatsServer::start_on(port);
    proxy.signal("TERM");
    let finished = proxy.finish();
    assert!(finished.status.success(), "{}", finished.stderr);
    (nats::read_stream(&nats.url(), "CTI"), finished)
}

fn run_loop(config: &Path) -> std::process::Command {
    let mut cmd = ctiproxy();
    cmd.arg("run").arg("-c").arg(config).arg("--loop");
    cmd
}

/// The records of a 40-ping session, in order: start, ping 0, pong 0, …, end.
fn session_records() -> Vec<String> {
    let mut all = vec!["start".to_owned()];
    for n in 0..40 {
        all.push(format!("ping {n}"));
        all.push(format!("pong {n}"));
    }
    all.push("end".into());
    all
}

/// `start`, `ping 3`, `pong 3`, `end`.
fn describe(stored: &Stored) -> String {
    if let Some(event) = stored.payload["event"].as_str() {
        return event.to_owned();
    }
    let line: Value = serde_json::from_str(stored.payload["line"].as_str().unwrap()).unwrap();
    format!("{} {}", line["class"].as_str().unwrap(), line["n"])
}

/// Runs [`run_with_full_buffer`]: the records kept are the session's last ones (`drop_oldest`)
/// or its first ones, every other one is counted as dropped, and the episode is logged once.
fn assert_drops(on_full: &str, newest_kept: bool) {
    let (stored, finished) = run_with_full_buffer(on_full);
    let kept: Vec<String> = stored.iter().map(describe).collect();
    let all = session_records();
    let dropped = counter(&finished, "dropped");
    assert!(dropped > 0 && !kept.is_empty(), "{kept:?}");
    assert_eq!(kept.len() as u64 + dropped, all.len() as u64, "every record delivered or dropped");
    let expected = if newest_kept { &all[all.len() - kept.len()..] } else { &all[..kept.len()] };
    assert_eq!(kept, expected);
    assert_once(&finished.stderr, "the buffer is full");
}

#[test]
fn a_full_buffer_drops_the_oldest_records_and_counts_them() {
    assert_drops("drop_oldest", true);
}

#[test]
fn a_full_buffer_drops_the_newest_records_and_counts_them() {
    assert_drops("drop_newest", false);
}

/// A session of 5 pings, one ping padded by `big` bytes, 5 pings, through an export entry with
/// `extra` settings to `nats`; returns what the stream holds and how the proxy ended.
fn run_with_one_big_line(nats: &NatsServer, big: usize, extra: &str) -> (Vec<Stored>, Finished) {
    let (server_addr, server) = pong_server();
    let entry = export_entry(&nats.url(), extra);
    let (_config, proxy) = start_proxy(server_addr, "", &entry);
    let mut client = PingClient::connect(proxy.addr());
    client.ping(5, 0);
    client.ping(1, big);
    client.ping(5, 0);
    client.close();
    server.join().unwrap();
    let finished = proxy.finish();
    assert!(finished.status.success(), "{}", finished.stderr);
    (nats::read_stream(&nats.url(), "CTI"), finished)
}

/// Everything of [`run_with_one_big_line`]'s session but the big ping, in order.
fn all_but_the_big_ping() -> Vec<String> {
    let mut all = vec!["start".to_owned()];
    for n in 0..11 {
        if n != 5 {
            all.push(format!("ping {n}"));
        }
        all.push(format!("pong {n}"));
    }
    all.push("end".into());
    all
}

#[test]
fn a_record_above_the_servers_max_payload_is_counted_and_the_rest_flows() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("nats.conf");
    std::fs::write(&conf, "max_payload: 4096\n").unwrap();
    let nats = NatsServer::start_with(&["-c", conf.to_str().unwrap()]);
    let (stored, finished) = run_with_one_big_line(&nats, 8000, "");
    let kept: Vec<String> = stored.iter().map(describe).collect();
    assert_eq!(kept, all_but_the_big_ping(), "{}", finished.stderr);
    assert_eq!(counter(&finished, "rejected_lost"), 1);
    assert_eq!(counter(&finished, "published"), kept.len() as u64);
    assert_once(&finished.stderr, "NATS refuses a record");
    assert!(!finished.stderr.contains("cannot publish to NATS"), "{}", finished.stderr);
}

#[test]
fn a_record_heavier_than_the_whole_buffer_is_counted_on_its_own() {
    let nats = NatsServer::start();
    let (stored, finished) = run_with_one_big_line(&nats, 20_000, "buffer_bytes = 16384");
    let kept: Vec<String> = stored.iter().map(describe).collect();
    assert_eq!(kept, all_but_the_big_ping(), "{}", finished.stderr);
    assert_eq!(counter(&finished, "too_large_dropped"), 1);
    assert_once(&finished.stderr, "heavier than the whole buffer");
    assert!(!finished.stderr.contains("the buffer is full"), "{}", finished.stderr);
}

/// `ctiproxy SUBCOMMAND -c CONFIG` with `entry` as the pipeline, run to its end.
fn ctiproxy_on(subcommand: &str, entry: &str) -> Finished {
    let dir = tempfile::tempdir().unwrap();
    let unused: SocketAddr = format!("127.0.0.1:{}", NatsServer::unused_port()).parse().unwrap();
    let config = support::write_config(dir.path(), &support::proxy_config(unused, "", entry));
    let mut cmd = ctiproxy();
    cmd.arg(subcommand).arg("-c").arg(&config);
    Running::spawn(cmd).finish()
}

/// `ctiproxy run` with `entry`: it must fail at start.
fn run_fails(entry: &str) -> Finished {
    let finished = ctiproxy_on("run", entry);
    assert!(!finished.status.success(), "run should fail:\n{}", finished.stderr);
    finished
}

fn check(entry: &str) -> Finished {
    ctiproxy_on("check", entry)
}

#[test]
fn check_rejects_bad_settings_without_connecting() {
    for (extra, url, says) in [
        ("", "nats://127.0.0.1:notaport", "is not a NATS URL"),
        ("", "ws://127.0.0.1:4222", "scheme ws:// is not supported"),
        ("subject = \"cti.{pbx}.{nope}\"", "nats://127.0.0.1:4222", "unknown placeholder {nope}"),
        ("subject = \"cti..{pbx}\"", "nats://127.0.0.1:4222", "is not a subject"),
        ("on_full = \"block\"", "nats://127.0.0.1:4222", "on_full"),
        ("user = \"u\"", "nats://127.0.0.1:4222", "password"),
        ("stream = \"a.b\"", "nats://127.0.0.1:4222", "is not a stream name"),
        ("credentials = \"/etc/hostname\"", "nats://127.0.0.1:4222", "credentials"),
        ("tls_ca = \"/nonexistent/ca.pem\"", "nats://127.0.0.1:4222", "tls_ca"),
        ("pbx = \"a\\r\\nb\"", "nats://127.0.0.1:4222", "pbx: \"a\\r\\nb\" must be"),
        (
            "ack_timeout = 1e19",
            "nats://127.0.0.1:4222",
            "ack_timeout: 10000000000000000000 s is too long",
        ),
        ("flush_timeout = 1e19", "nats://127.0.0.1:4222", "flush_timeout: 10000000000000000000 s"),
    ] {
        let finished = check(&export_entry(url, extra));
        assert!(!finished.status.success(), "{extra} {url}: {}", finished.stdout);
        assert!(finished.stderr.contains(says), "{says:?} in:\n{}", finished.stderr);
    }
    // `check` does not connect: settings that `run` refuses on this server (a stream that must
    // exist and does not) check OK.
    let nats = NatsServer::start();
    let entry = export_entry(&nats.url(), "stream = \"NOPE\"\ncreate_stream = false");
    let finished = check(&entry);
    assert!(finished.status.success(), "{}", finished.stderr);
    assert!(finished.stdout.contains("pipeline: export"), "{}", finished.stdout);
    assert!(run_fails(&entry).stderr.contains("stream NOPE does not exist"));
}

#[test]
fn a_missing_stream_that_must_exist_stops_the_start() {
    let nats = NatsServer::start();
    let finished =
        run_fails(&export_entry(&nats.url(), "stream = \"NOPE\"\ncreate_stream = false"));
    assert!(finished.stderr.contains("stream NOPE does not exist"), "{}", finished.stderr);
    // Once created, the same settings start.
    nats::create_stream(&nats.url(), "NOPE", "cti.>");
    let (server_addr, _server) = pong_server();
    let entry = export_entry(&nats.url(), "stream = \"NOPE\"\ncreate_stream = false");
    let (_config, proxy) = start_proxy(server_addr, "", &entry);
    drop(proxy);
}

#[test]
fn wrong_credentials_stop_the_start_and_right_ones_work() {
    let nats = NatsServer::start_with(&["--user", "ctiproxy", "--pass", "s3cret"]);
    let finished =
        run_fails(&export_entry(&nats.url(), "user = \"ctiproxy\"\npassword = \"wrong\""));
    assert!(finished.stderr.contains("refused the credentials"), "{}", finished.stderr);
    let finished = run_fails(&export_entry(&nats.url(), ""));
    assert!(finished.stderr.contains("refused the credentials"), "{}", finished.stderr);

    // The keys, or the URL's `user:password@`.
    let authed = nats.url().replace("nats://", "nats://ctiproxy:s3cret@");
    let logins = [
        export_entry(&nats.url(), "user = \"ctiproxy\"\npassword = \"s3cret\""),
        export_entry(&authed, ""),
    ];
    for (run, entry) in logins.iter().enumerate() {
        let (server_addr, server) = pong_server();
        let (_config, proxy) = start_proxy(server_addr, "", entry);
        let mut client = PingClient::connect(proxy.addr());
        client.ping(3, 0);
        client.close();
        server.join().unwrap();
        assert!(proxy.finish().status.success());
        assert_eq!(nats::stream_len(&authed, "CTI"), (run as u64 + 1) * (2 + 6));
    }
}

#[test]
fn tls_with_the_servers_ca_works_and_without_it_stops_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = peers::Identity::new().write(dir.path(), "nats");
    let (cert_arg, key_arg) = (cert.to_str().unwrap(), key.to_str().unwrap());
    let nats = NatsServer::start_with(&["--tls", "--tlscert", cert_arg, "--tlskey", key_arg]);
    let url = nats.url().replace("nats://", "tls://");
    let finished = run_fails(&export_entry(&url, ""));
    assert!(finished.stderr.contains("TLS with the NATS server failed"), "{}", finished.stderr);

    // tls_ca relative to the configuration file, which is beside the certificate.
    let (server_addr, server) = pong_server();
    let entry = export_entry(&url, "tls_ca = \"nats.crt\"");
    let config = support::write_config(dir.path(), &support::proxy_config(server_addr, "", &entry));
    let proxy = Running::start({
        let mut cmd = ctiproxy();
        cmd.arg("run").arg("-c").arg(&config);
        cmd
    });
    let mut client = PingClient::connect(proxy.addr());
    client.ping(3, 0);
    client.close();
    server.join().unwrap();
    let finished = proxy.finish();
    assert!(finished.status.success(), "{}", finished.stderr);
    assert_eq!(counter(&finished, "published"), 2 + 6, "acknowledged over TLS");
}

#[test]
fn plugins_lists_export() {
    let out = ctiproxy().arg("plugins").output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("export") && stdout.contains("NATS JetStream"), "{stdout}");
}
