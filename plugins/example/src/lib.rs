//! A complete ctiproxy plugin: counts the messages of one class and prints the count at the end.
use ctiproxy_plugin_api::{export_plugin, ConfigError, Host, Message, Plugin, SessionEnd, Verdict};

/// The settings: `[[pipeline]] plugin = "count-class"`, `class = "getlist"`.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    class: String,
}

/// Counts the messages whose `class` is the configured one.
pub struct CountClass {
    class: String,
    seen: u64,
    host: Host,
}

impl Plugin for CountClass {
    const NAME: &'static str = "count-class";
    const DESCRIPTION: &'static str = "Counts the messages of one class per session.";
    type Config = Config;

    fn new(config: Config, host: Host) -> Result<Self, ConfigError> {
        Ok(CountClass { class: config.class, seen: 0, host })
    }

    fn on_message(&mut self, message: &Message<'_>) -> Verdict {
        self.seen += u64::from(message.class() == Some(self.class.as_str()));
        Verdict::Pass
    }

    fn on_session_end(&mut self, end: &SessionEnd<'_>) {
        let line = format!("session {}: {} x {}\n", end.session_id, self.seen, self.class);
        self.host.print(line.as_bytes());
        self.seen = 0;
    }
}

export_plugin!(CountClass);
