//! The export plugin: publishes every message it sees, and a record at each session's start
//! and end, to NATS JetStream, from where any consumer takes over (README: "Many PBXes").
//!
//! Publishing never holds up the pipeline: records go into a bounded buffer (`buffer_bytes`)
//! that a thread of the plugin publishes from, removing each record once JetStream
//! acknowledged it (at least once; `Nats-Msg-Id` lets the server drop a record sent twice).
//! When the buffer is full, `on_full` drops the oldest or the newest records, counted
//! (`dropped`) and logged once per episode. At shutdown the buffer is flushed for up to
//! `flush_timeout` and what was not delivered is reported. The plugin README describes the
//! settings.

mod buffer;
mod connection;
mod delivery;
mod publisher;
mod record;
mod settings;
mod stream;
mod subject;

use std::collections::HashMap;
use std::sync::Arc;

use async_nats::Subject;
use bytes::Bytes;
use ctiproxy_plugin_api::capture::{EndRecord, MessageRecord, StartRecord};
use ctiproxy_plugin_api::{
    export_plugin, ConfigError, Host, Message, Plugin, SessionEnd, SessionStart, Verdict,
};

use buffer::Buffer;
use publisher::Publisher;
use record::Exported;
use settings::Settings;
pub use settings::{Config, OnFull};
use subject::SessionTemplate;

/// `{pbx}` of a message whose session start was not seen.
const UNKNOWN_PBX: &str = "unknown";

/// Publishes the message stream to NATS JetStream.
pub struct Export {
    settings: Arc<Settings>,
    host: Host,
    buffer: Arc<Buffer>,
    /// None in a check-only build.
    publisher: Option<Publisher>,
    /// Each open session's `{pbx}` and subjects.
    sessions: HashMap<u64, Session>,
    /// The `{pbx}` and subjects of a message whose session start was not seen.
    unknown: Session,
    /// A line with its secrets masked, reused from message to message.
    masked: Vec<u8>,
    drops: Drops,
}

/// What a session's records share, worked out once at its start.
struct Session {
    pbx: String,
    subject: SessionTemplate,
}

impl Session {
    fn new(settings: &Settings, pbx: String) -> Session {
        let subject = settings.subject.for_session(&pbx, &settings.proxy);
        Session { pbx, subject }
    }
}

/// Records dropped because the buffer was full: logged when an episode begins and ends.
#[derive(Default)]
struct Drops {
    total: u64,
    /// Dropped in the current episode (zero: none going on).
    episode: u64,
    /// Records heavier than the whole buffer (warned about once).
    too_large: u64,
}

impl Plugin for Export {
    const NAME: &'static str = "export";
    const DESCRIPTION: &'static str =
        "Publishes every message and session record to NATS JetStream (at least once, buffered).";
    type Config = Config;

    fn new(config: Config, host: Host) -> Result<Self, ConfigError> {
        let settings = Arc::new(config.settings()?);
        let buffer = Arc::new(Buffer::new(settings.buffer_bytes, settings.on_full));
        let publisher = if host.is_check_only() {
            None
        } else {
            let id_prefix = format!("{}-{}-", settings.proxy, now_micros());
            Some(Publisher::start(settings.clone(), buffer.clone(), host.clone(), id_prefix)?)
        };
        let unknown = Session::new(&settings, UNKNOWN_PBX.to_owned());
        Ok(Export {
            settings,
            host,
            buffer,
            publisher,
            sessions: HashMap::new(),
            unknown,
            masked: Vec::new(),
            drops: Drops::default(),
        })
    }

    fn on_session_start(&mut self, start: &SessionStart<'_>) {
        let pbx = self.settings.pbx.clone().unwrap_or_else(|| start.server_addr.to_owned());
        self.sessions.insert(start.session_id, Session::new(&self.settings, pbx));
        self.publish(start.session_id, "session", "start", StartRecord::new(start));
    }

    fn on_message(&mut self, message: &Message<'_>) -> Verdict {
        let redact = &self.settings.redact;
        let redacted = redact.line(message.bytes(), message.root(), &mut self.masked);
        let bytes = if redacted { &self.masked[..] } else { message.bytes() };
        let record = MessageRecord::new(message, bytes, redacted);
        let (subject, payload) = self.render(
            message.session_id(),
            message.direction().sender(),
            message.class().unwrap_or("none"),
            record,
        );
        self.push(subject, payload);
        Verdict::Pass
    }

    fn on_session_end(&mut self, end: &SessionEnd<'_>) {
        self.publish(end.session_id, "session", "end", EndRecord::new(end));
        self.sessions.remove(&end.session_id);
    }

    fn on_shutdown(&mut self) {
        let Some(publisher) = &mut self.publisher else { return };
        let finished = publisher.finish(self.settings.flush_timeout);
        let (records, bytes) = (finished.records, finished.bytes);
        let summary = format!(
            "{} records dropped because the buffer was full (on_full = {})",
            self.drops.total,
            self.settings.on_full.name()
        );
        if let Some(panic) = finished.panic {
            self.host.counter_add("lost", records as u64);
            self.host.error(&format!(
                "the publisher to NATS failed ({panic}): {records} records ({bytes} bytes) were \
                 not delivered; {summary}"
            ));
        } else if records > 0 {
            self.host.counter_add("lost", records as u64);
            self.host.warn(&format!(
                "{records} records ({bytes} bytes) were not delivered to NATS within \
                 flush_timeout ({:?}); {summary}",
                self.settings.flush_timeout
            ));
        } else if self.drops.total > 0 {
            self.host.warn(&format!("every buffered record was delivered; {summary}"));
        }
    }
}

impl Export {
    fn publish(
        &mut self,
        session: u64,
        direction: &str,
        class: &str,
        record: impl serde::Serialize,
    ) {
        let (subject, payload) = self.render(session, direction, class, record);
        self.push(subject, payload);
    }

    /// The subject and the JSON of a record.
    fn render(
        &self,
        session: u64,
        direction: &str,
        class: &str,
        record: impl serde::Serialize,
    ) -> (Subject, Bytes) {
        let session = self.sessions.get(&session).unwrap_or(&self.unknown);
        let subject = session.subject.render(direction, class);
        let proxy = self.settings.proxy.as_str();
        (subject, Exported { record, proxy, pbx: &session.pbx }.to_bytes())
    }

    fn push(&mut self, subject: Subject, payload: Bytes) {
        let pushed = self.buffer.push(subject, payload);
        if pushed.too_large {
            return self.too_large();
        }
        let dropped = pushed.dropped;
        if dropped == 0 {
            return self.end_drop_episode();
        }
        self.host.counter_add("dropped", dropped);
        self.drops.total += dropped;
        if self.drops.episode == 0 {
            self.warn_full();
        }
        self.drops.episode += dropped;
    }

    /// The buffer is full: because NATS is behind, or because the publisher failed.
    fn warn_full(&self) {
        let which = match self.settings.on_full {
            OnFull::DropOldest => "the oldest records",
            OnFull::DropNewest => "new records",
        };
        let until = match &self.publisher {
            Some(publisher) if !publisher.is_running() => "for good: the publisher failed",
            _ => "until NATS catches up",
        };
        self.host.warn(&format!(
            "the buffer is full ({} bytes): dropping {which} (on_full = {}) {until}",
            self.settings.buffer_bytes,
            self.settings.on_full.name()
        ));
    }

    /// A record heavier than the whole buffer: no outage is to blame, `buffer_bytes` is too
    /// small for it.
    fn too_large(&mut self) {
        self.host.counter_add("too_large_dropped", 1);
        if self.drops.too_large == 0 {
            self.host.warn(&format!(
                "a record heavier than the whole buffer (buffer_bytes = {}) was dropped; such \
                 records are counted in too_large_dropped (a record weighs about twice its \
                 line: raise buffer_bytes)",
                self.settings.buffer_bytes
            ));
        }
        self.drops.too_large += 1;
    }

    fn end_drop_episode(&mut self) {
        if self.drops.episode > 0 {
            self.host.info(&format!(
                "the buffer has room again; {} records were dropped meanwhile",
                self.drops.episode
            ));
            self.drops.episode = 0;
        }
    }
}

fn now_micros() -> u128 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_micros())
}

export_plugin!(Export);
