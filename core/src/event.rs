//! The events the proxy hands the pipeline through its queue: owned, cheap to move (a message's
//! bytes are a `Bytes` view of the read buffer, not a copy).

use bytes::Bytes;
use ctiproxy_plugin_api::Direction;

use crate::framer::Frame;

/// Per-direction traffic figures of one session.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Traffic {
    /// Bytes forwarded.
    pub bytes: u64,
    /// Lines framed (or reads, in raw mode).
    pub messages: u64,
    /// TCP reads.
    pub reads: u64,
    /// Events the queue could not take (`overflow = "drop"`).
    pub dropped: u64,
}

/// One event for the pipeline.
#[derive(Debug, Clone)]
pub enum Event {
    /// A client connected and the server leg is up.
    SessionStart {
        /// Session id.
        session: u64,
        /// Microseconds since the Unix epoch.
        ts: i64,
        /// Client address.
        client: String,
        /// Server address.
        server: String,
    },
    /// One line (or raw read).
    Message {
        /// Session id.
        session: u64,
        /// Which way it went.
        direction: Direction,
        /// When the bytes that completed it arrived.
        ts: i64,
        /// The line.
        frame: Frame,
    },
    /// A session ended; every message of it precedes this event.
    SessionEnd {
        /// Session id.
        session: u64,
        /// Microseconds since the Unix epoch.
        ts: i64,
        /// Why it ended.
        reason: String,
        /// Client → server figures.
        c2s: Traffic,
        /// Server → client figures.
        s2c: Traffic,
    },
}

/// Microseconds since the Unix epoch, now.
pub fn now_micros() -> i64 {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    now.map_or(0, |d| d.as_micros() as i64)
}

impl Event {
    /// A message event for a frame.
    pub fn message(session: u64, direction: Direction, ts: i64, frame: Frame) -> Event {
        Event::Message { session, direction, ts, frame }
    }

    /// Test helper and demo helper: a message of a whole line.
    pub fn line(session: u64, direction: Direction, ts: i64, line: impl Into<Bytes>) -> Event {
        let line = line.into();
        let frame = Frame { len: line.len() as u64, line, flags: 0 };
        Event::message(session, direction, ts, frame)
    }
}
