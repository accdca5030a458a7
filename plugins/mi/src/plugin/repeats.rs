//! Logging that does not flood: the first problem of a kind for a rule is a warning, the
//! repeats go to debug level (`-v`), and the counters and the shutdown report carry the totals.

use std::collections::HashSet;
use std::sync::{Mutex, PoisonError};

use ctiproxy_plugin_api::{Host, Level};

/// Kinds remembered; past this many, everything new is a warning again (never unbounded memory).
const MAX_KINDS: usize = 1024;

/// The (rule, reason) pairs already warned about.
#[derive(Debug, Default)]
pub struct Repeats {
    seen: Mutex<HashSet<(usize, String)>>,
}

impl Repeats {
    /// Logs `message` about `rule` for `reason`: a warning the first time, debug afterwards.
    pub fn log(&self, host: &Host, rule: usize, reason: &str, message: &str) {
        let first = {
            let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
            seen.len() >= MAX_KINDS || seen.insert((rule, reason.to_owned()))
        };
        if first {
            let note = " (repeats of this are logged at debug level, -v)";
            host.log(Level::Warn, &format!("{message}{note}"));
        } else {
            host.log(Level::Debug, message);
        }
    }
}
