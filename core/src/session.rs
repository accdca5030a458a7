//! One proxied connection: dial the server, then forward both directions at once, byte for byte,
//! honouring half-close, while a copy of each direction's lines goes to the pipeline.
//!
//! Forwarding comes first: a read is written to the other peer before it is framed and queued,
//! so analysis never delays the bytes (only a full queue in `block` mode slows the next read).
//! When one peer shuts its write half, the other direction keeps flowing until it ends too. An
//! I/O error (a reset) ends both directions.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use ctiproxy_plugin_api::{abi, Direction};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;

use crate::event::{now_micros, Event, Traffic};
use crate::framer::{Frame, Framer};
use crate::pipeline::PipelineHandle;

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
    /// Becomes true when the proxy shuts down.
    pub shutdown: watch::Receiver<bool>,
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
    };
    ctx.pipeline.send_control(start).await;
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (client_read, client_write) = client.into_split();
    let (server_read, server_write) = server.into_split();
    let (abort_tx, abort_rx) = watch::channel(false);
    let first_end = Arc::new(Mutex::new(None));
    let pump = |direction, from, to| {
        Pump {
            id,
            direction,
            ctx: ctx.clone(),
            abort_tx: abort_tx.clone(),
            abort_rx: abort_rx.clone(),
            first_end: first_end.clone(),
        }
        .run(from, to)
    };
    let (c2s, s2c) = tokio::join!(
        pump(Direction::ClientToServer, client_read, server_write),
        pump(Direction::ServerToClient, server_read, client_write)
    );
    let reason =
        first_end.lock().unwrap_or_else(PoisonError::into_inner).take().unwrap_or_default();
    tracing::info!(
        session = id,
        "Session ended: {reason} (client > server: {} bytes, {} messages; server > client: {} bytes, {} messages).",
        c2s.bytes, c2s.messages, s2c.bytes, s2c.messages
    );
    let end = Event::SessionEnd { session: id, ts: now_micros(), reason: reason.clone(), c2s, s2c };
    ctx.pipeline.send_control(end).await;
    SessionResult { id, connected: true, reason, c2s, s2c }
}

async fn connect(ctx: &SessionContext) -> Result<TcpStream, String> {
    match tokio::time::timeout(ctx.connect_timeout, TcpStream::connect(&ctx.server)).await {
        Ok(Ok(stream)) => Ok(stream),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("no answer within {:?}", ctx.connect_timeout)),
    }
}

/// One direction of a session.
struct Pump {
    id: u64,
    direction: Direction,
    ctx: SessionContext,
    abort_tx: watch::Sender<bool>,
    abort_rx: watch::Receiver<bool>,
    first_end: Arc<Mutex<Option<String>>>,
}

enum Step {
    Data(Bytes),
    Eof,
    Failed(String),
    Stopped(&'static str),
}

impl Pump {
    fn note_end(&self, reason: String) {
        let mut first = self.first_end.lock().unwrap_or_else(PoisonError::into_inner);
        first.get_or_insert(reason);
    }

    async fn run(
        mut self,
        mut from: impl AsyncRead + Unpin,
        mut to: impl AsyncWrite + Unpin,
    ) -> Traffic {
        let (sender, receiver) = match self.direction {
            Direction::ClientToServer => ("client", "server"),
            Direction::ServerToClient => ("server", "client"),
        };
        let mut traffic = Traffic::default();
        let mut framer = Framer::new(self.ctx.max_line);
        let mut frames = Vec::new();
        let mut buf = BytesMut::with_capacity(READ_SIZE);
        // A tail left without a newline arrived with the last read, not at the close.
        let mut last_read = now_micros();
        loop {
            match self.read(&mut from, &mut buf).await {
                Step::Data(chunk) => {
                    let ts = now_micros();
                    last_read = ts;
                    // Framed and queued before forwarding whenever the queue has room: a
                    // request then always reaches the pipeline before the answer it provokes
                    // (the MI rules tell a server's answer from a push by that order).
                    if self.ctx.raw {
                        let len = chunk.len() as u64;
                        frames.push(Frame { line: chunk.clone(), len, flags: abi::MSG_RAW });
                    } else {
                        framer.push(&chunk, |f| frames.push(f));
                    }
                    let waiting = self.queue_now(&mut frames, ts, &mut traffic);
                    // A peer that stops reading must not pin the session past a stop.
                    let written = tokio::select! {
                        written = to.write_all(&chunk) => written,
                        why = self.stopped() => {
                            self.note_end(why.to_owned());
                            break;
                        }
                    };
                    if let Err(e) = written {
                        self.fail(format!("cannot write to the {receiver}: {e}"));
                        break;
                    }
                    traffic.bytes += chunk.len() as u64;
                    traffic.reads += 1;
                    if let Some(event) = waiting {
                        self.ctx.pipeline.send_messages(event).await;
                    }
                }
                Step::Eof => {
                    self.note_end(format!("{sender} closed"));
                    // Half-close: pass the EOF on; the other direction keeps flowing.
                    let _ = to.shutdown().await;
                    break;
                }
                Step::Failed(e) => {
                    self.fail(format!("{sender} connection failed: {e}"));
                    break;
                }
                Step::Stopped(why) => {
                    self.note_end(why.to_owned());
                    let _ = to.shutdown().await;
                    break;
                }
            }
        }
        frames.extend(framer.finish());
        self.queue(&mut frames, last_read, &mut traffic).await;
        traffic
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
            _ = shutdown.wait_for(|s| *s) => "proxy shutting down",
        }
    }

    async fn read(&mut self, from: &mut (impl AsyncRead + Unpin), buf: &mut BytesMut) -> Step {
        buf.reserve(READ_SIZE);
        tokio::select! {
            read = from.read_buf(buf) => match read {
                Ok(0) => Step::Eof,
                // A small read is copied out, so queued lines do not each pin a whole read
                // buffer; a large one is shared, zero-copy, at most 4x its size.
                Ok(n) if n < READ_SIZE / 4 => Step::Data(Bytes::copy_from_slice(&buf.split())),
                Ok(_) => Step::Data(buf.split().freeze()),
                Err(e) => Step::Failed(e.to_string()),
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

    async fn queue(&self, frames: &mut Vec<Frame>, ts: i64, traffic: &mut Traffic) {
        let Some(event) = self.take_event(frames, ts, traffic) else {
            return;
        };
        let count = event.message_count() as u64;
        if !self.ctx.pipeline.send_messages(event).await {
            traffic.dropped += count;
        }
    }
}
