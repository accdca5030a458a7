//! TLS on the proxy's two legs, through rustls (ring provider; no OpenSSL).
//!
//! With `tls = "intercept"` a session starts in plain text and [`starttls`] watches the
//! negotiation (cti-protocol.md §1): the offer and the answer are relayed byte for byte, and when
//! the server confirms, both legs switch to TLS on the same sockets. With `tls = "always"` (the
//! legacy CTIS port 5013) both legs are TLS from the first byte. Either way the proxy is the TLS
//! server for the client ([`acceptor`]) and the TLS client for the server ([`connector`]), and
//! [`handshake`] runs both at once. [`setup`] reads the configuration's files once, so `check`
//! and every session see the same thing.

pub mod acceptor;
pub mod connector;
pub mod error;
pub mod handshake;
pub mod material;
pub mod setup;
pub mod starttls;

pub use error::{HandshakeError, Side, TlsSetupError};
pub use setup::TlsSetup;

/// The cryptography every TLS configuration of the proxy uses.
fn provider() -> std::sync::Arc<rustls::crypto::CryptoProvider> {
    std::sync::Arc::new(rustls::crypto::ring::default_provider())
}
