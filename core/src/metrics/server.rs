//! The `/metrics` endpoint: a minimal HTTP/1.1 server on the proxy's runtime, answering
//! `GET /metrics` (and `HEAD`) with the text exposition, 405 for other methods there and 404
//! elsewhere.
//!
//! It is small on purpose: a scrape renders a few hundred lines, so connections are served on
//! the runtime's workers, at most [`MAX_CONNECTIONS`] at once (Prometheus uses one), and a
//! client that does not finish its request head in [`HEADER_TIMEOUT`] is dropped.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{HeaderValue, ALLOW, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use super::registry::Exposition;

/// Connections served at once; one beyond is closed at once.
pub const MAX_CONNECTIONS: usize = 16;
/// How long a client may take to send its request head.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// The path the exposition is served at.
pub const PATH: &str = "/metrics";

/// Why the endpoint cannot be served.
#[derive(Debug, thiserror::Error)]
#[error("cannot serve metrics on {addr}: {reason}")]
pub struct BindError {
    /// The configured address.
    pub addr: String,
    /// Why (not `source`: the message already says it).
    pub reason: std::io::Error,
}

/// Binds the endpoint's address (`[metrics] listen`, validated already).
pub async fn bind(addr: &str) -> Result<TcpListener, BindError> {
    let error = |reason| BindError { addr: addr.to_owned(), reason };
    let parsed: SocketAddr = addr.parse().map_err(|_| {
        error(std::io::Error::new(std::io::ErrorKind::InvalidInput, "not an ip:port address"))
    })?;
    TcpListener::bind(parsed).await.map_err(error)
}

/// Serves `exposition` on `listener` until the runtime stops.
pub async fn serve(listener: TcpListener, exposition: Exposition) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                // E.g. too many open files: the proxy matters more than its metrics; wait, retry.
                tracing::warn!("Metrics endpoint cannot accept a connection: {e}.");
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            tracing::debug!(
                "Metrics endpoint: {peer} closed, {MAX_CONNECTIONS} connections are open."
            );
            continue;
        };
        let exposition = exposition.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request| {
                let exposition = exposition.clone();
                async move { Ok::<_, Infallible>(respond(&request, &exposition)) }
            });
            let connection = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .serve_connection(TokioIo::new(stream), service);
            if let Err(e) = connection.await {
                tracing::debug!("Metrics endpoint: connection from {peer}: {e}.");
            }
            drop(slot);
        });
    }
}

fn respond(request: &Request<Incoming>, exposition: &Exposition) -> Response<Full<Bytes>> {
    let (status, content_type, body) = match (request.method(), request.uri().path()) {
        (&Method::GET | &Method::HEAD, PATH) => {
            (StatusCode::OK, Exposition::CONTENT_TYPE, exposition.render())
        }
        (_, PATH) => (StatusCode::METHOD_NOT_ALLOWED, "text/plain", "GET or HEAD only\n".into()),
        _ => (StatusCode::NOT_FOUND, "text/plain", format!("metrics are at {PATH}\n")),
    };
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    if status == StatusCode::METHOD_NOT_ALLOWED {
        response.headers_mut().insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
    }
    response
}
