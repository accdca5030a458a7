//! Request → reply latency: a client message's `commandid` is answered by a server message
//! whose `replyid` equals it. Times are the messages' receive timestamps.

use std::collections::{BTreeMap, HashMap};

use ctiproxy_plugin_api::index::{self, Kind};
use serde::Serialize;

/// Requests awaiting their reply, at most `capacity` of them: a client that never gets answers
/// must not grow memory without bound, so the oldest request is forgotten first.
#[derive(Debug)]
pub struct Pending {
    capacity: usize,
    next_seq: u64,
    requests: HashMap<(u64, String), Request>,
    /// Insertion order, to find the oldest request.
    order: BTreeMap<u64, (u64, String)>,
}

#[derive(Debug)]
struct Request {
    seq: u64,
    sent_us: i64,
    class: String,
}

impl Pending {
    /// An empty table holding at most `capacity` requests.
    pub fn new(capacity: usize) -> Self {
        Pending { capacity, next_seq: 0, requests: HashMap::new(), order: BTreeMap::new() }
    }

    /// Notes a request `id` of `class` sent at `sent_us` in `session`.
    pub fn insert(&mut self, session: u64, id: String, sent_us: i64, class: &str) {
        let seq = self.next_seq;
        self.next_seq += 1;
        let key = (session, id);
        let request = Request { seq, sent_us, class: class.to_owned() };
        if let Some(replaced) = self.requests.insert(key.clone(), request) {
            self.order.remove(&replaced.seq);
        }
        self.order.insert(seq, key);
        if self.requests.len() > self.capacity {
            if let Some((_, oldest)) = self.order.pop_first() {
                self.requests.remove(&oldest);
            }
        }
    }

    /// The request a reply answers, if it is pending: its class and send time.
    pub fn take(&mut self, session: u64, id: String) -> Option<(String, i64)> {
        let request = self.requests.remove(&(session, id))?;
        self.order.remove(&request.seq);
        Some((request.class, request.sent_us))
    }

    /// Forgets a session's requests: no reply can come once it ended.
    pub fn forget(&mut self, session: u64) {
        self.requests.retain(|(s, _), _| *s != session);
        self.order.retain(|_, (s, _)| *s != session);
    }

    /// How many requests are waiting.
    pub fn len(&self) -> usize {
        self.requests.len()
    }

    /// True when no request is waiting.
    pub fn is_empty(&self) -> bool {
        self.requests.is_empty()
    }
}

/// A `commandid` or `replyid` as text, so `3` and `"3"` pair up as they do for the server.
pub fn id_text(value: index::Value<'_>) -> Option<String> {
    match value.kind() {
        Kind::String => value.as_str().map(|s| s.into_owned()),
        Kind::Number => std::str::from_utf8(value.raw()).ok().map(str::to_owned),
        _ => None,
    }
}

/// Latency samples per request class, in microseconds.
#[derive(Debug, Default, Clone)]
pub struct Latencies {
    samples: HashMap<String, Vec<i64>>,
}

/// One class's latency summary, in milliseconds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LatencyRow {
    /// The request's class.
    pub class: String,
    /// Replies seen.
    pub count: u64,
    /// Median (nearest rank).
    pub p50_ms: f64,
    /// 99th percentile (nearest rank).
    pub p99_ms: f64,
    /// Slowest.
    pub max_ms: f64,
}

impl Latencies {
    /// Adds one request → reply time.
    pub fn record(&mut self, class: &str, micros: i64) {
        match self.samples.get_mut(class) {
            Some(samples) => samples.push(micros),
            None => {
                self.samples.insert(class.to_owned(), vec![micros]);
            }
        }
    }

    /// Adds another set of samples (a session's, into the totals).
    pub fn merge(&mut self, other: &Latencies) {
        for (class, samples) in &other.samples {
            self.samples.entry(class.clone()).or_default().extend_from_slice(samples);
        }
    }

    /// One row per class, most replies first.
    pub fn rows(&self) -> Vec<LatencyRow> {
        let mut rows: Vec<LatencyRow> =
            self.samples.iter().map(|(class, samples)| summarize(class, samples)).collect();
        rows.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.class.cmp(&b.class)));
        rows
    }
}

fn summarize(class: &str, samples: &[i64]) -> LatencyRow {
    let mut sorted = samples.to_vec();
    sorted.sort_unstable();
    let ms = |micros: i64| micros as f64 / 1000.0;
    LatencyRow {
        class: class.to_owned(),
        count: sorted.len() as u64,
        p50_ms: ms(nearest_rank(&sorted, 50)),
        p99_ms: ms(nearest_rank(&sorted, 99)),
        max_ms: ms(sorted.last().copied().unwrap_or(0)),
    }
}

/// The smallest sample with at least `percent`% of the samples at or below it.
pub fn nearest_rank(sorted: &[i64], percent: usize) -> i64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = (percent * sorted.len()).div_ceil(100).max(1);
    sorted[rank - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let samples: Vec<i64> = (1..=100).collect();
        assert_eq!(nearest_rank(&samples, 50), 50);
        assert_eq!(nearest_rank(&samples, 99), 99);
        assert_eq!(nearest_rank(&[7], 99), 7);
        assert_eq!(nearest_rank(&[1, 2, 3], 50), 2);
    }

    #[test]
    fn pending_is_bounded_and_forgets_the_oldest_first() {
        let mut pending = Pending::new(2);
        pending.insert(1, "a".into(), 10, "x");
        pending.insert(1, "b".into(), 20, "x");
        pending.insert(1, "c".into(), 30, "y");
        assert_eq!(pending.len(), 2);
        assert_eq!(pending.take(1, "a".into()), None);
        assert_eq!(pending.take(1, "c".into()), Some(("y".into(), 30)));
        assert_eq!(pending.take(2, "b".into()), None, "ids are per session");
        pending.forget(1);
        assert!(pending.is_empty());
    }

    #[test]
    fn a_reused_id_replaces_the_earlier_request() {
        let mut pending = Pending::new(2);
        pending.insert(1, "a".into(), 10, "x");
        pending.insert(1, "a".into(), 15, "x");
        pending.insert(1, "b".into(), 20, "x");
        assert_eq!(pending.take(1, "a".into()), Some(("x".into(), 15)));
    }
}
