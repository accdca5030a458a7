//! The listener: accepts CTI clients and runs a [`crate::session`] for each,
//! concurrently, with a process-unique session id.
//!
//! Without `loop` it serves exactly one client and returns when that session ends; with it, it
//! serves until shutdown; with `max_sessions`, a client beyond that many open sessions is closed
//! at once. On shutdown every session stops forwarding and reports its end, so the
//! pipeline sees every session close before it is told to shut down.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::metrics::EndReason;
use crate::session::{self, SessionContext, SessionResult};

static NEXT_SESSION: AtomicU64 = AtomicU64::new(1);

/// What the listener did.
#[derive(Debug, Default)]
pub struct Summary {
    /// Every session, in the order they ended.
    pub sessions: Vec<SessionResult>,
    /// The run was stopped (a signal), rather than ending with its one session.
    pub stopped: bool,
}

impl Summary {
    /// True when some client could not be connected to the server.
    pub fn any_failed(&self) -> bool {
        self.sessions.iter().any(|s| !s.connected)
    }
}

/// Closes a client beyond `max_sessions` at once (the server is never dialed for it).
fn refuse(
    client: tokio::net::TcpStream,
    addr: std::net::SocketAddr,
    open: usize,
    ctx: &SessionContext,
) {
    tracing::warn!("Refused {addr}: {open} sessions are open already (max_sessions).");
    if let Some(metrics) = &ctx.metrics {
        metrics.refused();
    }
    drop(client);
}

/// Serves one client, counted as an open session meanwhile and by its end reason after.
async fn serve(
    id: u64,
    client: tokio::net::TcpStream,
    addr: std::net::SocketAddr,
    ctx: SessionContext,
) -> SessionResult {
    let metrics = ctx.metrics.clone();
    if let Some(metrics) = &metrics {
        metrics.opened();
    }
    let result = session::serve(id, client, addr, ctx).await;
    if let Some(metrics) = &metrics {
        metrics.closed(EndReason::of(result.connected, &result.reason));
    }
    result
}

/// Serves clients from `listener` until shutdown (or after one session without `keep_serving`).
pub async fn run(
    listener: TcpListener,
    mut ctx: SessionContext,
    keep_serving: bool,
    shutdown: impl Future<Output = ()>,
) -> Summary {
    let (stop_tx, stop_rx) = watch::channel(false);
    ctx.shutdown = stop_rx;
    let mut sessions = JoinSet::new();
    let mut summary = Summary::default();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((client, addr)) => {
                    if ctx.max_sessions.is_some_and(|max| sessions.len() >= max) {
                        refuse(client, addr, sessions.len(), &ctx);
                        continue;
                    }
                    let id = NEXT_SESSION.fetch_add(1, Ordering::Relaxed);
                    sessions.spawn(serve(id, client, addr, ctx.clone()));
                    if !keep_serving {
                        break;
                    }
                }
                // E.g. too many open files: log, pause so a persistent error cannot spin, keep
                // serving the others.
                Err(e) => {
                    tracing::warn!("Cannot accept a connection: {e}.");
                    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                }
            },
            Some(done) = sessions.join_next(), if !sessions.is_empty() => {
                summary.sessions.extend(done.ok());
            }
            () = &mut shutdown => {
                let _ = stop_tx.send(true);
                break;
            }
        }
    }
    drop(listener);
    summary.stopped = *stop_tx.borrow();
    loop {
        tokio::select! {
            done = sessions.join_next() => match done {
                Some(done) => summary.sessions.extend(done.ok()),
                None => break,
            },
            () = &mut shutdown, if !*stop_tx.borrow() => {
                let _ = stop_tx.send(true);
                summary.stopped = true;
            }
        }
    }
    summary
}
