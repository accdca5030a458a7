//! The bounded buffer between the pipeline thread and the publisher: the pipeline only ever
//! appends (never waits), the publisher reads from the front and removes what the server
//! acknowledged. A record stays in the buffer until it is acknowledged, so a batch that failed
//! is sent again from the buffer's front. Its size is counted in bytes (subject, payload and a
//! fixed overhead per record); when a record does not fit, `on_full` says which records go,
//! and every one is counted.

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard, PoisonError};

use async_nats::Subject;
use bytes::Bytes;
use tokio::sync::Notify;

use crate::settings::OnFull;

/// What one record weighs beyond its subject and payload: its bookkeeping and the headers.
const OVERHEAD: usize = 96;

/// One record to publish; cheap to clone (its subject and payload are shared).
#[derive(Debug, Clone)]
pub struct Record {
    /// Its number in this plugin instance's output, from 1; also the end of its message id.
    pub seq: u64,
    /// Where it goes.
    pub subject: Subject,
    /// The JSON record.
    pub payload: Bytes,
}

impl Record {
    fn weight(&self) -> usize {
        self.subject.len() + self.payload.len() + OVERHEAD
    }
}

/// What [`Buffer::push`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pushed {
    /// Records dropped to make room (the new one included with `drop_newest`).
    pub dropped: u64,
    /// The new record was dropped because it is heavier than the whole buffer (not counted
    /// in `dropped`: no outage is to blame).
    pub too_large: bool,
}

/// Records waiting to be acknowledged, and their weight.
#[derive(Debug, Default)]
struct State {
    queue: VecDeque<Record>,
    bytes: usize,
    next_seq: u64,
    closed: bool,
}

/// The shared buffer.
#[derive(Debug)]
pub struct Buffer {
    state: Mutex<State>,
    /// Wakes the publisher when records arrive or the buffer closes.
    arrived: Notify,
    capacity: usize,
    on_full: OnFull,
}

impl Buffer {
    /// An empty buffer of `capacity` bytes.
    pub fn new(capacity: usize, on_full: OnFull) -> Self {
        let state = State { next_seq: 1, ..State::default() };
        Buffer { state: Mutex::new(state), arrived: Notify::new(), capacity, on_full }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Appends a record, dropping what `on_full` says when it does not fit; never waits.
    ///
    /// `drop_oldest` may drop records the publisher already sent and whose acknowledgement it
    /// awaits (at most one batch): they are counted as dropped though the server may store them.
    pub fn push(&self, subject: Subject, payload: Bytes) -> Pushed {
        let mut state = self.lock();
        let record = Record { seq: state.next_seq, subject, payload };
        state.next_seq += 1;
        let weight = record.weight();
        if weight > self.capacity {
            return Pushed { dropped: 0, too_large: true };
        }
        let mut dropped = 0;
        while state.bytes + weight > self.capacity {
            if self.on_full == OnFull::DropNewest {
                return Pushed { dropped: dropped + 1, too_large: false };
            }
            let Some(oldest) = state.queue.pop_front() else { break };
            state.bytes -= oldest.weight();
            dropped += 1;
        }
        state.bytes += weight;
        state.queue.push_back(record);
        drop(state);
        self.arrived.notify_one();
        Pushed { dropped, too_large: false }
    }

    /// Up to `max` records from the front, waiting for one if the buffer is empty; `None` once
    /// the buffer is closed and empty.
    pub async fn front(&self, max: usize) -> Option<Vec<Record>> {
        loop {
            let arrived = self.arrived.notified();
            {
                let state = self.lock();
                if !state.queue.is_empty() {
                    return Some(state.queue.iter().take(max).cloned().collect());
                }
                if state.closed {
                    return None;
                }
            }
            arrived.await;
        }
    }

    /// Removes the records up to `seq` that are still at the front (they were acknowledged);
    /// returns how many.
    pub fn acknowledged(&self, seq: u64) -> u64 {
        let mut state = self.lock();
        let mut removed = 0;
        while state.queue.front().is_some_and(|record| record.seq <= seq) {
            let record = state.queue.pop_front().expect("front exists");
            state.bytes -= record.weight();
            removed += 1;
        }
        removed
    }

    /// Removes record `seq` wherever it is (the server refused it for good); returns its
    /// payload's size, or None when it already left (dropped meanwhile).
    pub fn remove(&self, seq: u64) -> Option<usize> {
        let mut state = self.lock();
        let at = state.queue.iter().position(|record| record.seq == seq)?;
        let record = state.queue.remove(at)?;
        state.bytes -= record.weight();
        Some(record.payload.len())
    }

    /// No more records will come: the publisher stops once the buffer is empty.
    pub fn close(&self) {
        self.lock().closed = true;
        self.arrived.notify_one();
    }

    /// Records and bytes not yet acknowledged.
    pub fn pending(&self) -> (usize, usize) {
        let state = self.lock();
        (state.queue.len(), state.bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn push(buffer: &Buffer, n: usize) -> Vec<u64> {
        (0..n).map(|_| buffer.push("s".into(), Bytes::from_static(&[b'x'; 3])).dropped).collect()
    }

    fn seqs(buffer: &Buffer) -> Vec<u64> {
        buffer.lock().queue.iter().map(|r| r.seq).collect()
    }

    const WEIGHT: usize = 1 + 3 + OVERHEAD;

    #[test]
    fn drop_oldest_keeps_the_newest_records() {
        let buffer = Buffer::new(3 * WEIGHT, OnFull::DropOldest);
        assert_eq!(push(&buffer, 5), [0, 0, 0, 1, 1]);
        assert_eq!(seqs(&buffer), [3, 4, 5]);
        assert_eq!(buffer.pending(), (3, 3 * WEIGHT));
    }

    #[test]
    fn drop_newest_keeps_the_oldest_records() {
        let buffer = Buffer::new(3 * WEIGHT, OnFull::DropNewest);
        assert_eq!(push(&buffer, 5), [0, 0, 0, 1, 1]);
        assert_eq!(seqs(&buffer), [1, 2, 3]);
    }

    #[test]
    fn a_record_larger_than_the_buffer_is_dropped_alone() {
        let buffer = Buffer::new(2 * WEIGHT, OnFull::DropOldest);
        push(&buffer, 1);
        let big = buffer.push("s".into(), Bytes::from(vec![b'x'; 3 * WEIGHT]));
        assert_eq!(big, Pushed { dropped: 0, too_large: true });
        assert_eq!(seqs(&buffer), [1]);
    }

    #[test]
    fn acknowledged_records_leave_and_free_their_bytes() {
        let buffer = Buffer::new(10 * WEIGHT, OnFull::DropOldest);
        push(&buffer, 4);
        assert_eq!(buffer.acknowledged(2), 2);
        assert_eq!(seqs(&buffer), [3, 4]);
        assert_eq!(buffer.pending(), (2, 2 * WEIGHT));
        // An acknowledgement of records dropped meanwhile removes nothing else.
        assert_eq!(buffer.acknowledged(1), 0);
        assert_eq!(seqs(&buffer), [3, 4]);
    }

    #[test]
    fn a_refused_record_leaves_from_anywhere_once() {
        let buffer = Buffer::new(10 * WEIGHT, OnFull::DropOldest);
        push(&buffer, 3);
        assert_eq!(buffer.remove(2), Some(3));
        assert_eq!(buffer.remove(2), None, "already gone: not counted twice");
        assert_eq!(seqs(&buffer), [1, 3]);
        assert_eq!(buffer.pending(), (2, 2 * WEIGHT));
    }
}
