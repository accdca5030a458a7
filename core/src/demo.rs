//! `ctiproxy demo`: a recorded CTI session (login to logout) replayed by an embedded server and
//! an embedded client through a real proxy on loopback, with the spy, the example MI rules in
//! dry-run and statistics (when those plugins are installed) in the pipeline. Needs no CTI server; checks at the end that each
//! peer received exactly the bytes the other sent.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::thread::JoinHandle;

use ctiproxy_plugin_api::Direction;

/// The recorded session: one `{"dir": "client"|"server", "msg": {...}}` per line.
pub const SESSION: &str = include_str!("../demo/session-login.jsonl");

/// One step of a script: who sends which line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// Which way the line goes.
    pub direction: Direction,
    /// The line, without `\n`.
    pub line: String,
}

/// Why a script could not be read or played.
#[derive(Debug, thiserror::Error)]
pub enum ScriptError {
    /// A line of the recording is not `{"dir", "msg"}`.
    #[error("recording line {0}: {1}")]
    Parse(usize, String),
    /// The peer sent something other than the script says.
    #[error("expected {expected:?}, received {received:?}")]
    Unexpected {
        /// What the script says.
        expected: String,
        /// What arrived.
        received: String,
    },
    /// Socket failure.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// Reads a recording (`{"dir": "client"|"server", "msg": {...}}` per line).
pub fn parse_script(text: &str) -> Result<Vec<Step>, ScriptError> {
    let mut steps = Vec::new();
    for (n, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let value: serde_json::Value =
            serde_json::from_str(line).map_err(|e| ScriptError::Parse(n + 1, e.to_string()))?;
        let direction = match value.get("dir").and_then(|d| d.as_str()) {
            Some("client") => Direction::ClientToServer,
            Some("server") => Direction::ServerToClient,
            _ => {
                return Err(ScriptError::Parse(
                    n + 1,
                    "`dir` must be \"client\" or \"server\"".into(),
                ))
            }
        };
        let msg =
            value.get("msg").ok_or_else(|| ScriptError::Parse(n + 1, "missing `msg`".into()))?;
        steps.push(Step { direction, line: msg.to_string() });
    }
    Ok(steps)
}

/// What one peer sent and received.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Transcript {
    /// Bytes written.
    pub sent: Vec<u8>,
    /// Bytes read.
    pub received: Vec<u8>,
}

/// Plays `me`'s side of a script on `stream`: write my lines, read and check the other's, then
/// close and read whatever is left until the other side closes.
pub fn play(stream: TcpStream, steps: &[Step], me: Direction) -> Result<Transcript, ScriptError> {
    let mut transcript = Transcript::default();
    let mut writer = stream.try_clone()?;
    let mut reader = BufReader::new(stream);
    for step in steps {
        if step.direction == me {
            let bytes = format!("{}\n", step.line);
            writer.write_all(bytes.as_bytes())?;
            transcript.sent.extend_from_slice(bytes.as_bytes());
        } else {
            let mut line = String::new();
            reader.read_line(&mut line)?;
            transcript.received.extend_from_slice(line.as_bytes());
            if line.trim_end_matches('\n') != step.line {
                return Err(ScriptError::Unexpected {
                    expected: step.line.clone(),
                    received: line,
                });
            }
        }
    }
    writer.shutdown(std::net::Shutdown::Write)?;
    let mut rest = Vec::new();
    std::io::Read::read_to_end(&mut reader, &mut rest)?;
    transcript.received.extend_from_slice(&rest);
    Ok(transcript)
}

/// Starts the embedded server: accepts one client and plays the server's side.
pub fn start_server(
    steps: Vec<Step>,
) -> std::io::Result<(SocketAddr, JoinHandle<Result<Transcript, ScriptError>>)> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let handle = std::thread::spawn(move || {
        let (stream, _) = listener.accept()?;
        play(stream, &steps, Direction::ServerToClient)
    });
    Ok((addr, handle))
}

/// Starts the embedded client against the proxy at `addr`.
pub fn start_client(
    addr: SocketAddr,
    steps: Vec<Step>,
) -> JoinHandle<Result<Transcript, ScriptError>> {
    std::thread::spawn(move || play(TcpStream::connect(addr)?, &steps, Direction::ClientToServer))
}

/// The documented example configuration, whose `mi` entry the demo runs.
pub const EXAMPLE_CONFIG: &str = include_str!("../../config.example.toml");

/// The `[[pipeline]]` entry of `plugin = "mi"` in config.example.toml, with its rules (in
/// dry-run, as documented there): the demo shows what they would send, and the tests send it.
pub fn example_mi_entry() -> &'static str {
    let start = EXAMPLE_CONFIG
        .find("[[pipeline]]\nplugin = \"mi\"")
        .expect("config.example.toml has an mi entry");
    let entry = &EXAMPLE_CONFIG[start..];
    let end = entry[1..].find("\n[[pipeline]]").map_or(entry.len(), |i| i + 2);
    &entry[..end]
}

/// The demo's pipeline: the spy, then the example MI rules in dry-run (each command printed
/// under the message that caused it) and statistics, when those plugins are installed.
pub fn config_text(server: SocketAddr, installed: impl Fn(&str) -> bool, pretty: bool) -> String {
    let mut text = format!(
        "[proxy]\nlisten = \"127.0.0.1:0\"\nserver = \"{server}\"\n\n[[pipeline]]\nplugin = \"spy\"\npretty = {pretty}\n"
    );
    if installed("mi") {
        text.push('\n');
        text.push_str(example_mi_entry());
    }
    if installed("stats") {
        text.push_str("\n[[pipeline]]\nplugin = \"stats\"\n");
    }
    text
}
