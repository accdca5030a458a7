//! Delivery: takes records from the buffer's front, publishes them to JetStream and removes
//! them once the server acknowledged them (at least once). A batch that fails is sent again
//! from the buffer's front with the same message ids, so whatever the server had already
//! stored is recognised as a duplicate (`Nats-Msg-Id`) instead of stored twice.
//!
//! The outage and the recovery are logged once each, not per record. During an outage only one
//! record at a time is tried, after a growing pause, so retries do not pile up in the client.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_nats::connection::State;
use async_nats::jetstream::context::{PublishAckFuture, PublishErrorKind};
use async_nats::jetstream::message::PublishMessage;
use async_nats::jetstream::Context;
use ctiproxy_plugin_api::Host;

use crate::buffer::{Buffer, Record};
use crate::settings::Settings;
use crate::stream::{self, Unusable};

/// Records in flight at once while all is well.
const BATCH: usize = 256;
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
    stream_ready: bool,
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
            id_prefix,
            stream_ready,
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
                self.recovered();
            }
            if let Some(reason) = sent.error {
                self.failed(&reason).await;
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

    /// Publishes `batch`, then waits for the acknowledgements in order.
    async fn publish(&mut self, js: &Context, batch: &[Record]) -> Sent {
        let mut pending: Vec<(u64, PublishAckFuture)> = Vec::with_capacity(batch.len());
        let mut error = None;
        for record in batch {
            let message = PublishMessage::build()
                .payload(record.payload.clone())
                .message_id(format!("{}{}", self.id_prefix, record.seq));
            match js.send_publish(record.subject.clone(), message).await {
                Ok(ack) => pending.push((record.seq, ack)),
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
