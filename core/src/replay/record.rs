//! One recorded event, whatever capture format it came from: what the session bookkeeping turns
//! into pipeline events.

use ctiproxy_plugin_api::Direction;

use crate::event::Traffic;
use crate::framer::Frame;

/// A recorded event, with the session id the capture gave it.
#[derive(Debug, Clone)]
pub enum Record {
    /// A session started.
    Start {
        /// Recorded session id.
        session: u64,
        /// Microseconds since the Unix epoch.
        ts: i64,
        /// Client address.
        client: String,
        /// Server address.
        server: String,
        /// TLS from the first byte (recorded `"tls": true`).
        tls: bool,
    },
    /// A message.
    Message {
        /// Recorded session id.
        session: u64,
        /// When its bytes arrived.
        ts: i64,
        /// Which way it went.
        direction: Direction,
        /// The line and its flags.
        frame: Frame,
    },
    /// A session ended, with the proxy's figures.
    End {
        /// Recorded session id.
        session: u64,
        /// Microseconds since the Unix epoch.
        ts: i64,
        /// Why.
        reason: String,
        /// Client → server figures (the session's drops are counted here).
        c2s: Traffic,
        /// Server → client figures.
        s2c: Traffic,
    },
}

impl Record {
    /// When it happened.
    pub fn ts(&self) -> i64 {
        match self {
            Record::Start { ts, .. } | Record::Message { ts, .. } | Record::End { ts, .. } => *ts,
        }
    }
}
