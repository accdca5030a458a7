//! `--realtime`: when each replayed event is due, so that events keep the recorded gaps between
//! their timestamps, each gap capped (`--max-gap`) so hours of recorded silence do not hang a
//! replay. Due times follow a schedule, not the previous delivery, so sleeping never drifts.

use std::time::{Duration, Instant};

/// The replay's schedule.
#[derive(Debug)]
pub struct Pacer {
    max_gap: Duration,
    /// The last event's timestamp and when it was due.
    last: Option<(i64, Instant)>,
}

impl Pacer {
    /// A schedule whose gaps are at most `max_gap`.
    pub fn new(max_gap: Duration) -> Self {
        Pacer { max_gap, last: None }
    }

    /// When the event recorded at `ts` (microseconds) is due. Timestamps that go back (sessions
    /// interleaved in a capture, or the next file) are due at once.
    pub fn due(&mut self, ts: i64) -> Instant {
        let due = match self.last {
            None => Instant::now(),
            Some((last_ts, last_due)) => {
                let gap = u64::try_from(ts.saturating_sub(last_ts)).unwrap_or(0);
                last_due + Duration::from_micros(gap).min(self.max_gap)
            }
        };
        self.last = Some((ts, due));
        due
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gaps_are_kept_capped_and_never_negative() {
        let mut pacer = Pacer::new(Duration::from_secs(5));
        let start = pacer.due(1_000_000);
        assert_eq!(pacer.due(1_300_000) - start, Duration::from_millis(300));
        assert_eq!(pacer.due(3_601_300_000) - start, Duration::from_millis(5300));
        assert_eq!(pacer.due(0) - start, Duration::from_millis(5300));
    }
}
