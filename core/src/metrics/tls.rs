//! TLS handshake counters, per leg and outcome. Every series exists at 0 from the first scrape,
//! so an alert on failures can be written before the first TLS session.
//!
//! Both legs' handshakes run at once and the first failure cancels the other, so a failed
//! session counts the leg that failed only; a session whose legs both completed counts two `ok`.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;

use super::labels::TlsLabels;
use crate::tls::{HandshakeError, Side};

/// How a handshake went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsOutcome {
    /// Completed.
    Ok,
    /// Refused or broken (certificate, protocol, connection).
    Failed,
    /// The peer never finished it in time (`tls_handshake_timeout_secs`).
    Timeout,
}

const SIDES: [Side; 2] = [Side::Client, Side::Server];
const OUTCOMES: [TlsOutcome; 3] = [TlsOutcome::Ok, TlsOutcome::Failed, TlsOutcome::Timeout];

fn labels(side: Side, outcome: TlsOutcome) -> TlsLabels {
    let side = match side {
        Side::Client => "client",
        Side::Server => "server",
    };
    let outcome = match outcome {
        TlsOutcome::Ok => "ok",
        TlsOutcome::Failed => "failed",
        TlsOutcome::Timeout => "timeout",
    };
    TlsLabels { side, outcome }
}

/// `ctiproxy_tls_handshakes_total{side, outcome}`.
#[derive(Debug, Clone, Default)]
pub struct TlsMetrics {
    family: Family<TlsLabels, Counter>,
}

impl TlsMetrics {
    /// The counters of `family`, every side and outcome created at 0.
    pub fn new(family: Family<TlsLabels, Counter>) -> TlsMetrics {
        for side in SIDES {
            for outcome in OUTCOMES {
                family.get_or_create_owned(&labels(side, outcome));
            }
        }
        TlsMetrics { family }
    }

    /// Counts one handshake (once per session and leg: not on the forwarding path).
    pub fn handshake(&self, side: Side, outcome: TlsOutcome) {
        self.family.get_or_create(&labels(side, outcome)).inc();
    }

    /// Counts what a session's handshakes on both legs came to.
    pub fn handshakes<T>(&self, result: &Result<T, HandshakeError>) {
        match result {
            Ok(_) => SIDES.into_iter().for_each(|side| self.handshake(side, TlsOutcome::Ok)),
            Err(HandshakeError::Failed { side, .. }) => self.handshake(*side, TlsOutcome::Failed),
            Err(HandshakeError::TimedOut { side, .. }) => {
                self.handshake(*side, TlsOutcome::Timeout)
            }
        }
    }
}
