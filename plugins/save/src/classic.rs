//! The classic format of `ctisave`: one file per direction, each JSON message pretty-printed
//! with sorted keys, so two captures compare line by line with vimdiff.

use ctiproxy_plugin_api::{ConfigError, Direction, Host, Message};

use crate::sink::Sink;
use crate::target::Target;
use crate::Store;
use std::io::Write;

use ctiproxy_plugin_api::body::{Body, BodyStyle};
use ctiproxy_plugin_api::redact::Redact;

/// JSON indented by 4 spaces with sorted keys; anything else as it came.
const STYLE: BodyStyle = BodyStyle { raw: false, pretty: true, visible: false };

/// The two files of a classic capture.
pub struct Classic {
    client: Sink,
    server: Sink,
    renderer: Body,
    /// One message rendered, reused from message to message.
    buf: Vec<u8>,
}

impl Classic {
    /// Opens both files; errors name `client_file` or `server_file`.
    pub fn open(
        client: &Target,
        server: &Target,
        redact: Redact,
        host: &Host,
    ) -> Result<Self, ConfigError> {
        Ok(Classic {
            client: Sink::open(client, host.clone())?,
            server: Sink::open(server, host.clone())?,
            renderer: Body::redacting(redact),
            buf: Vec::with_capacity(4096),
        })
    }
}

impl Store for Classic {
    fn message(&mut self, message: &Message<'_>) {
        let sink = match message.direction() {
            Direction::ClientToServer => &mut self.client,
            Direction::ServerToClient => &mut self.server,
        };
        self.buf.clear();
        self.renderer.write(&mut self.buf, message, STYLE);
        let rendered = &self.buf;
        sink.write(|out| out.write_all(rendered));
    }

    fn flush(&mut self) {
        self.client.flush();
        self.server.flush();
    }
}
