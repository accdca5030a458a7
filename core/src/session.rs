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
//!
//! TLS ([`crate::tls`]): on a TLS listener both handshakes run before anything is forwarded. A
//! plain session is watched for a STARTTLS switch. With `intercept`, both directions pause at
//! the switch (the server's confirmation forwarded, nothing read after it), the same sockets go
//! through both handshakes, and forwarding resumes on the TLS streams, each message flagged
//! `MSG_TLS`. With `off`, the rest of the session is forwarded but no longer analysed.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use ctiproxy_plugin_api::{abi, Direction};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;

use crate::config::{ProxyConfig, TlsMode};
use crate::event::{now_micros, Event, Traffic};
use crate::framer::{Frame, Framer};
use crate::leg::WriteLeg;
use crate::metrics::SessionMetrics;
use crate::partials::PartialBudget;
use crate::pipeline::PipelineHandle;
use crate::read_buffers::{self, POOL, READ_SIZE};
use crate::tls::handshake;
use crate::tls::starttls::{LineWatch, Negotiation, Seen};
use crate::tls::TlsSetup;

/// Why a direction stops when the proxy shuts down.
const SHUTTING_DOWN: &str = "proxy shutting down";

/// How long a stop lets a write in progress finish: its lines may be in the pipeline already.
const WRITE_GRACE: Duration = Duration::from_secs(1);

/// How long a stopped direction keeps reading (and discarding) its peer's input, so the socket
/// closes with a FIN instead of a reset that would destroy what the peer had not read yet.
const DRAIN: Duration = Duration::from_millis(250);

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
    /// TLS (`intercept` or `always`); none: `off`, STARTTLS sessions are not analysed after the
    /// switch.
    pub tls: Option<Arc<TlsSetup>>,
    /// Live counters, when `[metrics]` is configured.
    pub metrics: Option<Arc<SessionMetrics>>,
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
            tls: None,
            metrics: None,
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
        tls: ctx.tls.as_ref().is_some_and(|tls| tls.mode == TlsMode::Always),
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
    let (abort_tx, abort_rx) = watch::channel(false);
    let session =
        Session { id, ctx: ctx.clone(), abort_tx, abort_rx, shared: Arc::new(Shared::new()) };
    let legs = session.forward(client, server);
    tokio::pin!(legs);
    let (c2s, s2c) = match ctx.idle_timeout {
        None => legs.await,
        Some(idle) => tokio::select! {
            done = &mut legs => done,
            () = watchdog(idle, &session.shared, &session.abort_tx) => legs.await,
        },
    };
    let first_end = session.shared.first_end.lock().unwrap_or_else(PoisonError::into_inner).take();
    (c2s, s2c, first_end.unwrap_or_default())
}

/// One session's forwarding: its phases (plain, then TLS after a switch, or TLS throughout)
/// and the pumps of each.
struct Session {
    id: u64,
    ctx: SessionContext,
    abort_tx: watch::Sender<bool>,
    abort_rx: watch::Receiver<bool>,
    shared: Arc<Shared>,
}

impl Session {
    fn pump(&self, direction: Direction, tls: bool) -> Pump {
        Pump {
            id: self.id,
            direction,
            tls,
            ctx: self.ctx.clone(),
            abort_tx: self.abort_tx.clone(),
            abort_rx: self.abort_rx.clone(),
            shared: self.shared.clone(),
            watch: None,
            switch: None,
        }
    }

    async fn forward(&self, client: TcpStream, server: TcpStream) -> (Traffic, Traffic) {
        match &self.ctx.tls {
            Some(tls) if tls.mode == TlsMode::Always => self.encrypted(tls, client, server).await,
            tls => self.plain(tls.clone(), client, server).await,
        }
    }

    /// Forwards in plain text, watching for a STARTTLS switch; with `intercept` (`Some`), goes
    /// on in TLS on the same sockets once both directions paused at the switch.
    async fn plain(
        &self,
        intercept: Option<Arc<TlsSetup>>,
        client: TcpStream,
        server: TcpStream,
    ) -> (Traffic, Traffic) {
        let (client_read, client_write) = client.into_split();
        let (server_read, server_write) = server.into_split();
        let mut c2s = self.pump(Direction::ClientToServer, false);
        let mut s2c = self.pump(Direction::ServerToClient, false);
        for pump in [&mut c2s, &mut s2c] {
            pump.watch = Some(LineWatch::new(pump.direction));
        }
        if intercept.is_some() {
            // The client is stopped from reading the moment the server confirms: its next
            // bytes are its TLS handshake, for the acceptor.
            c2s.switch = Some(self.shared.switch.subscribe());
        }
        let (c2s, s2c) =
            tokio::join!(c2s.run(client_read, server_write), s2c.run(server_read, client_write));
        match (intercept, c2s.paused, s2c.paused) {
            (Some(tls), Some((client_read, server_write)), Some((server_read, client_write))) => {
                let client = client_read.reunite(client_write).expect("halves of one socket");
                let server = server_read.reunite(server_write).expect("halves of one socket");
                let (more_c2s, more_s2c) = self.encrypted(&tls, client, server).await;
                (c2s.traffic + more_c2s, s2c.traffic + more_s2c)
            }
            _ => (c2s.traffic, s2c.traffic),
        }
    }

    /// Runs both handshakes, then forwards the decrypted streams. A failed handshake ends the
    /// session, its side and reason logged.
    async fn encrypted(
        &self,
        tls: &TlsSetup,
        client: TcpStream,
        server: TcpStream,
    ) -> (Traffic, Traffic) {
        let mut abort = self.abort_rx.clone();
        let handshakes = tokio::select! {
            done = handshake::both(tls, client, server) => done,
            why = stop_requested(&mut abort, &self.ctx.shutdown) => {
                self.shared.note_end(why.to_owned());
                return (Traffic::default(), Traffic::default());
            }
        };
        if let Some(metrics) = &self.ctx.metrics {
            metrics.tls().handshakes(&handshakes);
        }
        let (client, server) = match handshakes {
            Ok(legs) => legs,
            Err(e) => {
                tracing::warn!(session = self.id, "{e}; closing the session.");
                self.shared.note_end(e.to_string());
                return (Traffic::default(), Traffic::default());
            }
        };
        tracing::info!(
            session = self.id,
            "TLS established on both legs (client: {}, server: {}); the pipeline sees the decrypted messages.",
            handshake::version(client.get_ref().1),
            handshake::version(server.get_ref().1)
        );
        let (client_read, client_write) = tokio::io::split(client);
        let (server_read, server_write) = tokio::io::split(server);
        let (c2s, s2c) = tokio::join!(
            self.pump(Direction::ClientToServer, true).run(client_read, server_write),
            self.pump(Direction::ServerToClient, true).run(server_read, client_write)
        );
        (c2s.traffic, s2c.traffic)
    }
}

/// What both directions of a session share.
struct Shared {
    /// Why the session ended: the first reason given wins.
    first_end: Mutex<Option<String>>,
    /// When the last byte arrived, either way (microseconds since the epoch).
    last_activity: AtomicI64,
    /// The STARTTLS negotiation, as both directions saw it.
    negotiation: Negotiation,
    /// Becomes true when the server confirmed STARTTLS and the proxy intercepts.
    switch: watch::Sender<bool>,
    /// The session switched to TLS that the proxy does not intercept: forward, do not analyse.
    opaque: AtomicBool,
}

impl Shared {
    fn new() -> Shared {
        Shared {
            first_end: Mutex::new(None),
            last_activity: AtomicI64::new(now_micros()),
            negotiation: Negotiation::default(),
            switch: watch::channel(false).0,
            opaque: AtomicBool::new(false),
        }
    }

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

/// Resolves when a session must stop: a direction failed (or the idle watchdog fired), or the
/// proxy shuts down.
async fn stop_requested(
    abort: &mut watch::Receiver<bool>,
    shutdown: &watch::Receiver<bool>,
) -> &'static str {
    let mut shutdown = shutdown.clone();
    tokio::select! {
        _ = abort.wait_for(|a| *a) => "the other direction failed",
        _ = shutdown.wait_for(|s| *s) => SHUTTING_DOWN,
    }
}

/// Resolves when the server confirmed STARTTLS (never without a receiver).
async fn switch_signalled(switch: &mut Option<watch::Receiver<bool>>) {
    if let Some(switch) = switch {
        if switch.wait_for(|s| *s).await.is_ok() {
            return;
        }
    }
    std::future::pending().await
}

/// One direction of a session.
struct Pump {
    id: u64,
    direction: Direction,
    /// The legs are TLS: every message is flagged `MSG_TLS`.
    tls: bool,
    ctx: SessionContext,
    abort_tx: watch::Sender<bool>,
    abort_rx: watch::Receiver<bool>,
    shared: Arc<Shared>,
    /// Watches this direction's lines for the STARTTLS negotiation (plain sessions).
    watch: Option<LineWatch>,
    /// Client to server, intercepting: stop reading when the server confirms STARTTLS.
    switch: Option<watch::Receiver<bool>>,
}

/// How a direction ended, with its figures.
struct Pumped<R, W> {
    traffic: Traffic,
    /// At a STARTTLS switch: the halves, for the handshakes.
    paused: Option<(R, W)>,
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
    /// The server confirmed STARTTLS: this direction pauses for the handshakes.
    Switch,
}

impl Pump {
    fn note_end(&self, reason: String) {
        self.shared.note_end(reason);
    }

    async fn run<R, W>(mut self, mut from: R, mut to: W) -> Pumped<R, W>
    where
        R: AsyncRead + Unpin,
        W: WriteLeg,
    {
        let (sender, receiver) = match self.direction {
            Direction::ClientToServer => ("client", "server"),
            Direction::ServerToClient => ("server", "client"),
        };
        let mut traffic = Traffic::default();
        let mut framer = Framer::with_budget(self.ctx.max_line, self.ctx.partials.clone());
        let mut frames = Vec::new();
        let mut buf = POOL.take();
        // A tail left without a newline arrived with the last read, not at the close.
        let mut last_read = now_micros();
        let mut reset = false;
        let mut paused = false;
        let metrics = self.ctx.metrics.clone();
        let live = metrics.as_deref().map(|m| m.direction(self.direction));
        loop {
            match self.read(&mut from, &mut buf).await {
                Step::Data(chunk) => {
                    let ts = now_micros();
                    last_read = ts;
                    self.shared.last_activity.store(ts, Ordering::Relaxed);
                    let Some((analysed, switching)) = self.negotiate(&chunk) else { break };
                    if !self.shared.opaque.load(Ordering::Relaxed) {
                        if self.ctx.raw {
                            let len = analysed.len() as u64;
                            frames.push(Frame { line: analysed, len, flags: abi::MSG_RAW });
                        } else {
                            framer.push(&analysed, |f| frames.push(f));
                            read_buffers::unpin_sparse(&mut frames, &analysed);
                        }
                    }
                    let pause = switching && self.switch_intercepted();
                    if switching && !pause {
                        self.shared.opaque.store(true, Ordering::Relaxed);
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
                    if let Some(live) = live {
                        live.forwarded(chunk.len());
                    }
                    if let Some(why) = stop {
                        self.stop(&mut from, &mut to, why).await;
                        break;
                    }
                    if let Some(event) = waiting {
                        if !self.wait_for_room(event, &mut traffic).await {
                            break;
                        }
                    }
                    if pause {
                        paused = true;
                        break;
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
                Step::Switch => {
                    paused = true;
                    break;
                }
            }
        }
        // Empty: every read was handed on or copied out. A session's end returns it for the next.
        POOL.give_back(buf);
        frames.extend(framer.finish());
        if let Some(event) = self.queue_now(&mut frames, last_read, &mut traffic) {
            self.wait_for_room(event, &mut traffic).await;
        }
        let paused = if paused {
            Some((from, to))
        } else {
            if reset {
                to.pass_reset();
            }
            None
        };
        Pumped { traffic, paused }
    }

    /// Scans a read for the STARTTLS negotiation. Returns the part of it that is plain text
    /// (for the pipeline) and whether the switch follows it; `None` when the session must end.
    fn negotiate(&mut self, chunk: &Bytes) -> Option<(Bytes, bool)> {
        let Some(watch) = &mut self.watch else { return Some((chunk.clone(), false)) };
        match watch.scan(chunk, &self.shared.negotiation) {
            Seen::Nothing => Some((chunk.clone(), false)),
            Seen::Declined => {
                tracing::info!(
                    session = self.id,
                    "The client did not accept STARTTLS; the session goes on in plain text."
                );
                Some((chunk.clone(), false))
            }
            Seen::Switch { at } if at < chunk.len() && self.ctx.tls.is_some() => {
                let extra = chunk.len() - at;
                self.fail(format!("the server sent {extra} bytes after its STARTTLS confirmation, before the TLS handshake"));
                None
            }
            Seen::Switch { at } => Some((chunk.slice(..at), true)),
        }
    }

    /// At the server's STARTTLS confirmation: pauses both directions when intercepting (true),
    /// else says once that the rest of the session is not analysed (false).
    fn switch_intercepted(&self) -> bool {
        if self.ctx.tls.is_some() {
            tracing::info!(session = self.id, "STARTTLS accepted: switching both legs to TLS.");
            // Before the confirmation is forwarded: the client's next bytes are its handshake.
            self.shared.switch.send_replace(true);
            return true;
        }
        tracing::warn!(
            session = self.id,
            "Session {} switched to TLS (STARTTLS): the rest of it is encrypted and is forwarded but not analysed. Set [proxy] tls = \"intercept\" (--tls) to analyse it.",
            self.id
        );
        false
    }

    /// Writes a chunk the pipeline may already have: a stop during the write gives the peer
    /// [`WRITE_GRACE`] to take it, so the capture never holds a line the peer did not get; only
    /// a peer that is not reading has it abandoned, and the end reason says so.
    async fn write<W: AsyncWrite + Unpin>(
        &mut self,
        to: &mut W,
        chunk: &[u8],
        receiver: &str,
    ) -> Written {
        // A TLS leg holds what it encrypted until flushed.
        let write = async {
            to.write_all(chunk).await?;
            to.flush().await
        };
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
    async fn stop<R, W>(&mut self, from: &mut R, to: &mut W, why: &'static str)
    where
        R: AsyncRead + Unpin,
        W: AsyncWrite + Unpin,
    {
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
        stop_requested(&mut self.abort_rx, &self.ctx.shutdown).await
    }

    async fn read<R: AsyncRead + Unpin>(&mut self, from: &mut R, buf: &mut Vec<u8>) -> Step {
        // Each read starts on an empty buffer of READ_SIZE, which `read_buf` fills, never grows.
        debug_assert!(buf.is_empty() && buf.capacity() == READ_SIZE);
        let mut switch = self.switch.clone();
        tokio::select! {
            // In this order: once the server confirmed STARTTLS, the client's next bytes are its
            // TLS handshake and must stay unread; a stop must not wait for a peer that floods.
            biased;
            () = switch_signalled(&mut switch) => Step::Switch,
            why = self.stopped() => Step::Stopped(why),
            read = from.read_buf(buf) => match read {
                Ok(0) => Step::Eof,
                // A small read is copied out, so queued lines do not each pin a whole read
                // buffer, which serves the next read; a large one is shared, zero-copy, at
                // most 4x its size, and its buffer comes back once the pipeline is done with it.
                Ok(n) if n < READ_SIZE / 4 => {
                    let chunk = Bytes::copy_from_slice(buf);
                    buf.clear();
                    Step::Data(chunk)
                }
                Ok(_) => Step::Data(POOL.share(std::mem::replace(buf, POOL.take()))),
                Err(e) => Step::Failed(e),
            },
        }
    }

    /// The queue event for the frames so far (counted as messages), if any.
    fn take_event(&self, frames: &mut Vec<Frame>, ts: i64, traffic: &mut Traffic) -> Option<Event> {
        if frames.is_empty() {
            return None;
        }
        traffic.messages += frames.len() as u64;
        if self.tls {
            frames.iter_mut().for_each(|f| f.flags |= abi::MSG_TLS);
        }
        if let Some(metrics) = &self.ctx.metrics {
            metrics.direction(self.direction).framed(frames);
        }
        // The next read likely frames as many lines: room for them now, not a doubling
        // reallocation (and copy) every few lines.
        let frames = std::mem::replace(frames, Vec::with_capacity(frames.len()));
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
async fn drain<R: AsyncRead + Unpin>(from: &mut R) {
    let mut sink = vec![0u8; READ_SIZE];
    let _ = tokio::time::timeout(DRAIN, async {
        while matches!(from.read(&mut sink).await, Ok(n) if n > 0) {}
    })
    .await;
}
