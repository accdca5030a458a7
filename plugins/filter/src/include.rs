//! The include plugin: later plugins see only the messages that match.

use ctiproxy_plugin_api::{ConfigError, Host, Message, Plugin, Verdict};

use crate::matcher::{MatchConfig, Matcher};

/// Passes the JSON messages that match any condition of `match`; drops every other message.
///
/// Lines that are not JSON (and oversize lines and raw reads, which are never decoded) cannot
/// match, so include **drops** them: `--include class=getlist` shows getlist messages only.
pub struct Include {
    matcher: Matcher,
}

impl Plugin for Include {
    const NAME: &'static str = "include";
    const DESCRIPTION: &'static str =
        "Keeps only the messages matching any condition (non-JSON lines are dropped).";
    type Config = MatchConfig;

    fn new(config: MatchConfig, _host: Host) -> Result<Self, ConfigError> {
        Ok(Include { matcher: Matcher::from_setting(&config.conditions)? })
    }

    fn on_message(&mut self, message: &Message<'_>) -> Verdict {
        match message.root() {
            Some(root) if self.matcher.matches_root(root) => Verdict::Pass,
            _ => Verdict::Drop,
        }
    }
}
