//! What each rule did: matched, fired, succeeded, failed (by reason), suppressed by cooldown,
//! refused (by reason). Shared by the pipeline thread (which fires) and the workers (which learn
//! the outcome); mirrored into the host's counters for the pipeline report, and printed as a
//! table at shutdown.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Mutex, PoisonError};

use ctiproxy_plugin_api::Host;

/// Distinct reasons kept per rule and kind; further ones are counted under `other`, so a server
/// answering ever-new error texts cannot grow memory.
pub const MAX_REASONS: usize = 16;

/// Why a command was not sent for one event: the category counted, and the detail logged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// `undefined`, `empty`, `invalid`, `error`, `queue full`, `rate limit`.
    pub reason: &'static str,
    /// What exactly, for the log.
    pub detail: String,
}

impl Refusal {
    /// A refusal for `reason`.
    pub fn new(reason: &'static str, detail: impl Into<String>) -> Refusal {
        Refusal { reason, detail: detail.into() }
    }
}

/// One rule's figures.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RuleTally {
    /// The rule's name.
    pub name: String,
    /// Events the rule's match and `when` held for.
    pub matched: u64,
    /// Commands queued (or printed, in dry-run).
    pub fired: u64,
    /// Commands OpenSIPS carried out (a 2xx SIP status for t_uac_dlg).
    pub succeeded: u64,
    /// Commands that failed, by reason.
    pub failed: BTreeMap<String, u64>,
    /// Commands not sent because the same target fired within the cooldown.
    pub suppressed: u64,
    /// Commands not sent, by reason.
    pub refused: BTreeMap<String, u64>,
    /// Commands given up at shutdown (queued or in flight past the deadline).
    pub abandoned: u64,
}

fn bump(reasons: &mut BTreeMap<String, u64>, reason: &str) {
    let key =
        if reasons.contains_key(reason) || reasons.len() < MAX_REASONS { reason } else { "other" };
    *reasons.entry(key.to_owned()).or_default() += 1;
}

fn total(reasons: &BTreeMap<String, u64>) -> u64 {
    reasons.values().sum()
}

/// Every rule's figures, and the host to mirror them to.
pub struct Tally {
    rules: Mutex<Vec<RuleTally>>,
    host: Host,
}

/// What happened to one rule, for [`Tally::record`].
#[derive(Debug, Clone, Copy)]
pub enum Event<'a> {
    /// Match and `when` held.
    Matched,
    /// A command left (or was printed).
    Fired,
    /// OpenSIPS carried it out.
    Succeeded,
    /// It failed for this reason.
    Failed(&'a str),
    /// Cooldown.
    Suppressed,
    /// Not sent for this reason.
    Refused(&'a str),
    /// Given up at shutdown.
    Abandoned,
}

impl Tally {
    /// Zero figures for rules named `names`.
    pub fn new(names: impl IntoIterator<Item = String>, host: Host) -> Tally {
        let rules = names.into_iter().map(|name| RuleTally { name, ..RuleTally::default() });
        Tally { rules: Mutex::new(rules.collect()), host }
    }

    /// Counts one event for rule `rule`, here and in the host's counters (`NAME.matched`…).
    pub fn record(&self, rule: usize, event: Event<'_>) {
        let mut rules = self.rules.lock().unwrap_or_else(PoisonError::into_inner);
        let tally = &mut rules[rule];
        let counter = match event {
            Event::Matched => {
                tally.matched += 1;
                "matched"
            }
            Event::Fired => {
                tally.fired += 1;
                "fired"
            }
            Event::Succeeded => {
                tally.succeeded += 1;
                "succeeded"
            }
            Event::Failed(reason) => {
                bump(&mut tally.failed, reason);
                "failed"
            }
            Event::Suppressed => {
                tally.suppressed += 1;
                "suppressed"
            }
            Event::Refused(reason) => {
                bump(&mut tally.refused, reason);
                "refused"
            }
            Event::Abandoned => {
                tally.abandoned += 1;
                "abandoned"
            }
        };
        let name = format!("{}.{counter}", tally.name);
        drop(rules);
        self.host.counter_add(&name, 1);
    }

    /// A copy of the figures.
    pub fn snapshot(&self) -> Vec<RuleTally> {
        self.rules.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }
}

/// The shutdown report: one line per rule, reasons in parentheses.
pub fn summary(rules: &[RuleTally]) -> String {
    let mut out = String::from("MI rules:");
    for r in rules {
        let _ = write!(
            out,
            "\n  {}: matched {}, fired {}, succeeded {}, failed {}{}, suppressed {}, refused {}{}",
            r.name,
            r.matched,
            r.fired,
            r.succeeded,
            total(&r.failed),
            reasons(&r.failed),
            r.suppressed,
            total(&r.refused),
            reasons(&r.refused),
        );
        if r.abandoned > 0 {
            let _ = write!(out, ", not sent at shutdown {}", r.abandoned);
        }
    }
    out
}

fn reasons(reasons: &BTreeMap<String, u64>) -> String {
    if reasons.is_empty() {
        return String::new();
    }
    let parts: Vec<String> = reasons.iter().map(|(r, n)| format!("{r}: {n}")).collect();
    format!(" ({})", parts.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_are_bounded_and_summarised() {
        let mut reasons = BTreeMap::new();
        for i in 0..MAX_REASONS + 5 {
            bump(&mut reasons, &format!("r{i}"));
        }
        bump(&mut reasons, "r0");
        assert_eq!(reasons.len(), MAX_REASONS + 1);
        assert_eq!(reasons["other"], 5);
        assert_eq!(reasons["r0"], 2);
        let rule = RuleTally {
            name: "lamp".into(),
            matched: 3,
            fired: 2,
            succeeded: 1,
            failed: BTreeMap::from([("SIP 408 Request Timeout".into(), 1)]),
            ..RuleTally::default()
        };
        assert_eq!(
            summary(&[rule]),
            "MI rules:\n  lamp: matched 3, fired 2, succeeded 1, failed 1 (SIP 408 Request Timeout: 1), suppressed 0, refused 0"
        );
    }
}
