//! Test support for the classic commands (`ctispy`, `ctisave`, `ctistat`): their command lines
//! on loopback, the recorded session replayed through them, hand-made peers for the fault
//! regressions, and expectations derived from the fixture itself: the original tools' JSON
//! rendering (written here independently of the plugins) and the spy's output read back.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::process::Command;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use ctiproxy_plugin_api::Direction;
use serde_json::Value;

use crate::support::{self, session_steps, start_client, start_server, Finished, Running, Step};

/// Longest a scripted peer waits for one read before the test fails instead of hanging.
pub const PEER_TIMEOUT: Duration = Duration::from_secs(60);

/// A classic command (`env!("CARGO_BIN_EXE_ctispy")`…) in front of `server`, listening on an
/// ephemeral loopback port, with `args` after HOST.
pub fn classic(exe: &str, server: SocketAddr, args: &[&str]) -> Command {
    let mut cmd = support::command(exe);
    cmd.arg(server.ip().to_string())
        .args(["--port", &server.port().to_string()])
        .args(["--listen-addr", "127.0.0.1", "--listen-port", "0"])
        .args(args);
    cmd
}

/// Replays the recorded session through a command run with `args` (positional arguments
/// after HOST come first in `args`), checks both peers got exactly what the other sent, and
/// returns what the command printed once it exited by itself (no `--loop`).
pub fn replay(exe: &str, args: &[&str]) -> Finished {
    replay_steps(exe, args, session_steps())
}

/// [`replay`] with another script.
pub fn replay_steps(exe: &str, args: &[&str], steps: Vec<Step>) -> Finished {
    let (server_addr, server) = start_server(steps.clone()).expect("test server");
    let running = Running::start(classic(exe, server_addr, args));
    let client = start_client(running.addr(), steps).join().expect("client thread");
    let client = client.expect("client played the session");
    let server = server.join().expect("server thread").expect("server played the session");
    assert_eq!(client.sent, server.received, "client > server bytes changed");
    assert_eq!(server.sent, client.received, "server > client bytes changed");
    let finished = running.finish();
    assert!(finished.status.success(), "{args:?} failed: {}", finished.stderr);
    finished
}

/// A command-line word for a direction, as the spy's headers and ctistat's columns say it.
pub fn label(direction: Direction) -> &'static str {
    match direction {
        Direction::ClientToServer => "Client > Server",
        Direction::ServerToClient => "Server > Client",
    }
}

/// The recorded session as decoded messages.
pub fn fixture() -> Vec<(Direction, Value)> {
    let decode = |s: Step| {
        let mut message: Value = serde_json::from_str(&s.line).expect("fixture JSON");
        // As the spy and the save plugin show it: passwords are masked by default.
        if let Some(password) = message.get_mut("password") {
            *password = "***".into();
        }
        (s.direction, message)
    };
    session_steps().into_iter().map(decode).collect()
}

/// A recorded line as the spy shows it undecoded: the fixture's one password masked.
pub fn as_shown(line: &str) -> String {
    line.replace(r#""password":"secret""#, r#""password":"***""#)
}

/// A message's `class`, or `(no class)`.
pub fn class_of(message: &Value) -> String {
    message.get("class").and_then(Value::as_str).unwrap_or("(no class)").to_owned()
}

/// Messages per class: (client > server, server > client).
pub fn class_counts(messages: &[(Direction, Value)]) -> BTreeMap<String, (u64, u64)> {
    let mut counts = BTreeMap::<String, (u64, u64)>::new();
    for (direction, message) in messages {
        let entry = counts.entry(class_of(message)).or_default();
        match direction {
            Direction::ClientToServer => entry.0 += 1,
            Direction::ServerToClient => entry.1 += 1,
        }
    }
    counts
}

/// The text of a value the way the original compared it (`tid=3` matches `3` and `"3"`).
fn as_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Object(_) | Value::Array(_) => None,
        other => Some(other.to_string()),
    }
}

/// Whether `message` has field `path` (dotted) whose text is `text`.
pub fn field_is(message: &Value, path: &str, text: &str) -> bool {
    let found = path.split('.').try_fold(message, |value, key| value.get(key));
    found.and_then(as_text).as_deref() == Some(text)
}

/// `message` without the (dotted) fields.
pub fn stripped(message: &Value, fields: &[&str]) -> Value {
    let mut message = message.clone();
    for field in fields {
        let (parents, last) = match field.rsplit_once('.') {
            Some((parents, last)) => (Some(parents), last),
            None => (None, *field),
        };
        let parent = match parents {
            None => Some(&mut message),
            Some(parents) => parents.split('.').try_fold(&mut message, |v, k| v.get_mut(k)),
        };
        if let Some(Value::Object(map)) = parent {
            map.shift_remove(last);
        }
    }
    message
}

/// Python's `json.dumps(value, sort_keys=True)`: one line, `", "` and `": "` separators.
pub fn compact(value: &Value) -> String {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            let items: Vec<String> =
                keys.iter().map(|k| format!("{}: {}", scalar(k), compact(&map[*k]))).collect();
            format!("{{{}}}", items.join(", "))
        }
        Value::Array(items) => {
            format!("[{}]", items.iter().map(compact).collect::<Vec<_>>().join(", "))
        }
        other => other.to_string(),
    }
}

/// Python's `json.dumps(value, sort_keys=True, indent=4)`.
pub fn pretty(value: &Value) -> String {
    let mut out = String::new();
    write_pretty(&mut out, value, 0);
    out
}

fn write_pretty(out: &mut String, value: &Value, depth: usize) {
    let pad = |depth: usize| "    ".repeat(depth);
    match value {
        Value::Object(map) if !map.is_empty() => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push_str("{\n");
            for (n, key) in keys.iter().enumerate() {
                out.push_str(&format!("{}{}: ", pad(depth + 1), scalar(key)));
                write_pretty(out, &map[*key], depth + 1);
                out.push_str(if n + 1 < keys.len() { ",\n" } else { "\n" });
            }
            out.push_str(&format!("{}}}", pad(depth)));
        }
        Value::Array(items) if !items.is_empty() => {
            out.push_str("[\n");
            for (n, item) in items.iter().enumerate() {
                out.push_str(&pad(depth + 1));
                write_pretty(out, item, depth + 1);
                out.push_str(if n + 1 < items.len() { ",\n" } else { "\n" });
            }
            out.push_str(&format!("{}]", pad(depth)));
        }
        other => out.push_str(&compact(other)),
    }
}

fn scalar(text: &str) -> String {
    Value::from(text).to_string()
}

/// One message as the spy printed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Printed {
    /// `HH:MM:SS.ffffff`.
    pub time: String,
    /// Which way it went.
    pub direction: Direction,
    /// The `[session N]` suffix, printed once several sessions share the output.
    pub session: Option<u64>,
    /// The lines under the header, joined with `\n` (no final newline).
    pub body: String,
}

/// Reads a spy header line: `    HH:MM:SS.ffffff Client > Server [session N]`.
fn header(line: &str) -> Option<(String, Direction, Option<u64>)> {
    let rest = line.strip_prefix("    ")?;
    let (time, rest) = rest.split_once(' ')?;
    let digits = time.bytes().filter(u8::is_ascii_digit).count();
    let shape = time.len() == 15 && digits == 12 && &time[2..3] == ":" && &time[8..9] == ".";
    if !shape {
        return None;
    }
    let (direction, rest) = if let Some(rest) = rest.strip_prefix("Client > Server") {
        (Direction::ClientToServer, rest)
    } else {
        (Direction::ServerToClient, rest.strip_prefix("Server > Client")?)
    };
    let session = match rest {
        "" => None,
        suffix => Some(suffix.strip_prefix(" [session ")?.strip_suffix(']')?.parse().ok()?),
    };
    Some((time.to_owned(), direction, session))
}

/// Splits the spy's output into messages; panics on text before the first header.
pub fn parse_spy(stdout: &str) -> Vec<Printed> {
    let mut printed: Vec<Printed> = Vec::new();
    let mut body: Vec<&str> = Vec::new();
    let flush = |printed: &mut Vec<Printed>, body: &mut Vec<&str>| {
        if let Some(last) = printed.last_mut() {
            last.body = body.join("\n");
        }
        body.clear();
    };
    for line in stdout.lines() {
        match header(line) {
            Some((time, direction, session)) => {
                flush(&mut printed, &mut body);
                printed.push(Printed { time, direction, session, body: String::new() });
            }
            None => {
                assert!(!printed.is_empty(), "output before the first header: {line:?}");
                body.push(line);
            }
        }
    }
    flush(&mut printed, &mut body);
    printed
}

/// `(direction, body)` pairs of the spy's output, for comparing with expectations.
pub fn bodies(stdout: &str) -> Vec<(Direction, String)> {
    parse_spy(stdout).into_iter().map(|p| (p.direction, p.body)).collect()
}

/// A `HH:MM:SS.ffffff` time of day in seconds.
pub fn seconds_of_day(time: &str) -> f64 {
    let mut parts = time.split(':');
    let mut next = || parts.next().expect("time part").parse::<f64>().expect("number");
    next() * 3600.0 + next() * 60.0 + next()
}

/// A server that accepts `connections` clients and plays the server's side of `steps` with
/// each, concurrently; returns their transcripts in the order they connected.
pub fn start_servers(
    steps: Vec<Step>,
    connections: usize,
) -> (SocketAddr, JoinHandle<Vec<support::Transcript>>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind test server");
    let addr = listener.local_addr().expect("address");
    let handle = thread::spawn(move || {
        let players: Vec<_> = (0..connections)
            .map(|_| {
                let (stream, _) = listener.accept().expect("accept");
                stream.set_read_timeout(Some(PEER_TIMEOUT)).expect("timeout");
                let steps = steps.clone();
                thread::spawn(move || {
                    support::play(stream, &steps, Direction::ServerToClient).expect("server side")
                })
            })
            .collect();
        players.into_iter().map(|p| p.join().expect("server thread")).collect()
    });
    (addr, handle)
}

/// One side of a connection driven step by step (unlike [`support::play`], which runs a whole
/// script and closes): plays some steps, then lets the test decide what comes next.
pub struct Peer {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
    me: Direction,
    /// Everything written and read so far.
    pub transcript: support::Transcript,
}

impl Peer {
    /// Connects to `addr` as the client.
    pub fn client(addr: SocketAddr) -> Peer {
        Peer::new(TcpStream::connect(addr).expect("connect"), Direction::ClientToServer)
    }

    /// Accepts the proxy's connection on `listener` as the server.
    pub fn server(listener: &TcpListener) -> Peer {
        Peer::new(listener.accept().expect("accept").0, Direction::ServerToClient)
    }

    fn new(stream: TcpStream, me: Direction) -> Peer {
        stream.set_read_timeout(Some(PEER_TIMEOUT)).expect("timeout");
        Peer {
            reader: BufReader::new(stream.try_clone().expect("clone")),
            writer: stream,
            me,
            transcript: support::Transcript::default(),
        }
    }

    /// Writes my lines of `steps` and reads (and checks) the other side's.
    pub fn play(&mut self, steps: &[Step]) {
        for step in steps {
            if step.direction == self.me {
                self.send(format!("{}\n", step.line).as_bytes());
            } else {
                let mut line = String::new();
                self.reader.read_line(&mut line).expect("read a line");
                assert_eq!(line.trim_end_matches('\n'), step.line, "unexpected line");
                self.transcript.received.extend_from_slice(line.as_bytes());
            }
        }
    }

    /// Writes raw bytes.
    pub fn send(&mut self, bytes: &[u8]) {
        self.writer.write_all(bytes).expect("write");
        self.transcript.sent.extend_from_slice(bytes);
    }

    /// Shuts my write half and reads until the other side closes.
    pub fn finish(self) -> support::Transcript {
        self.writer.shutdown(Shutdown::Write).expect("shutdown");
        self.wait_close()
    }

    /// Reads until the other side closes (e.g. the proxy shutting down), keeping my write
    /// half open.
    pub fn wait_close(mut self) -> support::Transcript {
        let mut rest = Vec::new();
        self.reader.read_to_end(&mut rest).expect("read to the end");
        self.transcript.received.extend_from_slice(&rest);
        self.transcript
    }
}

/// A port nothing listens on (bound, then released).
pub fn closed_port() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("address")
}

/// Runs a command with `--loop`: `complete` whole recorded sessions one after the other, then
/// one more left open after `open_steps` (both peers have played them); then sends `signal`
/// (`INT` as Ctrl-C does, or `TERM`). Returns what the command printed, once it exited
/// successfully.
pub fn interrupt_open_session(
    exe: &str,
    args: &[&str],
    complete: usize,
    open_steps: &[Step],
    signal: &str,
) -> Finished {
    let steps = session_steps();
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind test server");
    let server_addr = listener.local_addr().expect("address");
    let (played_tx, played_rx) = std::sync::mpsc::channel();
    let server = {
        let (steps, open_steps) = (steps.clone(), open_steps.to_vec());
        thread::spawn(move || {
            for _ in 0..complete {
                let (stream, _) = listener.accept().expect("accept");
                support::play(stream, &steps, Direction::ServerToClient).expect("server side");
            }
            let mut open = Peer::server(&listener);
            open.play(&open_steps);
            played_tx.send(()).expect("tell the test");
            open.wait_close()
        })
    };
    let mut cmd = classic(exe, server_addr, args);
    cmd.arg("--loop");
    let running = Running::start(cmd);
    for _ in 0..complete {
        start_client(running.addr(), steps.clone()).join().expect("client").expect("session");
    }
    let mut open = Peer::client(running.addr());
    open.play(open_steps);
    // Once the server has read the client's last line, the proxy has read everything: the
    // interruption cannot race with bytes still on their way.
    played_rx.recv_timeout(PEER_TIMEOUT).expect("server played the open steps");
    running.signal(signal);
    let client = open.wait_close();
    let server = server.join().expect("server thread");
    assert_eq!(client.sent, server.received);
    assert_eq!(server.sent, client.received);
    let finished = running.finish();
    assert!(finished.status.success(), "{args:?} after SIG{signal}: {}", finished.stderr);
    finished
}
