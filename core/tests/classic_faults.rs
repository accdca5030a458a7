//! Regression tests for the faults of the original Python tools, through the real classic
//! commands, and how they fail: (a) a non-JSON client line was shown as a server message when
//! filters were on; (b) the last line was lost when a peer closed without a final newline;
//! (c) one client at a time; (d) the time printed was when it was printed, not when the bytes
//! arrived. Then: an unreachable server, an invalid option value, lost writes reported without
//! `-v`.
mod classic_support;
mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, SystemTime};

use chrono::{DateTime, Local, Timelike};
use classic_support::{
    bodies, classic, closed_port, compact, parse_spy, pretty, replay_steps, seconds_of_day,
    start_servers, Peer, PEER_TIMEOUT,
};
use ctiproxy_plugin_api::Direction;
use serde_json::{json, Value};
use support::{session_steps, start_client, Running, Step};

const SPY: &str = env!("CARGO_BIN_EXE_ctispy");
const SAVE: &str = env!("CARGO_BIN_EXE_ctisave");

fn step(direction: Direction, line: &str) -> Step {
    Step { direction, line: line.to_owned() }
}

/// A session where the client also sends lines that are not JSON.
fn with_non_json_client_lines() -> Vec<Step> {
    use Direction::{ClientToServer as C, ServerToClient as S};
    vec![
        step(S, r#"{"class":"starttls","timenow":1.5}"#),
        step(C, "hello, this is not JSON"),
        step(C, r#"{"class":"login_id","timenow":2.5,"userlogin":"alice"}"#),
        step(S, r#"{"timenow":3.5,"class":"login_id"}"#),
        step(C, "{broken"),
    ]
}

#[test]
fn a_non_json_client_line_is_shown_as_a_client_message_with_filters_on() {
    use Direction::{ClientToServer as C, ServerToClient as S};
    let finished =
        replay_steps(SPY, &["-s", "timenow", "-e", "class=nothing"], with_non_json_client_lines());
    let want = vec![
        (S, compact(&json!({"class": "starttls"}))),
        (C, "hello, this is not JSON".to_owned()),
        (C, compact(&json!({"class": "login_id", "userlogin": "alice"}))),
        (S, compact(&json!({"class": "login_id"}))),
        (C, "{broken".to_owned()),
    ];
    assert_eq!(bodies(&finished.stdout), want);

    // And ctisave writes it to the client's file.
    let dir = tempfile::tempdir().expect("temp dir");
    let client = dir.path().join("c.txt").to_str().unwrap().to_owned();
    let server = dir.path().join("s.txt").to_str().unwrap().to_owned();
    let args = [client.as_str(), &server, "-s", "timenow", "-e", "class=nothing"];
    replay_steps(SAVE, &args, with_non_json_client_lines());
    let login = pretty(&json!({"class": "login_id", "userlogin": "alice"}));
    let client_file = std::fs::read_to_string(&client).unwrap();
    assert_eq!(client_file, format!("hello, this is not JSON\n{login}\n{{broken\n"));
    assert!(!std::fs::read_to_string(&server).unwrap().contains("not JSON"));
}

#[test]
fn include_drops_non_json_lines_as_documented() {
    let finished = replay_steps(SPY, &["-i", "class=login_id"], with_non_json_client_lines());
    let printed = bodies(&finished.stdout);
    assert_eq!(printed.len(), 2, "{printed:?}");
    assert!(printed.iter().all(|(_, body)| body.contains("login_id")), "{printed:?}");
}

#[test]
fn the_last_line_is_kept_when_a_peer_closes_without_a_final_newline() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let server_addr = listener.local_addr().unwrap();
    let server = thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        stream.set_read_timeout(Some(PEER_TIMEOUT)).unwrap();
        let mut received = Vec::new();
        stream.read_to_end(&mut received).unwrap();
        stream.write_all(br#"{"class":"last","from":"server"}"#).unwrap();
        received
    });
    let dir = tempfile::tempdir().expect("temp dir");
    let client_file = dir.path().join("c.txt").to_str().unwrap().to_owned();
    let server_file = dir.path().join("s.txt").to_str().unwrap().to_owned();
    // ctisave and ctispy share the proxy: one run of each through the same kind of peers would
    // need two servers; ctispy here, and ctisave below with the recorded session's last line cut.
    let running = Running::start(classic(SPY, server_addr, &[]));
    let mut client = TcpStream::connect(running.addr()).unwrap();
    client.set_read_timeout(Some(PEER_TIMEOUT)).unwrap();
    client.write_all(b"{\"class\":\"first\"}\n{\"class\":\"last\",\"from\":\"client\"}").unwrap();
    client.shutdown(Shutdown::Write).unwrap();
    let mut received = Vec::new();
    client.read_to_end(&mut received).unwrap();
    assert_eq!(
        server.join().unwrap(),
        b"{\"class\":\"first\"}\n{\"class\":\"last\",\"from\":\"client\"}"
    );
    assert_eq!(received, br#"{"class":"last","from":"server"}"#, "no newline added on the wire");
    let finished = running.finish();
    assert!(finished.status.success(), "{}", finished.stderr);
    let want = vec![
        (Direction::ClientToServer, compact(&json!({"class": "first"}))),
        (Direction::ClientToServer, compact(&json!({"class": "last", "from": "client"}))),
        (Direction::ServerToClient, compact(&json!({"class": "last", "from": "server"}))),
    ];
    assert_eq!(bodies(&finished.stdout), want);

    // ctisave: a recorded session whose server never ends its last line.
    let steps = session_steps();
    let last = steps.last().unwrap().clone();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let server_addr = listener.local_addr().unwrap();
    let server = thread::spawn(move || {
        let mut peer = Peer::server(&listener);
        peer.send(last.line.as_bytes());
        peer.finish()
    });
    let running = Running::start(classic(SAVE, server_addr, &[client_file.as_str(), &server_file]));
    let client = Peer::client(running.addr()).finish();
    server.join().unwrap();
    assert!(running.finish().status.success());
    let last: Value = serde_json::from_slice(&client.received).expect("the whole line arrived");
    assert_eq!(std::fs::read_to_string(&server_file).unwrap(), pretty(&last) + "\n");
}

#[test]
fn two_clients_at_once_with_loop_are_both_fully_served() {
    let steps = session_steps();
    let (server, server_thread) = start_servers(steps.clone(), 2);
    let running = Running::start(classic(SPY, server, &["--loop"]));
    let split = steps.len() / 2;

    // The first client plays half its session and stays connected...
    let mut first = Peer::client(running.addr());
    first.play(&steps[..split]);
    // ...while a second one plays a whole session (it would hang if it had to wait).
    let second = start_client(running.addr(), steps.clone()).join().unwrap().expect("second");
    // Then the first one finishes.
    first.play(&steps[split..]);
    let first = first.finish();
    let served = server_thread.join().unwrap();
    assert_eq!(served.len(), 2);
    for client in [&first, &second] {
        assert!(served.iter().any(|s| s.received == client.sent && s.sent == client.received));
    }

    let deadline = std::time::Instant::now() + support::PROCESS_TIMEOUT;
    while parse_spy(&running.stdout()).len() < 2 * steps.len() {
        assert!(std::time::Instant::now() < deadline, "not all messages printed");
        thread::sleep(Duration::from_millis(20));
    }
    running.signal("INT");
    let finished = running.finish();
    assert!(finished.status.success(), "{}", finished.stderr);

    // Sessions are tagged once two share the output: the first one's early messages are not.
    // Ids follow the order of connection, so the first client has the smaller one.
    let printed = parse_spy(&finished.stdout);
    let mut ids: Vec<u64> = printed.iter().filter_map(|p| p.session).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 2, "two sessions: {ids:?}");
    let untagged = printed.iter().take_while(|p| p.session.is_none()).count();
    assert!(untagged > 0 && printed[untagged..].iter().all(|p| p.session.is_some()));
    let session = |id: Option<u64>| -> Vec<(Direction, String)> {
        let mine = printed.iter().filter(|p| p.session.is_none() || p.session == id);
        mine.map(|p| (p.direction, p.body.clone())).collect()
    };
    let want: Vec<(Direction, String)> =
        classic_support::fixture().into_iter().map(|(d, m)| (d, compact(&m))).collect();
    assert_eq!(session(Some(ids[0])), want, "first client");
    let second: Vec<_> = printed.iter().filter(|p| p.session == Some(ids[1])).collect();
    let second: Vec<_> = second.iter().map(|p| (p.direction, p.body.clone())).collect();
    assert_eq!(second, want, "second client");
    // The second session ran while the first was open: it is printed inside the first.
    let last_of_first = printed.iter().rposition(|p| p.session == Some(ids[0])).unwrap();
    let last_of_second = printed.iter().rposition(|p| p.session == Some(ids[1])).unwrap();
    assert!(last_of_second < last_of_first);
}

/// Kills the child if the test fails before it exits.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn the_time_shown_is_when_the_bytes_arrived_not_when_they_were_printed() {
    // Nobody reads the spy's output at first, so its writes block once the pipe is full: the
    // marker is printed only after the test starts reading, seconds after it arrived.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let server_addr = listener.local_addr().unwrap();
    let marker = r#"{"class":"marker"}"#;
    let (arrived_tx, arrived_rx) = mpsc::channel();
    let server = thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        stream.set_read_timeout(Some(PEER_TIMEOUT)).unwrap();
        for line in BufReader::new(stream).lines() {
            let line = line.unwrap();
            if line == marker {
                arrived_tx.send(SystemTime::now()).unwrap();
            }
        }
    });
    let mut cmd = classic(SPY, server_addr, &[]);
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = Guard(cmd.spawn().expect("spawn ctispy"));
    let (addr_tx, addr_rx) = mpsc::channel();
    let stderr = child.0.stderr.take().unwrap();
    let stderr_reader = thread::spawn(move || {
        let mut text = String::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(addr) = line.split("Listening on ").nth(1) {
                let _ = addr_tx.send(addr.trim_end_matches('.').to_owned());
            }
            text.push_str(&line);
            text.push('\n');
        }
        text
    });
    let addr = addr_rx.recv_timeout(support::PROCESS_TIMEOUT).expect("ctispy listens");

    let mut client = TcpStream::connect(addr.as_str()).unwrap();
    // Far more than a pipe and the output buffer hold.
    let filler = format!("{}\n", "x".repeat(1000));
    for _ in 0..1000 {
        client.write_all(filler.as_bytes()).unwrap();
    }
    client.write_all(format!("{marker}\n").as_bytes()).unwrap();
    let arrived = arrived_rx.recv_timeout(PEER_TIMEOUT).expect("the server got the marker");
    thread::sleep(Duration::from_millis(1500));
    client.shutdown(Shutdown::Both).unwrap();

    let mut stdout = String::new();
    child.0.stdout.take().unwrap().read_to_string(&mut stdout).unwrap();
    let status = child.0.wait().unwrap();
    server.join().unwrap();
    let stderr = stderr_reader.join().unwrap();
    assert!(status.success(), "{stderr}");

    let printed = parse_spy(&stdout);
    assert_eq!(printed.len(), 1001);
    let shown = printed.iter().find(|p| p.body == compact(&json!({"class": "marker"}))).unwrap();
    let local: DateTime<Local> = arrived.into();
    let arrived = f64::from(local.num_seconds_from_midnight())
        + f64::from(local.nanosecond().min(999_999_999)) / 1e9;
    let mut ahead = seconds_of_day(&shown.time) - arrived;
    // Across midnight the time of day wraps.
    if ahead > 43_200.0 {
        ahead -= 86_400.0;
    }
    // The proxy stamped the marker before forwarding it, so before the server saw it; a time
    // taken when printing would be at least the 1.5 s the output stayed blocked later.
    assert!(ahead <= 0.0, "shown {} but the server had it at {local}", shown.time);
}

#[test]
fn an_unreachable_server_exits_1_with_a_clear_message() {
    let nowhere = closed_port();
    let running = Running::start(classic(SPY, nowhere, &[]));
    let mut client = TcpStream::connect(running.addr()).unwrap();
    client.set_read_timeout(Some(PEER_TIMEOUT)).unwrap();
    let mut received = Vec::new();
    client.read_to_end(&mut received).unwrap();
    let finished = running.finish();
    assert_eq!(finished.status.code(), Some(1), "{}", finished.stderr);
    let message = format!("Cannot reach the CTI server {nowhere}");
    assert!(finished.stderr.contains(&message), "{}", finished.stderr);
}

#[test]
fn with_loop_an_unreachable_server_is_reported_and_the_next_client_served() {
    let nowhere = closed_port();
    let mut running = Running::start(classic(SPY, nowhere, &["--loop"]));
    let mut client = TcpStream::connect(running.addr()).unwrap();
    client.set_read_timeout(Some(PEER_TIMEOUT)).unwrap();
    client.read_to_end(&mut Vec::new()).unwrap();
    assert!(running.is_running(), "--loop keeps serving");
    running.signal("INT");
    let finished = running.finish();
    assert!(finished.status.success(), "{}", finished.stderr);
    assert!(finished.stderr.contains("Cannot reach the CTI server"), "{}", finished.stderr);
}

#[test]
fn an_invalid_filter_exits_1_naming_the_value() {
    let out = support::command(SPY)
        .args(["127.0.0.1", "--listen-addr", "127.0.0.1", "--listen-port", "0"])
        .args(["-i", "getlist"])
        .output()
        .expect("run ctispy");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("ctispy: ") && stderr.contains("(include)"), "{stderr}");
    assert!(stderr.contains("expected key=value, got \"getlist\""), "{stderr}");
}

/// Connects to `addr` once something listens there, within the peers' timeout.
fn connect_when_listening(addr: std::net::SocketAddr) -> TcpStream {
    let deadline = std::time::Instant::now() + PEER_TIMEOUT;
    loop {
        match TcpStream::connect(addr) {
            Ok(stream) => return stream,
            Err(e) if std::time::Instant::now() > deadline => panic!("never listened: {e}"),
            Err(_) => thread::sleep(Duration::from_millis(20)),
        }
    }
}

#[test]
fn lost_writes_are_reported_without_verbose() {
    // /dev/full opens and fails every write: the save plugin counts write_errors.
    let dir = tempfile::tempdir().expect("temp dir");
    let server_file = dir.path().join("server.txt");
    let steps = session_steps();
    let (server_addr, server) = support::start_server(steps.clone()).expect("test server");
    let listen = closed_port();
    let mut cmd = support::command(SAVE);
    // The default level, as a user runs it: no -v, no RUST_LOG.
    cmd.env_remove("RUST_LOG").arg(server_addr.ip().to_string());
    cmd.args(["--port", &server_addr.port().to_string(), "--listen-addr", "127.0.0.1"]);
    cmd.args(["--listen-port", &listen.port().to_string(), "/dev/full"]).arg(&server_file);
    let running = Running::spawn(cmd);
    let client = connect_when_listening(listen);
    support::play(client, &steps, Direction::ClientToServer).expect("client side");
    server.join().expect("server thread").expect("server side");
    let finished = running.finish();
    assert!(finished.status.success(), "{}", finished.stderr);
    let line = finished.stderr.lines().find(|l| l.contains("write_errors")).unwrap_or_else(|| {
        panic!("write_errors not reported at the default level:\n{}", finished.stderr)
    });
    assert!(line.contains("WARN") && line.contains("data was lost"), "{line}");
    assert!(!finished.stderr.contains(" INFO "), "info stays hidden:\n{}", finished.stderr);
}
