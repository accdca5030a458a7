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
use subject::Values;

/// `{pbx}` of a message whose session start was not seen.
const UNKNOWN_PBX: &str = "unknown";

/// Publishes the message stream to NATS JetStream.
pub struct Export {
    settings: Arc<Settings>,
    host: Host,
    buffer: Arc<Buffer>,
    /// None in a check-only build.
    publisher: Option<Publisher>,
    /// Each open session's `{pbx}`.
    pbx: HashMap<u64, String>,
    /// A line with its secrets masked, reused from message to message.
    masked: Vec<u8>,
    drops: Drops,
}

/// Records dropped because the buffer was full: logged when an episode begins and ends.
#[derive(Default)]
struct Drops {
    total: u64,
    /// Dropped in the current episode (zero: none going on).
    episode: u64,
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
        Ok(Export {
            settings,
            host,
            buffer,
            publisher,
            pbx: HashMap::new(),
            masked: Vec::new(),
            drops: Drops::default(),
        })
    }

    fn on_session_start(&mut self, start: &SessionStart<'_>) {
        let pbx = self.settings.pbx.clone().unwrap_or_else(|| start.server_addr.to_owned());
        self.pbx.insert(start.session_id, pbx);
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
        self.pbx.remove(&end.session_id);
    }

    fn on_shutdown(&mut self) {
        let Some(publisher) = &mut self.publisher else { return };
        let (records, bytes) = publisher.finish(self.settings.flush_timeout);
        let summary = format!(
            "{} records dropped because the buffer was full (on_full = {})",
            self.drops.total,
            self.settings.on_full.name()
        );
        if records > 0 {
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
    ) -> (String, Bytes) {
        let pbx = self.pbx.get(&session).map_or(UNKNOWN_PBX, String::as_str);
        let proxy = self.settings.proxy.as_str();
        let subject = self.settings.subject.render(&Values { pbx, proxy, direction, class });
        (subject, Exported { record, proxy, pbx }.to_bytes())
    }

    fn push(&mut self, subject: String, payload: Bytes) {
        let dropped = self.buffer.push(subject, payload).dropped;
        if dropped == 0 {
            return self.end_drop_episode();
        }
        self.host.counter_add("dropped", dropped);
        self.drops.total += dropped;
        if self.drops.episode == 0 {
            let which = match self.settings.on_full {
                OnFull::DropOldest => "the oldest records",
                OnFull::DropNewest => "new records",
            };
            self.host.warn(&format!(
                "the buffer is full ({} bytes): dropping {which} (on_full = {}) until NATS \
                 catches up",
                self.settings.buffer_bytes,
                self.settings.on_full.name()
            ));
        }
        self.drops.episode += dropped;
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
