//! Both legs' handshakes at once, each within the configured time: the client's (the proxy as
//! server) and the server's (the proxy as client). The first failure ends both.

use std::future::Future;
use std::time::Duration;

use tokio::net::TcpStream;
use tokio_rustls::{client, server};

use super::{HandshakeError, Side, TlsSetup};

/// The client leg in TLS (the proxy is its server).
pub type ClientLeg = server::TlsStream<TcpStream>;
/// The server leg in TLS (the proxy is its client).
pub type ServerLeg = client::TlsStream<TcpStream>;

/// Runs both handshakes on the sessions' sockets.
pub async fn both(
    setup: &TlsSetup,
    client: TcpStream,
    server: TcpStream,
) -> Result<(ClientLeg, ServerLeg), HandshakeError> {
    let limit = setup.handshake_timeout;
    let client = within(limit, Side::Client, setup.client.acceptor.accept(client));
    let server =
        within(limit, Side::Server, setup.connector().connect(setup.server_name(), server));
    tokio::try_join!(client, server)
}

async fn within<T>(
    limit: Duration,
    side: Side,
    handshake: impl Future<Output = std::io::Result<T>>,
) -> Result<T, HandshakeError> {
    match tokio::time::timeout(limit, handshake).await {
        Ok(Ok(stream)) => Ok(stream),
        Ok(Err(reason)) => Err(HandshakeError::Failed { side, reason }),
        Err(_) => Err(HandshakeError::TimedOut { side, limit }),
    }
}

/// The protocol version a leg agreed, for the log (`TLSv1_3`).
pub fn version<S>(conn: &rustls::ConnectionCommon<S>) -> String {
    conn.protocol_version().map_or_else(|| "?".into(), |v| format!("{v:?}"))
}
