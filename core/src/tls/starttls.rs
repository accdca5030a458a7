//! Watching a plain session for the STARTTLS switch (cti-protocol.md §1): the server offers
//! `{"class":"starttls"}` as its first line, the client answers
//! `{"class":"starttls","status":true}`, the server confirms with
//! `{"class":"starttls","starttls":true}`, and the bytes after that line are TLS both ways.
//!
//! Each direction scans its reads with its own [`LineWatch`] (lines may arrive in pieces); both
//! share one [`Negotiation`]. Scanning stops for good once the outcome is known, which for a
//! server that does not offer is its first line, so the watch costs nothing afterwards.
//!
//! Causality keeps it simple: the client can only answer an offer the proxy has forwarded, and
//! can only start its handshake after the confirmation was forwarded, so each direction updates
//! the state before forwarding the line that changed it.

use std::sync::atomic::{AtomicU8, Ordering};

use ctiproxy_plugin_api::Direction;
use serde_json::Value;

/// A negotiation line is short; a longer line is something else, never buffered beyond this.
const MAX_NEGOTIATION_LINE: usize = 256;

/// Where a session's negotiation stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum Phase {
    /// Nothing from the server yet.
    Waiting = 0,
    /// The server offered; the client has not answered.
    Offered = 1,
    /// The client accepted; the server has not confirmed.
    Accepted = 2,
    /// No switch will happen: no offer, a declined one, or a refusal.
    Plain = 3,
    /// The server confirmed: the rest is TLS.
    Switched = 4,
}

/// The negotiation of one session, shared by its two directions.
#[derive(Debug)]
pub struct Negotiation {
    phase: AtomicU8,
}

impl Default for Negotiation {
    fn default() -> Self {
        Negotiation { phase: AtomicU8::new(Phase::Waiting as u8) }
    }
}

impl Negotiation {
    fn phase(&self) -> Phase {
        match self.phase.load(Ordering::Acquire) {
            0 => Phase::Waiting,
            1 => Phase::Offered,
            2 => Phase::Accepted,
            3 => Phase::Plain,
            _ => Phase::Switched,
        }
    }

    /// Each phase is left by one direction only, so a plain store would do; the exchange keeps
    /// a late line from undoing a decision.
    fn advance(&self, from: Phase, to: Phase) -> bool {
        self.phase
            .compare_exchange(from as u8, to as u8, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    /// True once the outcome is known: nothing left to watch.
    pub fn settled(&self) -> bool {
        matches!(self.phase(), Phase::Plain | Phase::Switched)
    }
}

/// What a read meant for the negotiation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    /// Nothing decisive.
    Nothing,
    /// The client answered the offer with something other than an acceptance.
    Declined,
    /// The server confirmed: the bytes of the read from `at` on are TLS.
    Switch {
        /// Offset just past the confirmation's newline.
        at: usize,
    },
}

/// What a negotiation line says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Line {
    Offer,
    Accept,
    Confirm,
    /// The server's `{"class":"starttls","starttls":false}`.
    Refuse,
    /// Any other line, a client's `"status": false` included.
    Other,
}

/// Built once: building a searcher per line showed in the forwarding path's profile.
static STARTTLS: std::sync::LazyLock<memchr::memmem::Finder<'static>> =
    std::sync::LazyLock::new(|| memchr::memmem::Finder::new(b"starttls"));

fn classify(line: &[u8]) -> Line {
    if line.len() > MAX_NEGOTIATION_LINE || STARTTLS.find(line).is_none() {
        return Line::Other;
    }
    let Ok(Value::Object(message)) = serde_json::from_slice::<Value>(line) else {
        return Line::Other;
    };
    if message.get("class").and_then(Value::as_str) != Some("starttls") {
        return Line::Other;
    }
    match (message.get("status"), message.get("starttls")) {
        (None, None) => Line::Offer,
        (Some(Value::Bool(true)), _) => Line::Accept,
        (None, Some(Value::Bool(true))) => Line::Confirm,
        (None, Some(_)) => Line::Refuse,
        _ => Line::Other,
    }
}

/// One direction's scanner: the start of a line whose newline has not arrived yet.
#[derive(Debug)]
pub struct LineWatch {
    direction: Direction,
    pending: Vec<u8>,
    /// The pending line is already too long to matter.
    overlong: bool,
}

impl LineWatch {
    /// A scanner for one direction.
    pub fn new(direction: Direction) -> LineWatch {
        LineWatch { direction, pending: Vec::new(), overlong: false }
    }

    /// Scans one read; stops at the first decisive line.
    pub fn scan(&mut self, read: &[u8], negotiation: &Negotiation) -> Seen {
        if negotiation.settled() {
            return Seen::Nothing;
        }
        let mut start = 0;
        while self.may_advance(negotiation.phase()) {
            let Some(newline) = memchr::memchr(b'\n', &read[start..]) else {
                self.keep(&read[start..]);
                return Seen::Nothing;
            };
            let end = start + newline;
            let line = self.complete(&read[start..end]);
            start = end + 1;
            match self.transition(line, negotiation) {
                Seen::Switch { .. } => return Seen::Switch { at: start },
                Seen::Nothing => {}
                seen => return seen,
            }
        }
        self.pass_over(&read[start..]);
        Seen::Nothing
    }

    /// Whether a line from this direction can move the negotiation on from `phase`: the
    /// server's first line (an offer or not), then the client's answer, then the server's
    /// confirmation or refusal. Lines at other times are passed over unread: a client that
    /// never answers an offer would otherwise have every server line searched until the end.
    fn may_advance(&self, phase: Phase) -> bool {
        let server = self.direction == Direction::ServerToClient;
        match phase {
            Phase::Waiting | Phase::Accepted => server,
            Phase::Offered => !server,
            Phase::Plain | Phase::Switched => false,
        }
    }

    /// The line that ends with `piece`, classified.
    fn complete(&mut self, piece: &[u8]) -> Line {
        if self.pending.is_empty() && !self.overlong {
            return classify(piece);
        }
        self.keep(piece);
        let pending = std::mem::take(&mut self.pending);
        if std::mem::take(&mut self.overlong) {
            Line::Other
        } else {
            classify(&pending)
        }
    }

    /// Moves past `bytes` without reading their lines, keeping only the start of the last,
    /// unfinished one: the next line read must be read whole.
    fn pass_over(&mut self, bytes: &[u8]) {
        if let Some(newline) = memchr::memrchr(b'\n', bytes) {
            self.pending.clear();
            self.overlong = false;
            self.keep(&bytes[newline + 1..]);
        } else {
            self.keep(bytes);
        }
    }

    fn keep(&mut self, piece: &[u8]) {
        if self.overlong || self.pending.len() + piece.len() > MAX_NEGOTIATION_LINE {
            self.overlong = true;
            self.pending.clear();
        } else {
            self.pending.extend_from_slice(piece);
        }
    }

    fn transition(&self, line: Line, negotiation: &Negotiation) -> Seen {
        use Phase::{Accepted, Offered, Plain, Switched, Waiting};
        let server = self.direction == Direction::ServerToClient;
        match (server, negotiation.phase(), line) {
            // The offer comes first or never.
            (true, Waiting, Line::Offer) => {
                negotiation.advance(Waiting, Offered);
            }
            (true, Waiting, _) => {
                negotiation.advance(Waiting, Plain);
            }
            (false, Offered, Line::Accept) => {
                negotiation.advance(Offered, Accepted);
            }
            // A refusal, or a client that ignores the offer (its login comes instead).
            (false, Offered, _) if negotiation.advance(Offered, Plain) => return Seen::Declined,
            (true, Accepted, Line::Confirm) if negotiation.advance(Accepted, Switched) => {
                return Seen::Switch { at: 0 };
            }
            (true, Accepted, Line::Refuse) => {
                negotiation.advance(Accepted, Plain);
            }
            _ => {}
        }
        Seen::Nothing
    }
}

#[cfg(test)]
mod tests;
