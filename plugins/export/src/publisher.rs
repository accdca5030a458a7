//! The publisher's thread: a small tokio runtime of its own (a plugin library shares no
//! runtime with the proxy) that connects, checks the stream and runs [`Delivery`] until the
//! buffer is closed and empty or the shutdown deadline passes.
//!
//! At start, the plugin waits up to `connect_timeout` for the connection, then up to
//! `ack_timeout` for the stream look-up: the server's verdict. Wrong
//! credentials, TLS refused or a missing stream (with `create_stream = false`) stop the proxy
//! with a configuration error; a server that is merely away does not, the records wait.

use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use async_nats::{jetstream, Client};
use ctiproxy_plugin_api::{ConfigError, Host};
use tokio::sync::watch;

use crate::buffer::Buffer;
use crate::connection::{self, Refused};
use crate::delivery::Delivery;
use crate::settings::Settings;
use crate::stream::{self, Unusable};

/// What the start found.
enum Start {
    /// Connected, stream present.
    Ready,
    /// The server is away (or did not answer about the stream): records wait.
    Outage(String),
    /// The settings do not work with this server.
    Refused(ConfigError),
}

/// The running publisher.
pub struct Publisher {
    thread: Option<JoinHandle<()>>,
    buffer: Arc<Buffer>,
    /// When the publisher must give up: set at shutdown.
    stop_at: watch::Sender<Option<Instant>>,
}

impl Publisher {
    /// Starts the thread and waits for the server's verdict on the settings.
    pub fn start(
        settings: Arc<Settings>,
        buffer: Arc<Buffer>,
        host: Host,
        id_prefix: String,
    ) -> Result<Publisher, ConfigError> {
        let (started, verdict) = mpsc::channel();
        let (stop_at, stop) = watch::channel(None);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| ConfigError::from(format!("cannot start the publisher: {e}")))?;
        let context = Context {
            settings: settings.clone(),
            buffer: buffer.clone(),
            host: host.clone(),
            id_prefix,
        };
        let thread = std::thread::Builder::new()
            .name("export".into())
            .spawn(move || run_thread(&runtime, context, started, stop))
            .map_err(|e| ConfigError::from(format!("cannot start the publisher: {e}")))?;
        let mut publisher = Publisher { thread: Some(thread), buffer, stop_at };
        // The connection attempt is bounded by connect_timeout; the stream look-up by ack_timeout
        // (both at most an hour: the sum cannot overflow).
        let wait = settings.connect_timeout.saturating_add(settings.ack_timeout);
        match verdict.recv_timeout(wait) {
            Ok(Start::Ready) => {}
            Ok(Start::Outage(reason)) => host.warn(&format!(
                "NATS is not available ({reason}); records wait in the buffer (up to {} bytes) \
                 while the plugin keeps trying",
                settings.buffer_bytes
            )),
            Ok(Start::Refused(error)) => {
                publisher.stop(Duration::ZERO);
                return Err(error);
            }
            Err(RecvTimeoutError::Timeout) => host.warn(
                "NATS has not answered yet; records wait in the buffer while the plugin keeps \
                 trying",
            ),
            Err(RecvTimeoutError::Disconnected) => {
                let Stopped::Panicked(panic) = publisher.stop(Duration::ZERO) else {
                    return Err(ConfigError::from("the publisher stopped before connecting"));
                };
                return Err(ConfigError::from(format!("the publisher failed: {panic}")));
            }
        }
        Ok(publisher)
    }

    /// Whether the publisher's thread still runs (false once it failed).
    pub fn is_running(&self) -> bool {
        self.thread.as_ref().is_some_and(|thread| !thread.is_finished())
    }

    /// Closes the buffer and waits up to `deadline` for it to drain; returns the records and
    /// bytes left undelivered, and whether the publisher's thread died.
    pub fn finish(&mut self, deadline: Duration) -> Finished {
        let stopped = self.stop(deadline);
        let (records, bytes) = self.buffer.pending();
        Finished { records, bytes, panic: stopped.panic() }
    }

    fn stop(&mut self, deadline: Duration) -> Stopped {
        self.buffer.close();
        // Never overflows: a deadline is at most an hour (settings), else far off is enough.
        let at = Instant::now().checked_add(deadline);
        let _ = self.stop_at.send(Some(at.unwrap_or_else(far_future)));
        match self.thread.take().map(JoinHandle::join) {
            Some(Err(panic)) => Stopped::Panicked(panic_text(&*panic)),
            _ => Stopped::Ended,
        }
    }
}

/// The publisher's thread. A panic is said at once (the buffer stops draining), then goes on
/// to the join, which reports it with the undelivered count at shutdown.
fn run_thread(
    runtime: &tokio::runtime::Runtime,
    context: Context,
    started: mpsc::Sender<Start>,
    stop: watch::Receiver<Option<Instant>>,
) {
    let host = context.host.clone();
    // Nothing the closure touched is used after a panic but the buffer, whose lock takes a
    // poisoned state as it is (its queue and byte count stay consistent under each lock).
    let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        runtime.block_on(context.run(started, stop));
    }));
    if let Err(panic) = ran {
        host.error(&format!(
            "the publisher to NATS failed ({}): records stay in the buffer, and what does not \
             fit is dropped",
            panic_text(&*panic)
        ));
        std::panic::resume_unwind(panic);
    }
}

/// How the publisher's thread ended.
enum Stopped {
    Ended,
    /// It panicked, saying this.
    Panicked(String),
}

impl Stopped {
    fn panic(self) -> Option<String> {
        match self {
            Stopped::Ended => None,
            Stopped::Panicked(text) => Some(text),
        }
    }
}

/// What [`Publisher::finish`] found.
pub struct Finished {
    /// Records not delivered.
    pub records: usize,
    /// Their bytes.
    pub bytes: usize,
    /// The publisher's thread panicked, saying this.
    pub panic: Option<String>,
}

/// A panic's message, when it has one.
fn panic_text(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|text| (*text).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".into())
}

/// A deadline that never comes in practice (a day away).
fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(86_400)
}

impl Drop for Publisher {
    fn drop(&mut self) {
        self.stop(Duration::ZERO);
    }
}

/// What the thread works with.
struct Context {
    settings: Arc<Settings>,
    buffer: Arc<Buffer>,
    host: Host,
    id_prefix: String,
}

impl Context {
    async fn run(self, started: mpsc::Sender<Start>, stop: watch::Receiver<Option<Instant>>) {
        tokio::select! {
            () = self.work(started) => {}
            () = deadline(stop) => {}
        }
    }

    async fn work(&self, started: mpsc::Sender<Start>) {
        let Some((client, connected)) = self.connect(&started).await else { return };
        let mut js = jetstream::new(client);
        js.set_timeout(self.settings.ack_timeout);
        let stream_ready = connected && self.check_stream(&js, &started).await;
        let mut delivery = Delivery::new(
            self.settings.clone(),
            self.buffer.clone(),
            self.host.clone(),
            self.id_prefix.clone(),
            stream_ready,
        );
        delivery.run(&js).await;
    }

    /// A client, and whether it connected at once (else it keeps trying in the background);
    /// None when the server refused the settings and the start is told so.
    async fn connect(&self, started: &mpsc::Sender<Start>) -> Option<(Client, bool)> {
        match connection::connect_once(&self.settings, &self.host).await {
            Ok(client) => Some((client, true)),
            Err(refused) => {
                // A refusal the start took ends here (the plugin is dropped); else keep trying.
                let refused_at_start = match refused {
                    Refused::Misconfigured(error) => self.refused(started, error),
                    Refused::Unreachable(reason) => {
                        let _ = started.send(Start::Outage(reason));
                        false
                    }
                };
                if refused_at_start {
                    return None;
                }
                match connection::connect_retrying(&self.settings, &self.host).await {
                    Ok(client) => Some((client, false)),
                    Err(reason) => {
                        self.host.error(&format!("NATS: {reason}"));
                        None
                    }
                }
            }
        }
    }

    /// Checks the stream and tells the start; false when delivery must check it again.
    async fn check_stream(&self, js: &jetstream::Context, started: &mpsc::Sender<Start>) -> bool {
        match stream::ensure(js, &self.settings.stream).await {
            Ok(()) => {
                let _ = started.send(Start::Ready);
                true
            }
            Err(Unusable::Misconfigured(error)) => {
                // Delivery checks again if the start no longer waits; else the plugin is dropped.
                self.refused(started, error);
                false
            }
            Err(Unusable::Unanswered(reason)) => {
                let _ = started.send(Start::Outage(reason));
                false
            }
        }
    }

    /// Hands a refusal to the start (true), or, when the start stopped waiting, logs it
    /// (false): the plugin keeps trying, in case the server's side is what gets fixed.
    fn refused(&self, started: &mpsc::Sender<Start>, error: ConfigError) -> bool {
        match started.send(Start::Refused(error)) {
            Ok(()) => true,
            Err(mpsc::SendError(start)) => {
                if let Start::Refused(error) = start {
                    self.host.error(&format!("{error}; records wait in the buffer"));
                }
                false
            }
        }
    }
}

/// Resolves once shutdown set a deadline and it passed.
async fn deadline(mut stop: watch::Receiver<Option<Instant>>) {
    let Ok(at) = stop.wait_for(Option::is_some).await.map(|at| *at) else {
        // The plugin is gone without a shutdown: stop now.
        return;
    };
    if let Some(at) = at {
        tokio::time::sleep_until(at.into()).await;
    }
}
