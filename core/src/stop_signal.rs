//! The signals that stop a run: Ctrl-C (SIGINT), SIGTERM, SIGHUP and SIGQUIT all mean "finish
//! the sessions, flush every plugin, report, exit". SIGHUP does not reopen files (captures are
//! opened once, locked, for the whole run): rotate them with a restart, or logrotate's
//! `copytruncate`.
//!
//! One listener serves the whole run, installed before the caller says it is ready: a signal is
//! then never lost between two listeners (the serving loop's and the drain's), nor does it meet
//! the default action (death without a report) because nothing listened yet.

use tokio::runtime::Runtime;
use tokio::sync::watch;

/// A latch set by the first stopping signal of the run.
#[derive(Clone)]
pub struct StopSignal {
    received: watch::Receiver<bool>,
}

impl StopSignal {
    /// Installs the handlers now and listens on a task of `runtime` (which must have workers of
    /// its own: the latch is set while the caller blocks elsewhere).
    pub fn install(runtime: &Runtime) -> StopSignal {
        let _entered = runtime.enter();
        let listeners = Listeners::register();
        let (set, received) = watch::channel(false);
        runtime.spawn(async move {
            let name = listeners.recv().await;
            tracing::info!("{name}; finishing sessions and flushing plugins.");
            let _ = set.send(true);
        });
        StopSignal { received }
    }

    /// Whether a stopping signal has arrived.
    pub fn received(&self) -> bool {
        *self.received.borrow()
    }

    /// Resolves once a stopping signal has arrived.
    pub async fn wait(&self) {
        let mut received = self.received.clone();
        if received.wait_for(|set| *set).await.is_err() {
            // The listener is gone with its runtime: no signal can come any more.
            std::future::pending::<()>().await;
        }
    }
}

/// The registered signal streams.
#[cfg(unix)]
struct Listeners(Vec<(tokio::signal::unix::Signal, &'static str)>);

#[cfg(unix)]
impl Listeners {
    /// Registers the four signals; one that cannot be registered is logged and not listened to.
    fn register() -> Listeners {
        use tokio::signal::unix::{signal, SignalKind};
        let kinds = [
            (SignalKind::interrupt(), "Interrupted"),
            (SignalKind::terminate(), "SIGTERM received"),
            (SignalKind::hangup(), "SIGHUP received"),
            (SignalKind::quit(), "SIGQUIT received"),
        ];
        let streams = kinds
            .into_iter()
            .filter_map(|(kind, name)| match signal(kind) {
                Ok(stream) => Some((stream, name)),
                Err(e) => {
                    tracing::warn!("cannot listen for a signal ({name}): {e}");
                    None
                }
            })
            .collect();
        Listeners(streams)
    }

    /// The name of the first signal received.
    async fn recv(mut self) -> &'static str {
        std::future::poll_fn(|cx| {
            for (stream, name) in &mut self.0 {
                if stream.poll_recv(cx).is_ready() {
                    return std::task::Poll::Ready(*name);
                }
            }
            std::task::Poll::Pending
        })
        .await
    }
}

#[cfg(not(unix))]
struct Listeners;

#[cfg(not(unix))]
impl Listeners {
    fn register() -> Listeners {
        Listeners
    }

    async fn recv(self) -> &'static str {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
        "Interrupted"
    }
}
