//! The safety catches between a rule firing and a command leaving: a cooldown per rule and
//! target (an administrator saving a line five times in ten seconds reboots the phone once) and
//! a global rate limit (a token bucket).
//!
//! Both run on the messages' own timestamps (when their bytes reached the proxy), not on the
//! clock at the time of analysis: live they are the same, and `ctiproxy replay` of a capture then
//! suppresses exactly what the live run would have, at any replay speed.

use std::collections::HashMap;

/// Per rule and target, when the rule last fired for it.
#[derive(Debug, Default)]
pub struct Cooldowns {
    last: HashMap<(usize, String), i64>,
    longest_us: i64,
}

impl Cooldowns {
    /// Whether rule `rule` may fire for `target` at `now_us` with a cooldown of `cooldown_us`;
    /// if so, the firing is remembered.
    pub fn allow(&mut self, rule: usize, target: &str, now_us: i64, cooldown_us: i64) -> bool {
        if cooldown_us <= 0 {
            return true;
        }
        self.longest_us = self.longest_us.max(cooldown_us);
        let key = (rule, target.to_owned());
        match self.last.get(&key) {
            // A time before the last firing (a replayed capture's clock going back) is no repeat.
            Some(&at) if (0..cooldown_us).contains(&now_us.saturating_sub(at)) => false,
            _ => {
                self.last.insert(key, now_us);
                true
            }
        }
    }

    /// Forgets firings older than the longest cooldown, so memory follows the active targets.
    pub fn expire(&mut self, now_us: i64) {
        let longest = self.longest_us;
        self.last.retain(|_, at| now_us.saturating_sub(*at) < longest);
    }

    /// Targets remembered.
    pub fn len(&self) -> usize {
        self.last.len()
    }

    /// True when none is.
    pub fn is_empty(&self) -> bool {
        self.last.is_empty()
    }
}

/// A token bucket: `rate` commands per second, bursts of up to `rate` (at least 1).
#[derive(Debug)]
pub struct RateLimit {
    rate: f64,
    burst: f64,
    tokens: f64,
    at_us: Option<i64>,
}

impl RateLimit {
    /// A full bucket.
    pub fn new(rate: f64) -> RateLimit {
        let burst = rate.max(1.0);
        RateLimit { rate, burst, tokens: burst, at_us: None }
    }

    /// Takes a token at `now_us` if there is one.
    pub fn take(&mut self, now_us: i64) -> bool {
        if let Some(at) = self.at_us {
            let elapsed = now_us.saturating_sub(at).max(0) as f64 / 1e6;
            self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        }
        self.at_us = Some(now_us.max(self.at_us.unwrap_or(i64::MIN)));
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cooldown_suppresses_repeats_within_the_window_only() {
        let mut c = Cooldowns::default();
        assert!(c.allow(0, "sip:1002@pbx", 0, 10_000_000));
        assert!(!c.allow(0, "sip:1002@pbx", 9_999_999, 10_000_000));
        assert!(c.allow(0, "sip:1001@pbx", 1, 10_000_000), "another target");
        assert!(c.allow(1, "sip:1002@pbx", 1, 10_000_000), "another rule");
        assert!(c.allow(0, "sip:1002@pbx", 10_000_000, 10_000_000));
        assert!(c.allow(0, "sip:1002@pbx", 5_000_000, 10_000_000), "the clock went back");
        c.expire(30_000_000);
        assert!(c.is_empty());
        assert!(c.allow(0, "x", 0, 0) && c.allow(0, "x", 0, 0), "no cooldown");
    }

    #[test]
    fn rate_limit_refills_over_message_time() {
        let mut r = RateLimit::new(2.0);
        assert!(r.take(0) && r.take(0));
        assert!(!r.take(100_000));
        assert!(r.take(500_000), "one token after half a second");
        assert!(!r.take(500_000));
    }
}
