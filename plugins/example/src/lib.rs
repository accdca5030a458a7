//! A complete ctiproxy plugin: counts the messages of one class per session and prints each
//! session's count when it ends. The template to copy: its state is keyed by session, since the
//! messages of concurrent sessions interleave.
use std::collections::HashMap;

use ctiproxy_plugin_api::{
    export_plugin, ConfigError, Host, Message, Plugin, SessionEnd, SessionStart, Verdict,
};

/// The settings: `[[pipeline]] plugin = "count-class"`, `class = "getlist"`.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    class: String,
}

/// Counts the messages whose `class` is the configured one, per session.
pub struct CountClass {
    class: String,
    /// By session id: one entry per session in progress.
    seen: HashMap<u64, u64>,
    host: Host,
}

impl Plugin for CountClass {
    const NAME: &'static str = "count-class";
    const DESCRIPTION: &'static str = "Counts the messages of one class per session.";
    type Config = Config;

    fn new(config: Config, host: Host) -> Result<Self, ConfigError> {
        Ok(CountClass { class: config.class, seen: HashMap::new(), host })
    }

    fn on_session_start(&mut self, start: &SessionStart<'_>) {
        self.seen.insert(start.session_id, 0);
    }

    fn on_message(&mut self, message: &Message<'_>) -> Verdict {
        if message.class() == Some(self.class.as_str()) {
            *self.seen.entry(message.session_id()).or_default() += 1;
        }
        Verdict::Pass
    }

    fn on_session_end(&mut self, end: &SessionEnd<'_>) {
        let seen = self.seen.remove(&end.session_id).unwrap_or(0);
        let line = format!("session {}: {seen} x {}\n", end.session_id, self.class);
        self.host.print(line.as_bytes());
    }
}

export_plugin!(CountClass);
