//! The end of one call's time budget, shared by all its steps (connect, write, each read), so
//! a slow trickle of bytes cannot stretch a call past its timeout.

use std::time::{Duration, Instant};

use crate::error::Error;

/// A call's deadline and the timeout it was set from (for the error message).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Deadline {
    at: Instant,
    timeout: Duration,
}

impl Deadline {
    /// The deadline `timeout` from now. A timeout beyond what the clock can represent (up to
    /// `Duration::MAX`) saturates to the furthest instant it can, rather than overflowing.
    pub(crate) fn after(timeout: Duration) -> Deadline {
        Deadline { at: saturating_add(Instant::now(), timeout), timeout }
    }

    /// Time left, or [`Error::Timeout`] once it is spent (never zero: a zero socket timeout
    /// means "block forever").
    pub(crate) fn remaining(&self) -> Result<Duration, Error> {
        match self.at.checked_duration_since(Instant::now()) {
            Some(left) if !left.is_zero() => Ok(left),
            _ => Err(self.expired()),
        }
    }

    /// The error to report when this deadline passes.
    pub(crate) fn expired(&self) -> Error {
        Error::Timeout(self.timeout)
    }

    /// Maps an I/O error under this deadline (socket timeouts become [`Error::Timeout`]).
    pub(crate) fn io_error(&self, context: impl Into<String>, source: std::io::Error) -> Error {
        Error::from_io(context, source, self.timeout)
    }
}

// The representable range of `Instant` is platform-defined, so halve until it fits: at most
// 64 tries, and a zero span always fits.
fn saturating_add(now: Instant, span: Duration) -> Instant {
    let mut span = span;
    loop {
        if let Some(at) = now.checked_add(span) {
            return at;
        }
        span /= 2;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn huge_timeouts_saturate() {
        let deadline = Deadline::after(Duration::MAX);
        assert!(deadline.remaining().unwrap() > Duration::from_secs(100 * 365 * 86_400));
        assert!(matches!(deadline.expired(), Error::Timeout(d) if d == Duration::MAX));
    }

    #[test]
    fn a_spent_deadline_is_a_timeout() {
        let deadline = Deadline::after(Duration::ZERO);
        assert!(matches!(deadline.remaining(), Err(Error::Timeout(d)) if d.is_zero()));
    }
}
