//! The safe side of a plugin: the [`Plugin`] trait a plugin author implements and the
//! [`Verdict`] it returns for each message.

use serde::de::DeserializeOwned;

use crate::error::ConfigError;
use crate::host::Host;
use crate::message::{Message, SessionEnd, SessionStart};

/// What happens to a message after a plugin saw it. The wire is never affected: a verdict only
/// changes what the *later* plugins of the pipeline see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Later plugins see the message unchanged.
    Pass,
    /// Later plugins do not see the message.
    Drop,
    /// Later plugins see these bytes instead (one line, without `\n`).
    Replace(Vec<u8>),
}

/// A pipeline plugin. Implement it, then export it with [`crate::export_plugin!`].
///
/// Each hook has a default body, so a plugin implements only what it needs. Hooks are called from
/// one thread at a time (the pipeline thread), hence `Send` but not `Sync`.
///
/// One instance sees every session, and **the events of concurrent sessions interleave**:
/// session 2 may start, and its messages arrive, between session 1's start and end. Keep
/// per-session state keyed by the session id (`Message::session_id`, `SessionStart::session_id`),
/// created at the start and removed at the end, as the `count-class` example does; test it with
/// the harness's `client_in`/`server_in`, which take a session id. A panic in any hook is
/// caught at the boundary: the instance is dropped, logged once and never called again, while the
/// proxy and the other plugins carry on.
pub trait Plugin: Send + Sized + 'static {
    /// The name used in `[[pipeline]] plugin = "..."`: lowercase ASCII letters, digits and `-`,
    /// starting with a letter (the loader refuses any other). The library is found fastest
    /// when named after it: `count-class` in `libctiproxy_count_class.so`.
    const NAME: &'static str;
    /// One line saying what the plugin does, shown by `ctiproxy plugins`.
    const DESCRIPTION: &'static str;
    /// The plugin's settings: the keys of its `[[pipeline]]` table (apart from `plugin`).
    /// Use `#[serde(deny_unknown_fields)]` so a misspelt key is an error, not a surprise.
    type Config: DeserializeOwned;

    /// Builds an instance. Called before the proxy listens (and by `ctiproxy check`), so reject
    /// bad settings here with a [`ConfigError`] naming the key.
    fn new(config: Self::Config, host: Host) -> Result<Self, ConfigError>;

    /// A client connected and the server leg is up.
    fn on_session_start(&mut self, _session: &SessionStart<'_>) {}

    /// One message in one direction, in order per direction.
    fn on_message(&mut self, _message: &Message<'_>) -> Verdict {
        Verdict::Pass
    }

    /// A session ended: every one of its messages has been delivered.
    fn on_session_end(&mut self, _session: &SessionEnd<'_>) {}

    /// About once a second (`now_micros`: microseconds since the Unix epoch): flush buffers,
    /// expire state. Never called while another hook of this instance runs.
    fn on_tick(&mut self, _now_micros: i64) {}

    /// The proxy is shutting down: flush files, print totals.
    fn on_shutdown(&mut self) {}
}
