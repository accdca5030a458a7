//! The classic format of `ctisave`: one file per direction, each JSON message pretty-printed
//! with sorted keys, so two captures compare line by line with vimdiff.

use ctiproxy_plugin_api::{ConfigError, Direction, Host, Message};

use crate::sink::Sink;
use crate::target::Target;
use crate::Store;

use ctiproxy_plugin_api::body::{Body, BodyStyle};
use ctiproxy_plugin_api::redact::Redact;

/// JSON indented by 4 spaces with sorted keys; anything else as it came.
const STYLE: BodyStyle = BodyStyle { raw: false, pretty: true, visible: false };

/// The two files of a classic capture.
pub struct Classic {
    client: Sink,
    server: Sink,
    renderer: Body,
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
        })
    }
}

impl Store for Classic {
    fn message(&mut self, message: &Message<'_>) {
        let sink = match message.direction() {
            Direction::ClientToServer => &mut self.client,
            Direction::ServerToClient => &mut self.server,
        };
        // Rendered straight into the file's buffer: no copy of its own.
        let renderer = &mut self.renderer;
        sink.write(|out| {
            renderer.write(out, message, STYLE);
            Ok(())
        });
    }

    fn flush(&mut self) {
        self.client.flush();
        self.server.flush();
    }
}
