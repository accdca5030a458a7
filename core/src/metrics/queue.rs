//! The pipeline queue as Prometheus sees it: its depth in events and bytes, its limits, and the
//! messages that never reached analysis, all read from the queue's own budget and drop count at
//! scrape time.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::DescriptorEncoder;

use super::names;
use super::scraped::{counter, gauge};
use crate::budget::Budget;

/// Reads the queue's figures at each scrape.
#[derive(Debug)]
pub struct QueueProbe {
    budget: Budget,
    dropped: Arc<AtomicU64>,
}

impl QueueProbe {
    /// A probe of the queue `budget` bounds, whose dropped messages `dropped` counts.
    pub fn new(budget: Budget, dropped: Arc<AtomicU64>) -> QueueProbe {
        QueueProbe { budget, dropped }
    }
}

fn signed(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl Collector for QueueProbe {
    fn encode(&self, mut encoder: DescriptorEncoder) -> std::fmt::Result {
        let limits = self.budget.limits();
        gauge(&mut encoder, names::QUEUE_EVENTS, signed(self.budget.queued_events()))?;
        gauge(&mut encoder, names::QUEUE_BYTES, signed(self.budget.queued_bytes()))?;
        gauge(&mut encoder, names::QUEUE_LIMIT_EVENTS, signed(limits.events))?;
        gauge(&mut encoder, names::QUEUE_LIMIT_BYTES, signed(limits.bytes))?;
        counter(&mut encoder, names::DROPPED_MESSAGES, self.dropped.load(Ordering::Relaxed))
    }
}
