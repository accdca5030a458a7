//! One proxied connection: dial the server, then forward both directions at once, byte for byte,
//! honouring half-close, while a copy of each direction's lines goes to the pipeline.
//!
//! A read is framed and queued for the pipeline, when the queue has room, just before it is
//! written to the other peer, so a request always reaches the pipeline before the answer it
//! provokes; when the queue is full, the read is forwarded first and (in `block` mode) the next
//! read waits for room, racing any stop. When one peer shuts its write half, the other direction
//! keeps flowing until it ends too. An I/O error ends both directions, and a reset is passed on
//! as a reset. A stop lets a write in progress finish (its lines may be in the pipeline already:
//! a capture never holds a line the peer did not get, unless the peer was not reading, which
//! the end reason then says); each socket then gets a FIN and its pending input is drained
//! briefly, so closing never resets a peer that still had our last lines to read.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use ctiproxy_plugin_api::{abi, Direction};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::sync::watch;

use crate::config::ProxyConfig;
use crate::event::{now_micros, Event, Traffic};
use crate::framer::{Frame, Framer};
use crate::partials::PartialBudget;
use crate::pipeline::PipelineHandle;

/// Why a direction stops when the proxy shuts down.
const SHUTTING_DOWN: &str = "proxy shutting down";

/// How long a stop lets a write in progress finish: its lines may be in the pipeline already.
const WRITE_GRACE: Duration = Duration::from_secs(1);

/// How long a stopped direction keeps reading (and discarding) its peer's input, so the socket
/// closes with a FIN instead of a reset that would destroy what the peer had not read yet.
const DRAIN: Duration = Duration::from_millis(250);

/// Size of one read.
const READ_SIZE: usize = 64 * 1024;

/// What every session of a proxy shares.
#[derive(Clone)]
pub struct SessionContext {
    /// The server, `host:port`.
    pub server: String,
    /// How long to wait for the server.
    pub connect_timeout: Duration,
    /// Longest line analysed.
    pub max_line: usize,
    /// One message per read instead of per line.
    pub raw: bool,
    /// The pipeline's queue.
    pub pipeline: PipelineHandle,
    /// The budget of unfinished lines, shared by every session.
    pub partials: Arc<PartialBudget>,
    /// Close a session after this long without a byte in either direction.
    pub idle_timeout: Option<Duration>,
    /// Sessions served at once; a client beyond is closed at once.
    pub max_sessions: Option<usize>,
    /// Becomes true when the proxy shuts down.
    pub shutdown: watch::Receiver<bool>,
}

impl SessionContext {
    /// The context a `[proxy]` section describes, for the (already normalised) `server`.
    pub fn new(proxy: &ProxyConfig, server: String, pipeline: PipelineHandle) -> SessionContext {
        let seconds = |s: f64| Duration::try_from_secs_f64(s).unwrap_or(Duration::MAX);
        SessionContext {
            server,
            connect_timeout: seconds(proxy.connect_timeout_secs),
            max_line: proxy.max_line_bytes,
            raw: proxy.raw,
            pipeline,
            partials: Arc::new(PartialBudget::new(proxy.max_partial_bytes)),
            idle_timeout: proxy.idle_timeout_secs.map(seconds),
            max_sessions: proxy.max_sessions,
            shutdown: watch::channel(false).1,
        }
    }
}

/// How a session went.
#[derive(Debug, Clone)]
pub struct SessionResult {
    /// Its id.
    pub id: u64,
    /// Whether the server leg was established.
    pub connected: bool,
    /// Why it ended.
    pub reason: String,
    /// Client → server.
    pub c2s: Traffic,
    /// Server → client.
    pub s2c: Traffic,
}

/// Serves one client connection to its end.
pub async fn serve(
    id: u64,
    client: TcpStream,
    client_addr: SocketAddr,
    ctx: SessionContext,
) -> SessionResult {
    let server = match connect(&ctx).await {
        Ok(server) => server,
        Err(reason) => {
            tracing::warn!(session = id, "Cannot reach the CTI server {}: {reason}. Closing the client connection from {client_addr}.", ctx.server);
            return SessionResult {
                id,
                connected: false,
                reason,
                c2s: Traffic::default(),
                s2c: Traffic::default(),
            };
        }
    };
    let server_addr = server.peer_addr().map_or_else(|_| ctx.server.clone(), |a| a.to_string());
    tracing::info!(session = id, "Client {client_addr} connected; forwarding to {server_addr}.");
    let start = Event::SessionStart {
        session: id,
        ts: now_micros(),
        client: client_addr.to_string(),
        server: server_addr,
        tls: false,
    };
    ctx.pipeline.send_control(start);
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (c2s, s2c, reason) = forward(id, client, server, &ctx).await;
    tracing::info!(
        session = id,
        "Session ended: {reason} (client > server: {} bytes, {} messages; server > client: {} bytes, {} messages).",
        c2s.bytes, c2s.messages, s2c.bytes, s2c.messages
    );
    let end = Event::SessionEnd { session: id, ts: now_micros(), reason: reason.clone(), c2s, s2c };
    ctx.pipeline.send_control(end);
    SessionResult { id, connected: true, reason, c2s, s2c }
}

/// Runs both directions (and the idle watchdog) to the end; returns their figures and why the
/// session ended.
async fn forward(
    id: u64,
    client: TcpStream,
    server: TcpStream,
    ctx: &SessionContext,
) -> (Traffic, Traffic, String) {
    let (client_read, client_write) = client.into_split();
    let (server_read, server_write) = server.into_split();
    let (abort_tx, abort_rx) = watch::channel(false);
    let shared = Arc::new(Shared {
        first_end: Mutex::new(None),
        last_activity: AtomicI64::new(now_micros()),
    });
    let pump = |direction, from, to| {
        Pump {
            id,
            direction,
            ctx: ctx.clone(),
            abort_tx: abort_tx.clone(),
            abort_rx: abort_rx.clone(),
            shared: shared.clone(),
        }
        .run(from, to)
    };
    let pumps = async {
        tokio::join!(
            pump(Direction::ClientToServer, client_read, server_write),
            pump(Direction::ServerToClient, server_read, client_write)
        )
    };
    tokio::pin!(pumps);
    let (c2s, s2c) = match ctx.idle_timeout {
        None => pumps.await,
        Some(idle) => tokio::select! {
            done = &mut pumps => done,
            () = watchdog(idle, &shared, &abort_tx) => pumps.await,
        },
    };
    let reason =
        shared.first_end.lock().unwrap_or_else(PoisonError::into_inner).take().unwrap_or_default();
    (c2s, s2c, reason)
}

/// What both directions of a session share.
struct Shared {
    /// Why the session ended: the first reason given wins.
    first_end: Mutex<Option<String>>,
    /// When the last byte arrived, either way (microseconds since the epoch).
    last_activity: AtomicI64,
}

impl Shared {
    fn note_end(&self, reason: String) {
        let mut first = self.first_end.lock().unwrap_or_else(PoisonError::into_inner);
        first.get_or_insert(reason);
    }
}

/// Ends the session once nothing moved either way for `idle`.
async fn watchdog(idle: Duration, shared: &Shared, abort: &watch::Sender<bool>) {
    let idle_us = i64::try_from(idle.as_micros()).unwrap_or(i64::MAX);
    loop {
        let quiet = now_micros().saturating_sub(shared.last_activity.load(Ordering::Relaxed));
        if quiet >= idle_us {
            shared.note_end(format!("idle for {idle:?} (idle_timeout_secs)"));
            let _ = abort.send(true);
            return;
        }
        tokio::time::sleep(Duration::from_micros((idle_us - quiet) as u64)).await;
    }
}

/// Dials the server, giving up at the connect timeout or as soon as the proxy shuts down.
async fn connect(ctx: &SessionContext) -> Result<TcpStream, String> {
    let mut shutdown = ctx.shutdown.clone();
    tokio::select! {
        dialed = tokio::time::timeout(ctx.connect_timeout, TcpStream::connect(&ctx.server)) => match dialed {
            Ok(Ok(stream)) => Ok(stream),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err(format!("no answer within {:?}", ctx.connect_timeout)),
        },
        _ = shutdown.wait_for(|s| *s) => Err("the proxy shut down while connecting".into()),
    }
}

/// One direction of a session.
struct Pump {
    id: u64,
    direction: Direction,
    ctx: SessionContext,
    abort_tx: watch::Sender<bool>,
    abort_rx: watch::Receiver<bool>,
    shared: Arc<Shared>,
}

/// How forwarding one read went.
enum Written {
    /// Written; and the stop that came meanwhile, if one did.
    Done(Option<&'static str>),
    /// Not (fully) written by the end of the grace a stop gives.
    Abandoned(&'static str),
    /// The receiver's socket failed.
    Failed(std::io::Error),
}

enum Step {
    Data(Bytes),
    Eof,
    Failed(std::io::Error),
    Stopped(&'static str),
}

impl Pump {
    fn note_end(&self, reason: String) {
        self.shared.note_end(reason);
    }

    async fn run(mut self, mut from: OwnedReadHalf, mut to: OwnedWriteHalf) -> Traffic {
        let (sender, receiver) = match self.direction {
            Direction::ClientToServer => ("client", "server"),
            Direction::ServerToClient => ("server", "client"),
        };
        let mut traffic = Traffic::default();
        let mut framer = Framer::with_budget(self.ctx.max_line, self.ctx.partials.clone());
        let mut frames = Vec::new();
        let mut buf = BytesMut::with_capacity(READ_SIZE);
        // A tail left without a newline arrived with the last read, not at the close.
        let mut last_read = now_micros();
        let mut reset = false;
        loop {
            match self.read(&mut from, &mut buf).await {
                Step::Data(chunk) => {
                    let ts = now_micros();
                    last_read = ts;
                    self.shared.last_activity.store(ts, Ordering::Relaxed);
                    if self.ctx.raw {
                        let len = chunk.len() as u64;
                        frames.push(Frame { line: chunk.clone(), len, flags: abi::MSG_RAW });
                    } else {
                        framer.push(&chunk, |f| frames.push(f));
                    }
                    let waiting = self.queue_now(&mut frames, ts, &mut traffic);
                    let stop = match self.write(&mut to, &chunk, receiver).await {
                        Written::Failed(e) => {
                            self.fail(format!("cannot write to the {receiver}: {e}"));
                            break;
                        }
                        Written::Abandoned(why) => {
                            self.stop(&mut from, &mut to, why).await;
                            break;
                        }
                        Written::Done(stop) => stop,
                    };
                    traffic.bytes += chunk.len() as u64;
                    traffic.reads += 1;
                    if let Some(why) = stop {
                        self.stop(&mut from, &mut to, why).await;
                        break;
                    }
                    if let Some(event) = waiting {
                        if !self.wait_for_room(event, &mut traffic).await {
                            break;
                        }
                    }
                }
                Step::Eof => {
                    self.note_end(format!("{sender} closed"));
                    // Half-close: pass the EOF on; the other direction keeps flowing.
                    let _ = to.shutdown().await;
                    break;
                }
                Step::Failed(e) => {
                    reset = e.kind() == std::io::ErrorKind::ConnectionReset;
                    self.fail(format!("{sender} connection failed: {e}"));
                    break;
                }
                Step::Stopped(why) => {
                    self.stop(&mut from, &mut to, why).await;
                    break;
                }
            }
        }
        if reset {
            // Pass a reset on as a reset, not as a clean end of stream: no FIN from this half,
            // and the socket closes with linger 0 when the other direction lets go of it.
            let _ = to.as_ref().set_zero_linger();
            to.forget();
        }
        frames.extend(framer.finish());
        if let Some(event) = self.queue_now(&mut frames, last_read, &mut traffic) {
            self.wait_for_room(event, &mut traffic).await;
        }
        traffic
    }

    /// Writes a chunk the pipeline may already have: a stop during the write gives the peer
    /// [`WRITE_GRACE`] to take it, so the capture never holds a line the peer did not get; only
    /// a peer that is not reading has it abandoned, and the end reason says so.
    async fn write(&mut self, to: &mut OwnedWriteHalf, chunk: &[u8], receiver: &str) -> Written {
        let write = to.write_all(chunk);
        tokio::pin!(write);
        let why = tokio::select! {
            written = &mut write => return match written {
                Ok(()) => Written::Done(None),
                Err(e) => Written::Failed(e),
            },
            why = self.stopped() => why,
        };
        match tokio::time::timeout(WRITE_GRACE, &mut write).await {
            Ok(Ok(())) => Written::Done(Some(why)),
            Ok(Err(e)) => Written::Failed(e),
            Err(_) => {
                let bytes = chunk.len();
                self.note_end(format!("{why}; the {receiver} was not reading: {bytes} bytes of the last read not delivered"));
                Written::Abandoned(why)
            }
        }
    }

    /// Ends this direction on a stop: a FIN to the receiver, and on a shutdown the sender's
    /// pending input drained, so its socket closes without a reset.
    async fn stop(&mut self, from: &mut OwnedReadHalf, to: &mut OwnedWriteHalf, why: &'static str) {
        self.note_end(why.to_owned());
        let _ = to.shutdown().await;
        if why == SHUTTING_DOWN {
            drain(from).await;
        }
    }

    fn fail(&self, reason: String) {
        self.note_end(reason);
        let _ = self.abort_tx.send(true);
    }

    /// Resolves when this direction must stop: the other one failed, or the proxy shuts down.
    async fn stopped(&mut self) -> &'static str {
        let mut shutdown = self.ctx.shutdown.clone();
        tokio::select! {
            _ = self.abort_rx.wait_for(|a| *a) => "the other direction failed",
            _ = shutdown.wait_for(|s| *s) => SHUTTING_DOWN,
        }
    }

    async fn read(&mut self, from: &mut OwnedReadHalf, buf: &mut BytesMut) -> Step {
        buf.reserve(READ_SIZE);
        tokio::select! {
            read = from.read_buf(buf) => match read {
                Ok(0) => Step::Eof,
                // A small read is copied out, so queued lines do not each pin a whole read
                // buffer; a large one is shared, zero-copy, at most 4x its size.
                Ok(n) if n < READ_SIZE / 4 => Step::Data(Bytes::copy_from_slice(&buf.split())),
                Ok(_) => Step::Data(buf.split().freeze()),
                Err(e) => Step::Failed(e),
            },
            why = self.stopped() => Step::Stopped(why),
        }
    }

    /// The queue event for the frames so far (counted as messages), if any.
    fn take_event(&self, frames: &mut Vec<Frame>, ts: i64, traffic: &mut Traffic) -> Option<Event> {
        if frames.is_empty() {
            return None;
        }
        traffic.messages += frames.len() as u64;
        let frames = std::mem::take(frames);
        Some(Event::Messages { session: self.id, direction: self.direction, ts, frames })
    }

    /// Queues the frames if the queue has room (or drops them, in drop mode); returns the event
    /// when block mode must wait, which the caller does after forwarding.
    fn queue_now(&self, frames: &mut Vec<Frame>, ts: i64, traffic: &mut Traffic) -> Option<Event> {
        let event = self.take_event(frames, ts, traffic)?;
        let count = event.message_count() as u64;
        match self.ctx.pipeline.try_send_messages(event) {
            Ok(true) => None,
            Ok(false) => {
                traffic.dropped += count;
                None
            }
            Err(event) => Some(event),
        }
    }

    /// Block mode: waits for room for `event`, unless the session must stop first, in which
    /// case the event is counted as dropped. False when stopped.
    async fn wait_for_room(&mut self, event: Event, traffic: &mut Traffic) -> bool {
        let count = event.message_count() as u64;
        let pipeline = self.ctx.pipeline.clone();
        tokio::select! {
            _ = pipeline.send_messages(event) => true,
            why = self.stopped() => {
                self.note_end(why.to_owned());
                traffic.dropped += count;
                pipeline.count_dropped(count);
                false
            }
        }
    }
}

/// Reads and discards what the peer still sends, briefly, so that closing the socket sends a
/// FIN: closing with unread input would send a reset, which makes the peer's kernel discard the
/// last lines we forwarded to it before its application read them.
async fn drain(from: &mut OwnedReadHalf) {
    let mut sink = vec![0u8; READ_SIZE];
    let _ = tokio::time::timeout(DRAIN, async {
        while matches!(from.read(&mut sink).await, Ok(n) if n > 0) {}
    })
    .await;
}
