//! The save plugin: writes the messages it sees to files, in one of two formats.
//!
//! - `format = "classic"` (the `ctisave` tool): `client_file` and `server_file`, one per
//!   direction, each JSON message pretty-printed with sorted keys so two captures compare with
//!   vimdiff.
//! - `format = "jsonl"`: one `file` holding every event as a JSON object per line, with receive
//!   timestamps, sessions and the exact bytes, for `ctiproxy replay`.
//!
//! Files are opened when the pipeline is built, so a bad path is a configuration error; a file
//! is locked before it is truncated, so a capture another process is writing is never
//! destroyed. Writes are buffered, written by a thread of each file's own, and flushed about
//! every second, at each session end and at shutdown. A write error is logged once per
//! episode and counted (`write_errors`); it never stops the proxy.
//! Secret fields (`redact`, default `["password"]`) are saved as `"***"` in both formats, and
//! files get mode `0600` (`mode`). README.md specifies both formats.

mod background;
mod claim;
mod classic;
mod config;
mod jsonl;
mod sink;
mod target;

use ctiproxy_plugin_api::{
    export_plugin, ConfigError, Host, Message, Plugin, SessionEnd, SessionStart, Verdict,
};

use classic::Classic;
use config::Targets;
pub use config::{Config, Format};
use jsonl::Jsonl;

/// What a file format does with each event.
trait Store: Send {
    fn session_start(&mut self, _start: &SessionStart<'_>) {}
    fn message(&mut self, message: &Message<'_>);
    fn session_end(&mut self, _end: &SessionEnd<'_>) {}
    fn flush(&mut self);
}

/// Saves every message it sees (after earlier filters) to files.
pub struct Save {
    store: Box<dyn Store>,
}

impl Plugin for Save {
    const NAME: &'static str = "save";
    const DESCRIPTION: &'static str =
        "Saves messages to files: one per direction (classic) or a replayable JSON-lines capture.";
    type Config = Config;

    fn new(config: Config, host: Host) -> Result<Self, ConfigError> {
        let redact = config.redact.clone();
        let store: Box<dyn Store> = match config.targets()? {
            Targets::Classic { client, server } => {
                Box::new(Classic::open(&client, &server, redact, &host)?)
            }
            Targets::Jsonl(file) => Box::new(Jsonl::open(&file, redact, &host)?),
        };
        Ok(Save { store })
    }

    fn on_session_start(&mut self, start: &SessionStart<'_>) {
        self.store.session_start(start);
    }

    fn on_message(&mut self, message: &Message<'_>) -> Verdict {
        self.store.message(message);
        Verdict::Pass
    }

    fn on_session_end(&mut self, end: &SessionEnd<'_>) {
        self.store.session_end(end);
        self.store.flush();
    }

    fn on_tick(&mut self, _now_micros: i64) {
        self.store.flush();
    }

    fn on_shutdown(&mut self) {
        self.store.flush();
    }
}

export_plugin!(Save);
