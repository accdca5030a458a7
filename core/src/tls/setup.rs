//! Everything TLS a proxy needs, made once from `[proxy]`: what clients are shown, how the
//! server is reached, the handshake limit. `check` makes it too (reading every file, without
//! listening), so a bad certificate or key is found before a client is.

use std::net::Ipv4Addr;
use std::time::Duration;

use rustls_pki_types::ServerName;
use tokio_rustls::TlsConnector;

use super::acceptor::ClientFacing;
use super::connector::{self, ServerFacing};
use super::TlsSetupError;
use crate::config::{seconds_setting, ProxyConfig, TlsMode};

/// The TLS side of a proxy with `tls = "intercept"` or `"always"`.
pub struct TlsSetup {
    /// `Intercept` or `Always`.
    pub mode: TlsMode,
    /// What clients are shown.
    pub client: ClientFacing,
    /// How the server is reached.
    pub server: ServerFacing,
    /// The name the server's certificate is checked against (and sent as SNI).
    server_name: Option<ServerName<'static>>,
    /// How long each leg's handshake may take.
    pub handshake_timeout: Duration,
}

impl TlsSetup {
    /// Reads the configured files; `None` when `tls = "off"`. `server` is the normalised
    /// `host:port` (absent only when checking a configuration that has none).
    pub fn load(
        proxy: &ProxyConfig,
        server: Option<&str>,
    ) -> Result<Option<TlsSetup>, TlsSetupError> {
        if proxy.tls == TlsMode::Off {
            return Ok(None);
        }
        let client = match (&proxy.tls_cert, &proxy.tls_key) {
            (Some(cert), Some(key)) => ClientFacing::from_files(cert, key)?,
            _ => ClientFacing::self_signed()?,
        };
        let server_facing = match &proxy.tls_server_ca {
            Some(ca) => ServerFacing::verified(ca)?,
            None => ServerFacing::unverified(),
        };
        Ok(Some(TlsSetup {
            mode: proxy.tls,
            client,
            server: server_facing,
            server_name: server.map(connector::server_name).transpose()?,
            handshake_timeout: seconds_setting(proxy.tls_handshake_timeout_secs)
                .unwrap_or(Duration::MAX),
        }))
    }

    /// Says once, at start, what clients are shown and whether the server is verified.
    pub fn log(&self) {
        let mode = match self.mode {
            TlsMode::Always => "TLS listener (TLS from the first byte on both legs)",
            _ => "STARTTLS interception",
        };
        let shown = if self.client.self_signed {
            "a self-signed certificate generated at start"
        } else {
            "the configured certificate (tls_cert)"
        };
        tracing::info!(
            "{mode}: clients are shown {shown}, SHA-256 fingerprint {}.",
            self.client.fingerprint
        );
        if !self.server.verified {
            tracing::warn!(
                "The CTI server's TLS certificate is not verified: set [proxy] tls_server_ca to verify it."
            );
        }
    }

    /// Connects to the server.
    pub fn connector(&self) -> &TlsConnector {
        &self.server.connector
    }

    /// The server's name for its certificate. Only `check` makes a setup without a server, and
    /// it never connects.
    pub fn server_name(&self) -> ServerName<'static> {
        self.server_name.clone().unwrap_or(ServerName::IpAddress(Ipv4Addr::LOCALHOST.into()))
    }
}
