//! What sessions count as they run: opened and ended sessions, and per direction the bytes
//! forwarded, the messages framed and the oversize lines among them.
//!
//! Every counter is resolved once, when the metrics are built, so a read costs a relaxed atomic
//! addition per figure, never a lookup; the figures are live (a scrape during a session sees the
//! bytes forwarded so far), unlike the session's own [`crate::event::Traffic`], reported at its
//! end.

use ctiproxy_plugin_api::{abi, Direction};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;

use super::end_reason::EndReason;
use super::labels::{index, DirectionLabel, DirectionLabels, ReasonLabels};
use super::tls::TlsMetrics;
use crate::framer::Frame;

/// One direction's live figures.
#[derive(Debug, Clone)]
pub struct DirectionCounters {
    bytes: Counter,
    messages: Counter,
    oversize: Counter,
}

impl DirectionCounters {
    /// Bytes written to the receiving peer.
    pub fn forwarded(&self, bytes: usize) {
        self.bytes.inc_by(bytes as u64);
    }

    /// The lines one read completed.
    pub fn framed(&self, frames: &[Frame]) {
        self.messages.inc_by(frames.len() as u64);
        let oversize = frames.iter().filter(|f| f.flags & abi::MSG_OVERSIZE != 0).count();
        if oversize > 0 {
            self.oversize.inc_by(oversize as u64);
        }
    }
}

/// The families a [`SessionMetrics`] counts into.
#[derive(Debug, Clone, Default)]
pub struct SessionFamilies {
    /// `ctiproxy_sessions_open`.
    pub open: Gauge,
    /// `ctiproxy_sessions_total`.
    pub total: Counter,
    /// `ctiproxy_sessions_ended_total{reason}`.
    pub ended: Family<ReasonLabels, Counter>,
    /// `ctiproxy_forwarded_bytes_total{direction}`.
    pub bytes: Family<DirectionLabels, Counter>,
    /// `ctiproxy_messages_total{direction}`.
    pub messages: Family<DirectionLabels, Counter>,
    /// `ctiproxy_oversize_lines_total{direction}`.
    pub oversize: Family<DirectionLabels, Counter>,
}

/// The counters every session shares.
#[derive(Debug)]
pub struct SessionMetrics {
    open: Gauge,
    total: Counter,
    ended: [Counter; EndReason::ALL.len()],
    directions: [DirectionCounters; 2],
    tls: TlsMetrics,
}

impl SessionMetrics {
    /// Resolves every series of `families` (all at 0 from the first scrape).
    pub fn new(families: &SessionFamilies, tls: TlsMetrics) -> SessionMetrics {
        let ended = EndReason::ALL.map(|reason| {
            families.ended.get_or_create_owned(&ReasonLabels { reason: reason.as_str() })
        });
        let directions = DirectionLabel::BOTH.map(|direction| {
            let labels = DirectionLabels { direction: DirectionLabel(direction) };
            DirectionCounters {
                bytes: families.bytes.get_or_create_owned(&labels),
                messages: families.messages.get_or_create_owned(&labels),
                oversize: families.oversize.get_or_create_owned(&labels),
            }
        });
        SessionMetrics {
            open: families.open.clone(),
            total: families.total.clone(),
            ended,
            directions,
            tls,
        }
    }

    /// A client connection is being served.
    pub fn opened(&self) {
        self.total.inc();
        self.open.inc();
    }

    /// A session [`opened`](Self::opened) ended.
    pub fn closed(&self, reason: EndReason) {
        self.open.dec();
        self.count_end(reason);
    }

    /// A client connection was closed at once (`max_sessions`): accepted and ended.
    pub fn refused(&self) {
        self.total.inc();
        self.count_end(EndReason::Refused);
    }

    fn count_end(&self, reason: EndReason) {
        let at = EndReason::ALL.iter().position(|r| *r == reason).unwrap_or_default();
        self.ended[at].inc();
    }

    /// The figures of one direction.
    pub fn direction(&self, direction: Direction) -> &DirectionCounters {
        &self.directions[index(direction)]
    }

    /// The TLS handshake counters.
    pub fn tls(&self) -> &TlsMetrics {
        &self.tls
    }
}
