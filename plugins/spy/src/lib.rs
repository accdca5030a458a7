//! The spy plugin: prints every CTI message the pipeline delivers, the way the classic `ctispy`
//! did, under a header giving the time the bytes arrived and their direction:
//!
//! ```text
//!     14:08:32.215103 Server > Client
//! {"class": "login_id", "sessionid": "21UaGDfst7", "timenow": 1550844512.22}
//! ```
//!
//! JSON is printed with its keys sorted (compact, or indented by 4 spaces with `pretty`); a line
//! that is not JSON, and every message in `raw` mode, is printed as it came, except that on a
//! terminal control characters are written out (`\x1b`, `\r`, `\u009b` in JSON strings) rather
//! than obeyed. A raw TCP read (`[proxy] raw = true`) is followed by a newline, as the classic
//! tool printed it, so a read that ended a line is followed by a blank line. Settings are in
//! [`Config`]; `redact` (default `["password"]`) prints secret fields' values as `"***"`, and
//! `strip` leaves fields out of the JSON printed.

mod config;
mod header;
mod sessions;

use ctiproxy_plugin_api::{
    export_plugin, ConfigError, Direction, Host, Message, Plugin, SessionStart, Verdict,
};

pub use config::{ColorMode, Config};
use ctiproxy_plugin_api::body::{Body, BodyStyle};
use ctiproxy_plugin_api::field_path::FieldPath;
use header::{HeaderStyle, LocalClock};
use sessions::SessionTracker;

/// Prints every message with a timestamped direction header.
pub struct Spy {
    host: Host,
    client: bool,
    server: bool,
    color: bool,
    body: BodyStyle,
    renderer: Body,
    clock: LocalClock,
    sessions: SessionTracker,
    /// Reused for every message so printing does not allocate once it has grown.
    buf: Vec<u8>,
}

impl Spy {
    fn shows(&self, direction: Direction) -> bool {
        match direction {
            Direction::ClientToServer => self.client,
            Direction::ServerToClient => self.server,
        }
    }

    fn header_style(&self) -> HeaderStyle {
        HeaderStyle { color: self.color, show_session: self.sessions.several() }
    }
}

impl Plugin for Spy {
    const NAME: &'static str = "spy";
    const DESCRIPTION: &'static str =
        "Prints every message under a timestamped direction header (compact, pretty or raw).";
    type Config = Config;

    fn new(config: Config, host: Host) -> Result<Self, ConfigError> {
        let strip = FieldPath::parse_all(&config.strip, "strip")?;
        if config.raw && !strip.is_empty() {
            // Raw printing shows the bytes as they came; a strip stage before the spy is what
            // rewrites them.
            return Err(ConfigError::at(
                "strip",
                "has no effect with raw = true (lines are printed as they came); put a strip entry before the spy instead",
            ));
        }
        Ok(Spy {
            color: config.color.enabled(host.output_is_terminal()),
            client: config.client,
            server: config.server,
            // Control characters from the wire are shown, not obeyed, on a terminal; files and
            // pipes get the exact bytes.
            body: BodyStyle {
                raw: config.raw,
                pretty: config.pretty,
                visible: host.output_is_terminal(),
            },
            renderer: Body::redacting(config.redact).omitting(strip),
            clock: LocalClock::default(),
            sessions: SessionTracker::default(),
            buf: Vec::with_capacity(4096),
            host,
        })
    }

    fn on_session_start(&mut self, session: &SessionStart<'_>) {
        self.sessions.see(session.session_id);
    }

    fn on_message(&mut self, message: &Message<'_>) -> Verdict {
        if !self.shows(message.direction()) {
            return Verdict::Pass;
        }
        self.sessions.see(message.session_id());
        let style = self.header_style();
        self.buf.clear();
        header::write_header(
            &mut self.buf,
            &mut self.clock,
            style,
            message.direction(),
            message.timestamp_micros(),
            message.session_id(),
        );
        if message.is_raw() && !message.is_oversize() {
            // The classic ctispy printed each read and then a newline: a blank line after every
            // read that ended a line, which is how its users tell reads apart.
            self.renderer.write_bytes(&mut self.buf, message.bytes(), self.body.visible);
            self.buf.push(b'\n');
        } else {
            self.renderer.write(&mut self.buf, message, self.body);
        }
        // One call per message: the host interleaves plugins' output at call granularity.
        self.host.print(&self.buf);
        Verdict::Pass
    }
}

export_plugin!(Spy);
