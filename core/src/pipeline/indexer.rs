//! The indexing thread: parses each queued line into its JSON tape while the pipeline thread
//! runs the plugins on the lines before it.
//!
//! Parsing is the one step every JSON-reading pipeline pays for every line (a third of the
//! spy's work, two thirds of the statistics'), and it needs nothing from the plugins, so it
//! runs a few reads ahead on its own thread: on a machine with a core to spare, the pipeline
//! thread's work per line shrinks by that much. The order of events is kept: session starts
//! and ends pass through the same channel as the lines.
//!
//! Memory stays bounded. The tapes circulate in a fixed pool of [`TAPES`] buffers that the
//! pipeline hands back once it has delivered a read, and a read is indexed only while the lines
//! of the tapes out, its own included, stay within [`AHEAD_BYTES`], or when no tape is out at
//! all (a long line completed). A tape takes at most 10 bytes per byte of line (a 20-byte node
//! per 2 bytes of `[0,0,…]`), so the tapes out hold at most 10 MiB, or ten times the one read
//! they describe; a buffer grown past [`KEPT_NODES`] is freed when handed back. The queue's
//! byte budget keeps counting the lines until they are delivered.

use std::ops::Range;
use std::sync::mpsc::{self, Receiver, Sender};
use std::thread::JoinHandle;

use ctiproxy_plugin_api::index::Node;
use ctiproxy_plugin_api::instance::index_line_append;
use tokio::sync::mpsc::UnboundedReceiver;

use super::Queued;
use crate::event::Event;
use crate::framer::Frame;

/// Tapes in circulation: one being filled while the pipeline delivers another, and two more so
/// that a moment the indexing thread is not scheduled does not stall the pipeline (ctisave
/// measured 5–15% faster with four than with two on 2 cores).
const TAPES: usize = 4;

/// A tape buffer holding more nodes than this (a 1.25 MiB buffer, grown by an unusually big
/// read) or more lines than this is freed when handed back, rather than kept for every read
/// after it; the pipeline thread's tape of a replacement line too.
pub const KEPT_NODES: usize = 64 * 1024;

/// Bytes of lines indexed ahead of the pipeline at most, unless one read alone holds more (a
/// long line completed), which is then indexed only when no other tape is out. Sixteen reads
/// of the socket: the pool, not this, limits ordinary traffic.
const AHEAD_BYTES: usize = 1024 * 1024;

/// The tapes of one read's lines, in one buffer.
#[derive(Debug, Default)]
pub struct Tape {
    /// Bytes of the lines it was filled for, until the indexing thread has it back.
    bytes: usize,
    nodes: Vec<Node>,
    /// Each line's tape in `nodes`, in the order of the frames; empty when it has none (not
    /// JSON, oversize, a raw read). `u32`: a read of empty lines has one per byte.
    spans: Vec<Range<u32>>,
}

impl Tape {
    /// Indexes `frames`, replacing what the tape held.
    pub fn fill(&mut self, frames: &[Frame]) {
        self.nodes.clear();
        self.spans.clear();
        for frame in frames {
            let span = index_line_append(&frame.line, frame.flags, &mut self.nodes);
            // Nodes are at most one per byte of lines, which a read holds far fewer than 4 Gi of.
            self.spans.push(span.start as u32..span.end as u32);
        }
    }

    /// The tape of frame `at`.
    pub fn of(&self, at: usize) -> &[Node] {
        self.spans.get(at).map_or(&[], |span| &self.nodes[span.start as usize..span.end as usize])
    }

    /// This buffer emptied for the next read, or a new one in place of one grown too big.
    pub fn recycled(mut self) -> Tape {
        if self.nodes.capacity() > KEPT_NODES || self.spans.capacity() > KEPT_NODES {
            return Tape { bytes: self.bytes, ..Tape::default() };
        }
        self.nodes.clear();
        self.spans.clear();
        self
    }
}

/// A tape of the pool, lent to the pipeline thread until it gives it back. Only this module
/// makes one, so only the pool's own tapes can go back into it.
pub struct Lent(Tape);

impl Lent {
    /// The tapes of the event's lines.
    pub fn tape(&self) -> &Tape {
        &self.0
    }
}

/// An event from the queue, with the tapes of its lines when it carries lines.
pub struct Indexed {
    pub queued: Queued,
    pub tape: Option<Lent>,
}

/// The pipeline thread's ends: indexed events in queue order, and the way back for tapes.
pub struct Indexer {
    pub events: Receiver<Indexed>,
    spare: Sender<Tape>,
    thread: JoinHandle<()>,
}

impl Indexer {
    /// Starts the thread, which runs until the queue is closed and emptied. Without `parse`
    /// (nothing reads the tapes: no plugin, no class counts) lines pass with empty tapes.
    pub fn spawn(queue: UnboundedReceiver<Queued>, parse: bool) -> std::io::Result<Indexer> {
        let (events_tx, events) = mpsc::channel();
        let (spare, spare_rx) = mpsc::channel();
        let pool =
            Pool { held: (0..TAPES).map(|_| Tape::default()).collect(), spare: spare_rx, ahead: 0 };
        let thread = std::thread::Builder::new()
            .name("indexer".into())
            .spawn(move || index(queue, events_tx, pool, parse))?;
        Ok(Indexer { events, spare, thread })
    }

    /// Hands a delivered event's tape back for a later read.
    pub fn give_back(&self, lent: Lent) {
        // An error means the indexer has ended: nothing more to index.
        let _ = self.spare.send(lent.0.recycled());
    }

    /// Waits for the thread, once `events` has said the queue is closed.
    pub fn join(self) {
        drop(self.spare);
        if self.thread.join().is_err() {
            tracing::error!("The indexing thread panicked.");
        }
    }
}

/// The indexing thread's side of the pool: the tapes it holds, the way they come back, and the
/// bytes of lines of those out.
struct Pool {
    held: Vec<Tape>,
    spare: Receiver<Tape>,
    ahead: usize,
}

impl Pool {
    /// A tape for a read of `bytes` of lines, once the reads ahead leave room for it; `None`
    /// when the pipeline is gone.
    fn take(&mut self, bytes: usize) -> Option<Tape> {
        loop {
            while let Ok(tape) = self.spare.try_recv() {
                self.back(tape);
            }
            let none_out = self.held.len() == TAPES;
            if !self.held.is_empty() && (none_out || self.ahead + bytes <= AHEAD_BYTES) {
                break;
            }
            let tape = self.spare.recv().ok()?;
            self.back(tape);
        }
        let mut tape = self.held.pop()?;
        tape.bytes = bytes;
        self.ahead += bytes;
        Some(tape)
    }

    fn back(&mut self, tape: Tape) {
        self.ahead -= tape.bytes;
        self.held.push(tape);
    }
}

fn index(
    mut queue: UnboundedReceiver<Queued>,
    events: Sender<Indexed>,
    mut pool: Pool,
    parse: bool,
) {
    while let Some(queued) = queue.blocking_recv() {
        let tape = match &queued.event {
            Event::Messages { .. } if !parse => None,
            Event::Messages { frames, .. } => {
                let bytes = frames.iter().map(|f| f.line.len()).sum();
                // Waits while the tapes are ahead of the pipeline; `None`: the pipeline is gone.
                let Some(mut tape) = pool.take(bytes) else { return };
                tape.fill(frames);
                Some(Lent(tape))
            }
            Event::SessionStart { .. } | Event::SessionEnd { .. } => None,
        };
        if events.send(Indexed { queued, tape }).is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use bytes::Bytes;
    use ctiproxy_plugin_api::abi::MSG_OVERSIZE;
    use ctiproxy_plugin_api::index::parse_into;
    use ctiproxy_plugin_api::Direction;

    use super::*;

    fn frame(line: &str, flags: u32) -> Frame {
        Frame { line: Bytes::from(line.to_owned()), len: line.len() as u64, flags }
    }

    fn messages(frames: Vec<Frame>) -> Queued {
        let event =
            Event::Messages { session: 1, direction: Direction::ClientToServer, ts: 0, frames };
        Queued { event, _permit: None }
    }

    fn control(session: u64) -> Queued {
        let (c2s, s2c) = Default::default();
        let event = Event::SessionEnd { session, ts: 0, reason: String::new(), c2s, s2c };
        Queued { event, _permit: None }
    }

    const WAIT: Duration = Duration::from_secs(10);

    /// Asserts that the next read stays unindexed while `out` is out and is indexed once it is
    /// given back; returns its tape.
    fn held_back_until_given(indexer: &Indexer, out: Lent) -> Lent {
        assert!(indexer.events.recv_timeout(Duration::from_millis(200)).is_err());
        indexer.give_back(out);
        indexer.events.recv_timeout(WAIT).unwrap().tape.expect("the read, indexed")
    }

    #[test]
    fn events_keep_their_order_and_each_line_gets_its_own_tape() {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let indexer = Indexer::spawn(rx, true).unwrap();
        let lines = [(r#"{"class":"a","n":[1,{"b":2}]}"#, 0), ("not json", 0), ("[1,2", 0)];
        let mut frames: Vec<Frame> = lines.iter().map(|(l, f)| frame(l, *f)).collect();
        frames.push(frame(r#"{"cut":"#, MSG_OVERSIZE));
        frames.push(frame(r#""after""#, 0));
        tx.send(control(7)).unwrap();
        tx.send(messages(frames.clone())).unwrap();
        tx.send(control(8)).unwrap();
        drop(tx);
        let first = indexer.events.recv_timeout(WAIT).unwrap();
        assert!(matches!(first.queued.event, Event::SessionEnd { session: 7, .. }));
        assert!(first.tape.is_none());
        let second = indexer.events.recv_timeout(WAIT).unwrap();
        let lent = second.tape.expect("lines have tapes");
        let tape = lent.tape();
        for (at, frame) in frames.iter().enumerate() {
            let mut alone = Vec::new();
            if frame.flags & MSG_OVERSIZE == 0 && parse_into(&frame.line, &mut alone).is_ok() {
                assert_eq!(tape.of(at), &alone[..], "{:?}", frame.line);
            } else {
                assert!(tape.of(at).is_empty(), "{:?}", frame.line);
            }
        }
        let third = indexer.events.recv_timeout(WAIT).unwrap();
        assert!(matches!(third.queued.event, Event::SessionEnd { session: 8, .. }));
        assert!(indexer.events.recv_timeout(WAIT).is_err(), "the queue closed: nothing more");
        indexer.join();
    }

    #[test]
    fn no_more_reads_than_the_pool_holds_are_indexed_ahead() {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let indexer = Indexer::spawn(rx, true).unwrap();
        for _ in 0..TAPES + 2 {
            tx.send(messages(vec![frame("[1]", 0)])).unwrap();
        }
        let mut held: Vec<Lent> =
            (0..TAPES).map(|_| indexer.events.recv_timeout(WAIT).unwrap().tape.unwrap()).collect();
        // Every tape is out: the next read waits for one to come back.
        held_back_until_given(&indexer, held.pop().unwrap());
        drop(tx);
    }

    #[test]
    fn reads_are_indexed_ahead_only_within_the_bytes_allowed() {
        // Two reads of just under AHEAD_BYTES each: the second waits for the first to be back.
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let indexer = Indexer::spawn(rx, true).unwrap();
        let line = format!("[{}0]", "0,".repeat(AHEAD_BYTES / 2 - 2));
        assert!(line.len() <= AHEAD_BYTES);
        for _ in 0..2 {
            tx.send(messages(vec![frame(&line, 0)])).unwrap();
        }
        let first = indexer.events.recv_timeout(WAIT).unwrap().tape.unwrap();
        held_back_until_given(&indexer, first);
        drop(tx);
    }

    #[test]
    fn a_big_read_waits_until_its_tape_is_the_only_one_out() {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let indexer = Indexer::spawn(rx, true).unwrap();
        let big = format!("[{}1]", "1,".repeat(AHEAD_BYTES / 2));
        tx.send(messages(vec![frame("[1]", 0)])).unwrap();
        tx.send(messages(vec![frame(&big, 0)])).unwrap();
        let small = indexer.events.recv_timeout(WAIT).unwrap().tape.unwrap();
        // One tape is out: the big read is not indexed while the pipeline holds it.
        let tape = held_back_until_given(&indexer, small);
        assert_eq!(tape.tape().of(0).len(), AHEAD_BYTES / 2 + 2);
        drop(tx);
    }

    #[test]
    fn without_readers_lines_are_not_parsed() {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let indexer = Indexer::spawn(rx, false).unwrap();
        tx.send(messages(vec![frame("[1]", 0)])).unwrap();
        assert!(indexer.events.recv_timeout(WAIT).unwrap().tape.is_none());
    }

    #[test]
    fn a_buffer_grown_by_a_huge_read_is_freed_when_handed_back() {
        let mut tape = Tape::default();
        let huge = format!("[{}0]", "0,".repeat(KEPT_NODES));
        tape.fill(&[frame(&huge, 0)]);
        assert!(tape.nodes.capacity() > KEPT_NODES);
        assert_eq!(tape.recycled().nodes.capacity(), 0);
        let mut small = Tape::default();
        small.fill(&[frame("[1,2]", 0)]);
        let capacity = small.nodes.capacity();
        let small = small.recycled();
        assert_eq!((small.nodes.len(), small.nodes.capacity()), (0, capacity));
    }
}
