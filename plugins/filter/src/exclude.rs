//! The exclude plugin: later plugins do not see the messages that match.

use ctiproxy_plugin_api::{ConfigError, Host, Message, Plugin, Verdict};

use crate::matcher::{MatchConfig, Matcher};

/// Drops the JSON messages that match any condition of `match`; passes every other message.
///
/// Lines that are not JSON (and oversize lines and raw reads, which are never decoded) cannot
/// match, so exclude **passes** them: `--exclude class=keepalive` hides keepalives only.
pub struct Exclude {
    matcher: Matcher,
}

impl Plugin for Exclude {
    const NAME: &'static str = "exclude";
    const DESCRIPTION: &'static str =
        "Hides the messages matching any condition (non-JSON lines pass).";
    type Config = MatchConfig;

    fn new(config: MatchConfig, _host: Host) -> Result<Self, ConfigError> {
        Ok(Exclude { matcher: Matcher::from_setting(&config.conditions)? })
    }

    fn on_message(&mut self, message: &Message<'_>) -> Verdict {
        match message.root() {
            Some(root) if self.matcher.matches_root(root) => Verdict::Drop,
            _ => Verdict::Pass,
        }
    }
}
