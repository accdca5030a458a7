//! The queue's budget: how many events, and how many bytes, may wait between the proxy and the
//! pipeline.
//!
//! Counting events alone let a flood of tiny frames (a peer sending only `\n`) or a stalled
//! plugin behind big lines pin gigabytes. So every message event also takes its weight — what it
//! really pins: the lines' bytes plus the bookkeeping of each frame — from a byte budget, and
//! gives it back when the pipeline is done with it; the read buffers the lines point into weigh
//! at most eight times that, about as much for a busy stream's full reads
//! ([`crate::read_buffers`] copies out the lines of sparser reads). Session
//! starts and ends take nothing and never wait: a session is always forwarded, and every plugin
//! sees it open and close.

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::config::{Overflow, ProxyConfig};

/// The budget counts bytes in units of this many, so a u32 of units covers any queue size.
pub const UNIT: usize = 64;

/// The queue's limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueLimits {
    /// Message events waiting at most.
    pub events: usize,
    /// Bytes they may pin at most.
    pub bytes: usize,
    /// Wait for room, or drop and count.
    pub overflow: Overflow,
}

impl QueueLimits {
    /// The limits a `[proxy]` section sets.
    pub fn of(proxy: &ProxyConfig) -> QueueLimits {
        QueueLimits { events: proxy.queue, bytes: proxy.queue_bytes, overflow: proxy.overflow }
    }
}

/// Room in the queue, shared by every session's pumps.
#[derive(Debug, Clone)]
pub struct Budget {
    events: Arc<Semaphore>,
    bytes: Arc<Semaphore>,
    limits: QueueLimits,
}

/// The room one queued event holds until the pipeline has delivered it.
#[derive(Debug)]
pub struct Permit {
    _event: OwnedSemaphorePermit,
    _bytes: OwnedSemaphorePermit,
}

impl Budget {
    /// A budget for `limits`.
    pub fn new(limits: QueueLimits) -> Budget {
        Budget {
            events: Arc::new(Semaphore::new(limits.events)),
            bytes: Arc::new(Semaphore::new(Self::units_of(limits.bytes))),
            limits,
        }
    }

    /// Units for `bytes`, at least one, and never more than the whole budget: an event heavier
    /// than the budget still passes, alone.
    fn units_of(bytes: usize) -> usize {
        bytes.div_ceil(UNIT).clamp(1, u32::MAX as usize)
    }

    fn units(&self, weight: usize) -> u32 {
        Self::units_of(weight).min(Self::units_of(self.limits.bytes)) as u32
    }

    /// Room for an event of `weight` bytes, if there is some now.
    pub fn try_take(&self, weight: usize) -> Option<Permit> {
        let event = self.events.clone().try_acquire_owned().ok()?;
        let bytes = self.bytes.clone().try_acquire_many_owned(self.units(weight)).ok()?;
        Some(Permit { _event: event, _bytes: bytes })
    }

    /// Room for an event of `weight` bytes, waiting for it.
    pub async fn take(&self, weight: usize) -> Permit {
        let event = self.events.clone().acquire_owned().await.expect("never closed");
        let units = self.units(weight);
        let bytes = self.bytes.clone().acquire_many_owned(units).await.expect("never closed");
        Permit { _event: event, _bytes: bytes }
    }

    /// Message events queued now.
    pub fn queued_events(&self) -> usize {
        self.limits.events - self.events.available_permits()
    }

    /// Bytes queued now (to the unit).
    pub fn queued_bytes(&self) -> usize {
        (Self::units_of(self.limits.bytes) - self.bytes.available_permits()) * UNIT
    }

    /// The limits.
    pub fn limits(&self) -> QueueLimits {
        self.limits
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn budget(events: usize, bytes: usize) -> Budget {
        Budget::new(QueueLimits { events, bytes, overflow: Overflow::Block })
    }

    #[test]
    fn events_and_bytes_both_bound_the_queue() {
        let b = budget(2, 1024);
        let first = b.try_take(600).unwrap();
        assert!(b.try_take(600).is_none(), "bytes exhausted");
        let _small = b.try_take(10).unwrap();
        assert_eq!(b.queued_events(), 2);
        assert!(b.try_take(1).is_none(), "events exhausted");
        drop(first);
        assert!(b.try_take(600).is_some());
        assert_eq!(b.queued_bytes(), 64, "10 bytes take one 64-byte unit");
    }

    #[test]
    fn an_event_heavier_than_the_budget_passes_alone() {
        let b = budget(10, 1024);
        let huge = b.try_take(10 * 1024 * 1024).unwrap();
        assert!(b.try_take(1).is_none());
        drop(huge);
        assert!(b.try_take(1).is_some());
    }
}
