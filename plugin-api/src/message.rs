//! What a plugin sees: a message (one line in one direction) and the session events around it.
//!
//! These are the safe views the `export_plugin!` shims build from the raw [`crate::abi::Event`].
//! A message keeps the raw bytes; JSON is parsed lazily, once, and only if a plugin asks.

use std::cell::OnceCell;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;

use crate::abi::{self, Node};
use crate::index;

/// Which way a message travelled.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    /// From the CTI client towards the CTI server.
    ClientToServer,
    /// From the CTI server towards the CTI client.
    ServerToClient,
}

impl Direction {
    /// The classic header label: `Client > Server` or `Server > Client`.
    pub fn label(self) -> &'static str {
        match self {
            Direction::ClientToServer => "Client > Server",
            Direction::ServerToClient => "Server > Client",
        }
    }

    /// A short lowercase name of the sending side: `client` or `server`.
    pub fn sender(self) -> &'static str {
        match self {
            Direction::ClientToServer => "client",
            Direction::ServerToClient => "server",
        }
    }

    /// The ABI code (`DIR_*`).
    pub fn code(self) -> u32 {
        match self {
            Direction::ClientToServer => abi::DIR_CLIENT_TO_SERVER,
            Direction::ServerToClient => abi::DIR_SERVER_TO_CLIENT,
        }
    }

    /// Reads an ABI code; `None` for a value this version does not know.
    pub fn from_code(code: u32) -> Option<Self> {
        match code {
            abi::DIR_CLIENT_TO_SERVER => Some(Direction::ClientToServer),
            abi::DIR_SERVER_TO_CLIENT => Some(Direction::ServerToClient),
            _ => None,
        }
    }
}

/// Converts microseconds since the Unix epoch to a `SystemTime`.
pub fn system_time(unix_micros: i64) -> SystemTime {
    if unix_micros >= 0 {
        UNIX_EPOCH + Duration::from_micros(unix_micros as u64)
    } else {
        UNIX_EPOCH - Duration::from_micros(unix_micros.unsigned_abs())
    }
}

/// One message: a line without its `\n`, or in raw mode one TCP read.
#[derive(Debug)]
pub struct Message<'a> {
    session_id: u64,
    direction: Direction,
    timestamp_micros: i64,
    flags: u32,
    line: &'a [u8],
    line_len: u64,
    /// The tape the host lent, when it indexed the line.
    lent: Option<&'a [Node]>,
    /// The tape built here, for a message the host did not index (tests, tools).
    own: OnceCell<Vec<Node>>,
    json: OnceCell<Option<Value>>,
}

impl<'a> Message<'a> {
    /// Builds a message; `flags` are the `abi::MSG_*` bits. Used by the shims and by tests.
    pub fn new(
        session_id: u64,
        direction: Direction,
        timestamp_micros: i64,
        line: &'a [u8],
        flags: u32,
    ) -> Self {
        Message {
            session_id,
            direction,
            timestamp_micros,
            flags,
            line,
            line_len: line.len() as u64,
            lent: None,
            own: OnceCell::new(),
            json: OnceCell::new(),
        }
    }

    /// Attaches the JSON tape the host built for this line (empty: not JSON).
    pub fn with_index(mut self, nodes: &'a [Node]) -> Self {
        self.lent = Some(nodes);
        self
    }

    /// What the host hands over with a line, set in place: its tape and its full length.
    pub(crate) fn lend(&mut self, nodes: &'a [Node], line_len: u64) {
        self.lent = Some(nodes);
        self.set_full_len(line_len);
    }

    /// Sets the full length of an oversize line whose `bytes()` are only a preview.
    pub fn with_full_len(mut self, line_len: u64) -> Self {
        self.set_full_len(line_len);
        self
    }

    fn set_full_len(&mut self, line_len: u64) {
        self.line_len = line_len.max(self.line.len() as u64);
    }

    /// The session this message belongs to.
    pub fn session_id(&self) -> u64 {
        self.session_id
    }

    /// Which way it travelled.
    pub fn direction(&self) -> Direction {
        self.direction
    }

    /// When its bytes arrived at the proxy, in microseconds since the Unix epoch.
    pub fn timestamp_micros(&self) -> i64 {
        self.timestamp_micros
    }

    /// When its bytes arrived at the proxy.
    pub fn timestamp(&self) -> SystemTime {
        system_time(self.timestamp_micros)
    }

    /// The raw bytes (without the `\n`); only a preview for an oversize line.
    pub fn bytes(&self) -> &'a [u8] {
        self.line
    }

    /// The bytes as text, if they are valid UTF-8.
    pub fn text(&self) -> Option<&'a str> {
        std::str::from_utf8(self.line).ok()
    }

    /// The full length of the line in bytes, even when oversize.
    pub fn len(&self) -> u64 {
        self.line_len
    }

    /// True for an empty line.
    pub fn is_empty(&self) -> bool {
        self.line_len == 0
    }

    /// The line exceeded the maximum line length: it was forwarded but is not analysed, and
    /// [`Message::bytes`] holds only its beginning.
    pub fn is_oversize(&self) -> bool {
        self.flags & abi::MSG_OVERSIZE != 0
    }

    /// Raw mode: this is one TCP read, not one line.
    pub fn is_raw(&self) -> bool {
        self.flags & abi::MSG_RAW != 0
    }

    /// The peer closed before sending a final newline; this is the tail it left.
    pub fn lacks_newline(&self) -> bool {
        self.flags & abi::MSG_NO_NEWLINE != 0
    }

    /// The message travelled encrypted and the proxy decrypted it (after a STARTTLS switch, or
    /// on a TLS listener).
    pub fn is_tls(&self) -> bool {
        self.flags & abi::MSG_TLS != 0
    }

    /// The `abi::MSG_*` bits.
    pub fn flags(&self) -> u32 {
        self.flags
    }

    /// The line's JSON, read through the index the host built once for every plugin: no parse,
    /// no allocation. `None` when the line is not JSON, is oversize, or is a raw read.
    ///
    /// ```
    /// # use ctiproxy_plugin_api::{Direction, Message};
    /// let line = br#"{"class":"getlist","status":{"new":"2"},"timenow":1550844512.3439999}"#;
    /// let m = Message::new(1, Direction::ServerToClient, 0, line, 0);
    /// let root = m.root().unwrap();
    /// assert!(root.path("status.new").unwrap().text_equals("2"));
    /// assert_eq!(root.get("timenow").unwrap().raw(), b"1550844512.3439999"); // as written
    /// ```
    pub fn root(&self) -> Option<index::Value<'_>> {
        let nodes = match self.lent {
            Some(nodes) => nodes,
            None => self.own.get_or_init(|| {
                let mut nodes = Vec::new();
                crate::instance::index_line(self.line, self.flags, &mut nodes);
                nodes
            }),
        };
        (!nodes.is_empty()).then(|| index::Index::new(self.line, nodes).root())
    }

    /// A field of the message (a top-level key or a dotted path such as `status.new`), through
    /// the index.
    pub fn get(&self, path: &str) -> Option<index::Value<'_>> {
        self.root()?.path(path)
    }

    /// The line parsed into a `serde_json::Value`, on first use and cached, for plugins that
    /// want serde; [`Message::root`] reads the same JSON without building anything. `None` when
    /// it is not JSON, is oversize, or is a raw read.
    pub fn json(&self) -> Option<&Value> {
        self.json
            .get_or_init(|| {
                if self.is_oversize() || self.is_raw() {
                    return None;
                }
                serde_json::from_slice(self.line).ok()
            })
            .as_ref()
    }

    /// The message's `class` field, when it is a JSON object that has a string one.
    pub fn class(&self) -> Option<&str> {
        let class = self.root()?.get("class")?;
        if class.kind() != index::Kind::String {
            return None;
        }
        // Borrowed from the line when it has no escapes, the common case.
        let borrowed = (!class.node().is_escaped())
            .then(|| std::str::from_utf8(class.raw()).ok().map(unquote))
            .flatten();
        borrowed.or_else(|| self.json()?.get("class")?.as_str())
    }
}

/// The text of a string token without its quotes.
fn unquote(raw: &str) -> &str {
    &raw[1..raw.len() - 1]
}

/// A client connected and the proxy reached the server.
#[derive(Debug, Clone, Copy)]
pub struct SessionStart<'a> {
    /// The session's id, unique in this process.
    pub session_id: u64,
    /// When it started, microseconds since the Unix epoch.
    pub timestamp_micros: i64,
    /// The client's address.
    pub client_addr: &'a str,
    /// The server's address.
    pub server_addr: &'a str,
    /// TLS from the first byte (a TLS listener). A STARTTLS session starts in plain text: its
    /// messages after the switch say [`Message::is_tls`].
    pub tls: bool,
}

/// A session ended; no more messages for it will follow. `Default` gives zero figures, so tests
/// name only what they need: `SessionEnd { session_id: 1, dropped: 2, ..Default::default() }`.
#[derive(Debug, Clone, Copy, Default)]
pub struct SessionEnd<'a> {
    /// The session's id.
    pub session_id: u64,
    /// When it ended, microseconds since the Unix epoch.
    pub timestamp_micros: i64,
    /// Why it ended, e.g. `client closed` or `server refused: connection refused`.
    pub reason: &'a str,
    /// Bytes forwarded client → server.
    pub bytes_c2s: u64,
    /// Bytes forwarded server → client.
    pub bytes_s2c: u64,
    /// Lines client → server.
    pub msgs_c2s: u64,
    /// Lines server → client.
    pub msgs_s2c: u64,
    /// TCP reads client → server (what the classic tools counted as packets).
    pub reads_c2s: u64,
    /// TCP reads server → client.
    pub reads_s2c: u64,
    /// Messages of this session the pipeline lost to a full queue (`overflow = "drop"`).
    pub dropped: u64,
}
