//! Session ids and whole sessions in a replay. A recorded id is kept while it is unique in the
//! replay and remapped when a later file (or a later run appended to the same file) reuses it,
//! so plugins that keep per-session state never mix two sessions. A session the capture cut
//! off gets a synthesized start (capture began mid-session) or end (capture stopped first), so
//! plugins always see whole sessions, as they do live.

use std::collections::{BTreeMap, HashSet};

use ctiproxy_plugin_api::{abi, Direction};

use super::record::Record;
use crate::event::{Event, Traffic};
use crate::framer::Frame;

/// The reason given to a session whose end is not in the capture.
pub const CAPTURE_ENDED: &str = "capture ended";
/// The reason given to sessions open when a replay stops early (error or interrupt).
pub const REPLAY_STOPPED: &str = "replay stopped";
/// The address given to a session whose start is not in the capture.
const UNKNOWN_ADDRESS: &str = "(not in capture)";

/// A session being replayed.
struct Open {
    id: u64,
    /// What was replayed of it, for a synthesized end (reads are unknown: 0).
    c2s: Traffic,
    s2c: Traffic,
}

/// Maps recorded sessions to replayed ones.
#[derive(Default)]
pub struct Sessions {
    used: HashSet<u64>,
    highest: u64,
    /// By recorded id: one file's sessions at a time.
    open: BTreeMap<u64, Open>,
    last_ts: i64,
}

impl Sessions {
    /// Turns one record into pipeline events, handed to `emit` in order.
    pub fn apply(&mut self, record: Record, emit: &mut impl FnMut(Event)) {
        self.last_ts = record.ts();
        match record {
            Record::Start { session, ts, client, server, tls } => {
                // A second start for an open id: an earlier run appended to the same file
                // stopped without writing that session's end.
                self.close(session, ts, CAPTURE_ENDED, emit);
                let id = self.begin(session);
                emit(Event::SessionStart { session: id, ts, client, server, tls });
            }
            Record::Message { session, ts, direction, frame } => {
                let open = self.ensure_open(session, ts, emit);
                count(open, direction, &frame);
                let id = open.id;
                emit(Event::Messages { session: id, direction, ts, frames: vec![frame] });
            }
            Record::End { session, ts, reason, c2s, s2c } => {
                let id = self.ensure_open(session, ts, emit).id;
                self.open.remove(&session);
                emit(Event::SessionEnd { session: id, ts, reason, c2s, s2c });
            }
        }
    }

    /// Ends every open session at the last time seen, in id order.
    pub fn close_all(&mut self, reason: &str, emit: &mut impl FnMut(Event)) {
        let mut open: Vec<Open> = std::mem::take(&mut self.open).into_values().collect();
        open.sort_by_key(|o| o.id);
        for o in open {
            emit(end_event(o, self.last_ts, reason));
        }
    }

    fn close(&mut self, recorded: u64, ts: i64, reason: &str, emit: &mut impl FnMut(Event)) {
        if let Some(open) = self.open.remove(&recorded) {
            emit(end_event(open, ts, reason));
        }
    }

    fn ensure_open(&mut self, recorded: u64, ts: i64, emit: &mut impl FnMut(Event)) -> &mut Open {
        if !self.open.contains_key(&recorded) {
            let id = self.begin(recorded);
            let (client, server) = (UNKNOWN_ADDRESS.to_owned(), UNKNOWN_ADDRESS.to_owned());
            emit(Event::SessionStart { session: id, ts, client, server, tls: false });
        }
        self.open.get_mut(&recorded).expect("opened above")
    }

    /// Opens a session: its recorded id if still free, else the next id above every one used.
    fn begin(&mut self, recorded: u64) -> u64 {
        let id =
            if self.used.contains(&recorded) { self.highest.saturating_add(1) } else { recorded };
        self.used.insert(id);
        self.highest = self.highest.max(id);
        self.open.insert(recorded, Open { id, c2s: Traffic::default(), s2c: Traffic::default() });
        id
    }
}

fn count(open: &mut Open, direction: Direction, frame: &Frame) {
    let traffic = match direction {
        Direction::ClientToServer => &mut open.c2s,
        Direction::ServerToClient => &mut open.s2c,
    };
    let newline = frame.flags & (abi::MSG_RAW | abi::MSG_NO_NEWLINE) == 0;
    traffic.bytes += frame.len + u64::from(newline);
    traffic.messages += 1;
}

fn end_event(open: Open, ts: i64, reason: &str) -> Event {
    Event::SessionEnd {
        session: open.id,
        ts,
        reason: reason.to_owned(),
        c2s: open.c2s,
        s2c: open.s2c,
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;

    fn message(session: u64, ts: i64) -> Record {
        let frame = Frame { line: Bytes::from_static(b"{}"), len: 2, flags: 0 };
        Record::Message { session, ts, direction: Direction::ClientToServer, frame }
    }

    fn start(session: u64) -> Record {
        Record::Start { session, ts: 1, client: "c".into(), server: "s".into(), tls: false }
    }

    /// (kind, replayed id) of each event.
    fn replay(files: &[Vec<Record>]) -> Vec<(&'static str, u64)> {
        let mut sessions = Sessions::default();
        let mut events = Vec::new();
        let mut emit = |e: Event| {
            events.push(match e {
                Event::SessionStart { session, .. } => ("start", session),
                Event::Messages { session, .. } => ("message", session),
                Event::SessionEnd { session, .. } => ("end", session),
            })
        };
        for file in files {
            for record in file.iter().cloned() {
                sessions.apply(record, &mut emit);
            }
            sessions.close_all(CAPTURE_ENDED, &mut emit);
        }
        events
    }

    #[test]
    fn cut_sessions_are_completed_and_reused_ids_remapped() {
        let events = replay(&[vec![message(5, 1), start(6)], vec![start(5), message(9, 2)]]);
        assert_eq!(
            events,
            [
                ("start", 5),
                ("message", 5),
                ("start", 6),
                ("end", 5),
                ("end", 6),
                ("start", 7),
                ("start", 9),
                ("message", 9),
                ("end", 7),
                ("end", 9),
            ]
        );
    }

    #[test]
    fn a_synthesized_end_counts_what_was_replayed() {
        let mut sessions = Sessions::default();
        let mut ends = Vec::new();
        let mut emit = |e: Event| {
            if let Event::SessionEnd { c2s, reason, ts, .. } = e {
                ends.push((c2s.bytes, c2s.messages, reason, ts));
            }
        };
        sessions.apply(message(1, 10), &mut emit);
        sessions.apply(message(1, 20), &mut emit);
        sessions.close_all(CAPTURE_ENDED, &mut emit);
        assert_eq!(ends, [(6, 2, CAPTURE_ENDED.to_owned(), 20)]);
    }
}
