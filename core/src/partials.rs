//! The process-wide budget for unfinished lines.
//!
//! Each direction of each session carries the start of a line until its `\n` arrives, up to the
//! maximum line length. Forty sessions each holding a 15 MiB unfinished line held 612 MiB: so all
//! the framers together draw from one budget, and a line that finds it exhausted is analysed as
//! oversize (its preview only). Forwarding never depends on it.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// Bytes of unfinished lines all sessions may hold together.
#[derive(Debug)]
pub struct PartialBudget {
    used: AtomicUsize,
    max: usize,
    warned: AtomicBool,
}

impl PartialBudget {
    /// A budget of `max` bytes.
    pub fn new(max: usize) -> PartialBudget {
        PartialBudget { used: AtomicUsize::new(0), max, warned: AtomicBool::new(false) }
    }

    /// Takes `bytes` if they fit; says so once, the first time they do not.
    pub fn reserve(&self, bytes: usize) -> bool {
        let fits = self
            .used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                used.checked_add(bytes).filter(|total| *total <= self.max)
            })
            .is_ok();
        if !fits && !self.warned.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                "Unfinished lines of all sessions reached max_partial_bytes ({} bytes): lines that do not fit are analysed as oversize (still forwarded).",
                self.max
            );
        }
        fits
    }

    /// Gives `bytes` back.
    pub fn release(&self, bytes: usize) {
        self.used.fetch_sub(bytes, Ordering::AcqRel);
    }

    /// Bytes held now.
    pub fn used(&self) -> usize {
        self.used.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserves_up_to_the_maximum() {
        let b = PartialBudget::new(100);
        assert!(b.reserve(60));
        assert!(!b.reserve(41));
        assert!(b.reserve(40));
        b.release(60);
        assert_eq!(b.used(), 40);
    }
}
