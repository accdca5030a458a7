//! The stats plugin: what the classic `ctistat` reported, and more, per session and in total.
//!
//! - Messages per class and direction, most frequent first (`show = "msg"`, `ctistat --msg`).
//! - Network figures (`show = "network"`, `ctistat --network`): running time, application bytes,
//!   estimated packets (one per TCP read) and wire bytes (+50 header bytes per read), rates.
//! - With `show = "all"` (the default) both, plus messages per second, request → reply latency
//!   per class (a server `replyid` answering a client `commandid`), oversize and dropped counts.
//!
//! A report is printed when each session ends (`per_session = true`), and totals at shutdown when
//! there was more than one session, or only the totals with `per_session = false`. As text with
//! aligned columns, as one JSON object per line (`format = "json"`, keys in README.md), or in the
//! Python `ctistat`'s own layout (`format = "classic"`). Every time is a receive timestamp, never
//! the time of printing.

mod config;
mod figures;
pub mod latency;
mod py_float;
mod report;

use ctiproxy_plugin_api::{
    export_plugin, ConfigError, Direction, Host, Message, Plugin, SessionEnd, SessionStart, Verdict,
};

pub use config::{Config, OutputFormat, Show};
use figures::Figures;
use latency::{id_text, Pending};
use report::{Report, Scope};

/// The maps every message looks up (its session, its class): a hash map with foldhash's seeded
/// hasher, several times cheaper than SipHash on these short keys and still seeded per process,
/// so a server cannot choose class names that collide.
pub type FastMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;

/// Requests remembered while awaiting their reply, across sessions.
pub const MAX_PENDING_REQUESTS: usize = 65_536;

/// A session in progress.
#[derive(Debug, Default)]
struct Session {
    client: String,
    server: String,
    figures: Figures,
}

/// Collects statistics and prints reports.
pub struct Stats {
    host: Host,
    config: Config,
    open: FastMap<u64, Session>,
    pending: Pending,
    totals: Figures,
    sessions_ended: u64,
    /// Sessions seen so far: once there are several, classic reports say which one they are.
    sessions_seen: u64,
    /// The latest time known, ticks included: the end of sessions still open at shutdown.
    now_us: i64,
}

impl Stats {
    fn session(&mut self, id: u64) -> &mut Session {
        let seen = &mut self.sessions_seen;
        self.open.entry(id).or_insert_with(|| {
            *seen += 1;
            Session::default()
        })
    }

    /// Counts a message and pairs requests with replies, from one pass over its top-level keys
    /// (its class and its `commandid` or `replyid`).
    fn count(&mut self, message: &Message<'_>) {
        let id_key = match message.direction() {
            Direction::ClientToServer => "commandid",
            Direction::ServerToClient => "replyid",
        };
        let [class, id] = match message.root() {
            Some(json) => json.get_many(["class", id_key]),
            None => [None, None],
        };
        // A value is never a key: `as_str` reads strings only, as `Message::class` does.
        let class = class.and_then(|value| value.as_str());
        let session = message.session_id();
        self.session(session).figures.count_message(message, class.as_deref());
        let Some(id) = id.and_then(id_text) else {
            return;
        };
        let ts = message.timestamp_micros();
        match message.direction() {
            Direction::ClientToServer => {
                let class = class.as_deref().unwrap_or("(no class)");
                self.pending.insert(session, id, ts, class);
            }
            Direction::ServerToClient => {
                if let Some((class, sent)) = self.pending.take(session, id) {
                    self.session(session).figures.latency.record(&class, ts - sent);
                }
            }
        }
    }

    fn finish(&mut self, id: u64, reason: &str, session: Session) {
        self.pending.forget(id);
        if self.config.per_session {
            let scope =
                Scope::Session { id, client: &session.client, server: &session.server, reason };
            self.print(&Report::new(scope, &session.figures, self.config.show));
        }
        self.totals.merge(&session.figures);
        self.sessions_ended += 1;
    }

    fn print(&self, report: &Report<'_>) {
        let text = match self.config.format {
            OutputFormat::Text => report.to_text(),
            OutputFormat::Json => report.to_json_line(),
            OutputFormat::Classic => report.to_classic(self.sessions_seen > 1),
        };
        self.host.print(text.as_bytes());
    }
}

impl Plugin for Stats {
    const NAME: &'static str = "stats";
    const DESCRIPTION: &'static str =
        "Message, network and latency statistics, per session and in total.";
    type Config = Config;

    fn new(config: Config, host: Host) -> Result<Self, ConfigError> {
        Ok(Stats {
            host,
            config,
            open: FastMap::default(),
            pending: Pending::new(MAX_PENDING_REQUESTS),
            totals: Figures::default(),
            sessions_ended: 0,
            sessions_seen: 0,
            now_us: 0,
        })
    }

    fn on_session_start(&mut self, start: &SessionStart<'_>) {
        self.now_us = self.now_us.max(start.timestamp_micros);
        let session = self.session(start.session_id);
        session.client = start.client_addr.to_owned();
        session.server = start.server_addr.to_owned();
        session.figures.stretch(start.timestamp_micros);
    }

    fn on_message(&mut self, message: &Message<'_>) -> Verdict {
        self.now_us = self.now_us.max(message.timestamp_micros());
        self.count(message);
        Verdict::Pass
    }

    fn on_session_end(&mut self, end: &SessionEnd<'_>) {
        self.now_us = self.now_us.max(end.timestamp_micros);
        let mut session = self.open.remove(&end.session_id).unwrap_or_default();
        session.figures.apply_end(end);
        self.finish(end.session_id, end.reason, session);
    }

    fn on_tick(&mut self, now_micros: i64) {
        self.now_us = self.now_us.max(now_micros);
    }

    fn on_shutdown(&mut self) {
        let mut open: Vec<(u64, Session)> = self.open.drain().collect();
        open.sort_by_key(|(id, _)| *id);
        for (id, mut session) in open {
            session.figures.stretch(self.now_us);
            self.finish(id, "still open at shutdown", session);
        }
        if self.sessions_ended > 1 || !self.config.per_session {
            let scope = Scope::Total { sessions: self.sessions_ended };
            self.print(&Report::new(scope, &self.totals, self.config.show));
        }
    }
}

export_plugin!(Stats);
