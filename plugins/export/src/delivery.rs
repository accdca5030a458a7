//! Delivery: takes records from the buffer's front, publishes them to JetStream and removes
//! them once the server acknowledged them (at least once). A batch that fails is sent again
//! from the buffer's front with the same message ids, so whatever the server had already
//! stored is recognised as a duplicate (`Nats-Msg-Id`) instead of stored twice.
//!
//! A record the server refuses for good (larger than its `max_payload` or the stream's
//! `max_msg_size`) is removed and counted as `rejected_lost` instead of blocking the buffer.
//!
//! The outage and the recovery are logged once each, not per record: a batch that makes some
//! progress and then fails does not end the outage. During an outage only one
//! record at a time is tried, after a growing pause, so retries do not pile up in the client.

use std::fmt::Write;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_nats::connection::State;
use async_nats::header::{HeaderValue, NATS_MESSAGE_ID};
use async_nats::jetstream::context::{PublishAckFuture, PublishError, PublishErrorKind};
use async_nats::jetstream::message::PublishMessage;
use async_nats::jetstream::{self, Context, ErrorCode};
use ctiproxy_plugin_api::Host;

use crate::buffer::{Buffer, Record};
use crate::settings::Settings;
use crate::stream::{self, Unusable};

/// Records in flight at once while all is well.
const BATCH: usize = 256;
/// Whether the server refuses this record whatever happens: sending it again is pointless.
fn rejects_for_good(error: &PublishError) -> bool {
    let code = std::error::Error::source(error)
        .and_then(|source| source.downcast_ref::<jetstream::Error>())
        .map(jetstream::Error::error_code);
    code == Some(ErrorCode::STREAM_MESSAGE_EXCEEDS_MAXIMUM)
}

/// The first pause after a failure, doubled at each new failure up to [`MAX_PAUSE`].
const FIRST_PAUSE: Duration = Duration::from_millis(50);
const MAX_PAUSE: Duration = Duration::from_secs(2);

/// The publisher's state between batches.
pub struct Delivery {
    settings: Arc<Settings>,
    buffer: Arc<Buffer>,
    host: Host,
    /// `PROXY-START-`: with a record's number, its message id, unique across restarts.
    id_prefix: String,
    /// The message id being built: `id_prefix` and a record's number.
    id: String,
    stream_ready: bool,
    /// Records the server refused for good (the first one is warned about).
    rejected: u64,
    /// Since when NATS has not been answering.
    outage: Option<Instant>,
    pause: Duration,
}

/// How far a batch went.
struct Sent {
    /// The last record of the acknowledged prefix.
    acknowledged: Option<u64>,
    /// Why the rest was not acknowledged.
    error: Option<String>,
}

impl Delivery {
    /// Ready to deliver; `stream_ready` when the stream was already checked.
    pub fn new(
        settings: Arc<Settings>,
        buffer: Arc<Buffer>,
        host: Host,
        id_prefix: String,
        stream_ready: bool,
    ) -> Self {
        Delivery {
            settings,
            buffer,
            host,
            id: id_prefix.clone(),
            id_prefix,
            stream_ready,
            rejected: 0,
            outage: None,
            pause: FIRST_PAUSE,
        }
    }

    /// Delivers until the buffer is closed and empty.
    pub async fn run(&mut self, js: &Context) {
        loop {
            let window = if self.outage.is_some() { 1 } else { BATCH };
            let Some(batch) = self.buffer.front(window).await else { return };
            // Records handed to a disconnected client would wait in it and go out on
            // reconnection, behind the buffer's back: while disconnected, nothing is sent.
            if js.client().connection_state() != State::Connected {
                self.failed("not connected").await;
                continue;
            }
            if let Err(reason) = self.stream(js).await {
                self.failed(&reason).await;
                continue;
            }
            let sent = self.publish(js, &batch).await;
            if let Some(seq) = sent.acknowledged {
                let delivered = self.buffer.acknowledged(seq);
                self.host.counter_add("published", delivered);
            }
            match sent.error {
                // Progress followed by a failure is still the outage: no recovery line
                // between two outage lines.
                Some(reason) => self.failed(&reason).await,
                None => self.recovered(),
            }
        }
    }

    /// Checks the stream once (again after it went missing).
    async fn stream(&mut self, js: &Context) -> Result<(), String> {
        if self.stream_ready {
            return Ok(());
        }
        match stream::ensure(js, &self.settings.stream).await {
            Ok(()) => {
                self.stream_ready = true;
                Ok(())
            }
            Err(Unusable::Misconfigured(error)) => Err(error.to_string()),
            Err(Unusable::Unanswered(reason)) => Err(reason),
        }
    }

    /// Publishes `batch`, then waits for the acknowledgements in order. A record the server
    /// refuses for good (too large) leaves the buffer, counted, and the others go on.
    async fn publish(&mut self, js: &Context, batch: &[Record]) -> Sent {
        let mut pending: Vec<(u64, PublishAckFuture)> = Vec::with_capacity(batch.len());
        let mut error = None;
        for record in batch {
            let message = match self.message(record) {
                Ok(message) => message,
                Err(reason) => {
                    self.rejected(record.seq, &reason);
                    continue;
                }
            };
            match js.send_publish(record.subject.clone(), message).await {
                Ok(ack) => pending.push((record.seq, ack)),
                // Against the limit the server announced (none yet: not a verdict on the record).
                Err(e)
                    if e.kind() == PublishErrorKind::MaxPayloadExceeded
                        && js.client().max_payload() > 0 =>
                {
                    self.rejected(record.seq, &e.to_string());
                }
                Err(e) => {
                    error = Some(e.to_string());
                    break;
                }
            }
        }
        let mut acknowledged = None;
        for (seq, ack) in pending {
            match ack.await {
                Ok(ack) => {
                    if ack.duplicate {
                        self.host.counter_add("duplicates", 1);
                    }
                    acknowledged = Some(seq);
                }
                Err(e) if rejects_for_good(&e) => self.rejected(seq, &e.to_string()),
                Err(e) => {
                    if e.kind() == PublishErrorKind::StreamNotFound {
                        self.stream_ready = false;
                    }
                    error = Some(e.to_string());
                    break;
                }
            }
        }
        Sent { acknowledged, error }
    }

    /// A record's message, with its id; an error when the id cannot be a header value.
    fn message(&mut self, record: &Record) -> Result<PublishMessage, String> {
        self.id.truncate(self.id_prefix.len());
        // Writing into a String cannot fail.
        let _ = write!(self.id, "{}", record.seq);
        let id = HeaderValue::from_str(&self.id).map_err(|e| format!("its message id: {e}"))?;
        Ok(PublishMessage::build().payload(record.payload.clone()).header(NATS_MESSAGE_ID, id))
    }

    /// Removes a record the server will never take and counts it (`rejected_lost`); the
    /// first one is a warning with the reason, the others are debug lines (a server whose
    /// limit is too low would otherwise flood the log).
    fn rejected(&mut self, seq: u64, reason: &str) {
        let Some(bytes) = self.buffer.remove(seq) else { return };
        self.host.counter_add("rejected_lost", 1);
        let text = format!("NATS refuses a record of {bytes} bytes for good ({reason})");
        if self.rejected == 0 {
            self.host.warn(&format!(
                "{text}: it is dropped and the others go on; such records are counted in \
                 rejected_lost (the server's max_payload and the stream's max_msg_size must \
                 exceed twice the longest CTI line)"
            ));
        } else {
            self.host.debug(&text);
        }
        self.rejected += 1;
    }

    /// Logs the outage when it begins, then pauses before the next attempt.
    async fn failed(&mut self, reason: &str) {
        if self.outage.is_none() {
            self.outage = Some(Instant::now());
            let (records, bytes) = self.buffer.pending();
            self.host.warn(&format!(
                "cannot publish to NATS: {reason}; records wait in the buffer ({records} records, \
                 {bytes} of {} bytes, on_full = {}) and go out when it answers again",
                self.settings.buffer_bytes,
                self.settings.on_full.name()
            ));
        }
        self.wait().await;
    }

    async fn wait(&mut self) {
        tokio::time::sleep(self.pause).await;
        self.pause = (self.pause * 2).min(MAX_PAUSE);
    }

    /// Logs the recovery once.
    fn recovered(&mut self) {
        self.pause = FIRST_PAUSE;
        if let Some(since) = self.outage.take() {
            let (records, _) = self.buffer.pending();
            self.host.info(&format!(
                "publishing to NATS again after {:.1} s; {records} records still buffered",
                since.elapsed().as_secs_f64()
            ));
        }
    }
}
