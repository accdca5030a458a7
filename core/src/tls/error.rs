//! What can go wrong with TLS: the configuration's files (found by `check` and at start, named
//! by their key) and one session's handshake (named by its side).

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// Why the TLS configuration cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsSetupError {
    /// A file cannot be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The `[proxy]` key that names it.
        key: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A file does not hold what the key needs.
    #[error("{}: {why}", path.display())]
    Invalid {
        /// The `[proxy]` key that names it.
        key: &'static str,
        /// The file.
        path: PathBuf,
        /// What is wrong.
        why: String,
    },
    /// The self-signed certificate could not be made.
    #[error("cannot generate a self-signed certificate: {0}")]
    Generate(String),
    /// The server's host cannot be checked against a certificate.
    #[error("{0}")]
    ServerName(String),
}

impl TlsSetupError {
    /// The `[proxy]` key the error is about.
    pub fn key(&self) -> &'static str {
        match self {
            TlsSetupError::Read { key, .. } | TlsSetupError::Invalid { key, .. } => key,
            TlsSetupError::Generate(_) => "tls",
            TlsSetupError::ServerName(_) => "server",
        }
    }
}

/// A leg of a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The CTI client's connection to the proxy.
    Client,
    /// The proxy's connection to the CTI server.
    Server,
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Side::Client => "client",
            Side::Server => "server",
        })
    }
}

/// A TLS handshake that did not complete; it ends the session.
#[derive(Debug, thiserror::Error)]
pub enum HandshakeError {
    /// The peer or the socket failed the handshake.
    #[error("TLS handshake with the {side} failed: {reason}")]
    Failed {
        /// Which leg.
        side: Side,
        /// rustls's or the socket's reason.
        reason: std::io::Error,
    },
    /// The peer did not complete the handshake in time.
    #[error("TLS handshake with the {side} timed out: not complete within {limit:?} (tls_handshake_timeout_secs)")]
    TimedOut {
        /// Which leg.
        side: Side,
        /// The limit.
        limit: Duration,
    },
}
