//! The events the proxy hands the pipeline through its queue: owned, cheap to move (a message's
//! bytes are a `Bytes` view of the read buffer, not a copy). The lines of one read travel as one
//! event, so the queue costs one hand-over per read, not one per line.

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

impl std::ops::Add for Traffic {
    type Output = Traffic;

    /// The figures of two phases of one direction (plain, then TLS after a STARTTLS switch).
    fn add(self, other: Traffic) -> Traffic {
        Traffic {
            bytes: self.bytes + other.bytes,
            messages: self.messages + other.messages,
            reads: self.reads + other.reads,
            dropped: self.dropped + other.dropped,
        }
    }
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
        /// TLS from the first byte (a TLS listener); see `abi::SESSION_TLS`.
        tls: bool,
    },
    /// The lines one read completed (or, in raw mode, the read itself), in order.
    Messages {
        /// Session id.
        session: u64,
        /// Which way they went.
        direction: Direction,
        /// When the bytes that completed them arrived.
        ts: i64,
        /// The lines.
        frames: Vec<Frame>,
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
    /// One whole line as a message event (benchmarks, tests).
    pub fn line(session: u64, direction: Direction, ts: i64, line: impl Into<Bytes>) -> Event {
        let line = line.into();
        let frame = Frame { len: line.len() as u64, line, flags: 0 };
        Event::Messages { session, direction, ts, frames: vec![frame] }
    }

    /// What the event pins in memory while queued: its lines' bytes (a frame's line is a view of
    /// exactly its bytes, or a preview for an oversize line), each frame's bookkeeping and the
    /// frame list's spare capacity. Tiny frames cost what they weigh, not one byte.
    pub fn weight(&self) -> usize {
        const EVENT_OVERHEAD: usize = std::mem::size_of::<Event>() + 32;
        match self {
            Event::Messages { frames, .. } => {
                let lines: usize = frames.iter().map(|f| f.line.len()).sum();
                EVENT_OVERHEAD + frames.capacity() * std::mem::size_of::<Frame>() + lines
            }
            Event::SessionStart { client, server, .. } => {
                EVENT_OVERHEAD + client.len() + server.len()
            }
            Event::SessionEnd { reason, .. } => EVENT_OVERHEAD + reason.len(),
        }
    }

    /// How many messages the event carries.
    pub fn message_count(&self) -> usize {
        match self {
            Event::Messages { frames, .. } => frames.len(),
            _ => 0,
        }
    }
}
