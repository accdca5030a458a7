//! Read buffers that come back: the forwarding path reads into a buffer, hands its lines to the
//! pipeline without copying them, and gets the buffer back for a later read once the pipeline
//! has dropped the last line that points into it.
//!
//! Allocating a fresh 64 KiB buffer per read, freed on the pipeline thread, made the allocator
//! give the memory back to the kernel and take it again: ~17,000 page faults (each a zeroed
//! page) per million realistic messages forwarded, where a recycled buffer takes none. The
//! spare buffers are few and process-wide, so an idle proxy holds at most `SPARE` (16) of them
//! whatever its number of sessions.
//!
//! The queue's byte budget weighs the lines, not the reads they point into; so that it bounds
//! the reads too, a read whose queued lines hold less than half of it (the rest being pieces of
//! a long line, which the framer copies, or an oversize line, of which only a preview is queued)
//! has those lines copied out by [`unpin_sparse`], and its buffer comes back at once.

use std::sync::{Mutex, PoisonError};

use bytes::Bytes;

use crate::framer::Frame;

/// Size of one read, and of each buffer.
pub const READ_SIZE: usize = 64 * 1024;

/// Spare buffers kept at most (1 MiB): enough for the reads between a buffer's release and
/// its reuse; more are freed.
const SPARE: usize = 16;

/// Spare buffers; the forwarding path uses [`POOL`], tests their own.
pub struct Pool {
    spares: Mutex<Vec<Vec<u8>>>,
}

/// The process's pool.
pub static POOL: Pool = Pool::new();

impl Pool {
    const fn new() -> Pool {
        Pool { spares: Mutex::new(Vec::new()) }
    }

    /// An empty buffer with room for one read.
    pub fn take(&self) -> Vec<u8> {
        let spare = self.spares.lock().unwrap_or_else(PoisonError::into_inner).pop();
        spare.unwrap_or_else(|| Vec::with_capacity(READ_SIZE))
    }

    /// The bytes of a filled buffer, shared without a copy; the buffer returns to the spares
    /// when the last of them is dropped.
    pub fn share(&'static self, buffer: Vec<u8>) -> Bytes {
        Bytes::from_owner(Returning { buffer, pool: self })
    }

    /// Keeps `buffer` for a later read, unless enough are kept or it grew past a read's size.
    pub fn give_back(&self, mut buffer: Vec<u8>) {
        if buffer.capacity() != READ_SIZE {
            return;
        }
        buffer.clear();
        let mut spares = self.spares.lock().unwrap_or_else(PoisonError::into_inner);
        if spares.len() < SPARE {
            spares.push(buffer);
        }
    }

    #[cfg(test)]
    fn holds(&self, at: *const u8) -> Option<usize> {
        let spares = self.spares.lock().unwrap();
        spares.iter().find(|b| b.as_ptr() == at).map(Vec::len)
    }
}

/// Copies out the lines of `frames` that point into `chunk` when they hold less than half of it,
/// so that a few queued bytes never pin a whole read. The lines left shared then weigh at least
/// half of the read, and a shared read fills at least a quarter of its buffer (smaller ones are
/// copied when read): a buffer outweighs the queued lines that keep it at most eightfold, about
/// once for the full reads of a busy stream. Reads filled with lines, the usual case, are left
/// as they are, shared without a copy.
pub fn unpin_sparse(frames: &mut [Frame], chunk: &Bytes) {
    let within = chunk.as_ptr_range();
    let pins = |frame: &Frame| !frame.line.is_empty() && within.contains(&frame.line.as_ptr());
    let pinned: usize = frames.iter().filter(|f| pins(f)).map(|f| f.line.len()).sum();
    if pinned == 0 || pinned * 2 >= chunk.len() {
        return;
    }
    for frame in frames.iter_mut().filter(|f| pins(f)) {
        frame.line = Bytes::copy_from_slice(&frame.line);
    }
}

/// A filled buffer owned by the `Bytes` that share it.
struct Returning {
    buffer: Vec<u8>,
    pool: &'static Pool,
}

impl AsRef<[u8]> for Returning {
    fn as_ref(&self) -> &[u8] {
        &self.buffer
    }
}

impl Drop for Returning {
    fn drop(&mut self) {
        self.pool.give_back(std::mem::take(&mut self.buffer));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_buffer_comes_back_emptied_once_its_last_slice_is_dropped() {
        static POOL: Pool = Pool::new();
        let mut buffer = POOL.take();
        buffer.extend_from_slice(b"{\"class\":\"a\"}\n{\"class\":\"b\"}\n");
        let at = buffer.as_ptr();
        let bytes = POOL.share(buffer);
        let line = bytes.slice(0..13);
        drop(bytes);
        assert_eq!(&line[..], b"{\"class\":\"a\"}", "a slice keeps the bytes alive");
        assert_eq!(POOL.holds(at), None);
        drop(line);
        assert_eq!(POOL.holds(at), Some(0), "back, empty, once the last slice went");
        let next = POOL.take();
        assert_eq!(next.as_ptr(), at, "and used for the next read");
    }

    #[test]
    fn a_grown_buffer_is_freed_not_kept() {
        static POOL: Pool = Pool::new();
        let mut buffer = POOL.take();
        buffer.resize(READ_SIZE + 1, b'x');
        let at = buffer.as_ptr();
        drop(POOL.share(buffer));
        assert_eq!(POOL.holds(at), None);
    }

    fn frames_of(chunk: &Bytes) -> Vec<Frame> {
        let mut frames = Vec::new();
        let mut framer = crate::framer::Framer::new(64);
        framer.push(chunk, |frame| frames.push(frame));
        frames
    }

    fn shares(frame: &Frame, chunk: &Bytes) -> bool {
        chunk.as_ptr_range().contains(&frame.line.as_ptr())
    }

    #[test]
    fn a_read_mostly_of_queued_lines_stays_shared() {
        let chunk = Bytes::from("{\"class\":\"a\"}\n".repeat(100));
        let mut frames = frames_of(&chunk);
        unpin_sparse(&mut frames, &chunk);
        assert_eq!(frames.len(), 100);
        assert!(frames.iter().all(|frame| shares(frame, &chunk)), "no copy");
    }

    #[test]
    fn a_read_mostly_of_an_oversize_line_lets_its_buffer_go() {
        // A tiny line, then a line past the framer's 64-byte limit (previewed) and a piece of the
        // next one (kept by the framer): two queued frames, few of the read's bytes.
        let text = format!("{{}}\n{}\n{}", "x".repeat(2000), "y".repeat(500));
        let chunk = Bytes::from(text);
        let mut frames = frames_of(&chunk);
        assert_eq!(frames.len(), 2);
        assert!(frames.iter().all(|frame| shares(frame, &chunk)));
        let lines: Vec<Bytes> = frames.iter().map(|f| f.line.clone()).collect();
        unpin_sparse(&mut frames, &chunk);
        assert!(!frames.iter().any(|frame| shares(frame, &chunk)), "copied out");
        let copied: Vec<Bytes> = frames.iter().map(|f| f.line.clone()).collect();
        assert_eq!(copied, lines, "the same lines");
    }

    #[test]
    fn no_more_than_the_spare_count_is_kept() {
        static POOL: Pool = Pool::new();
        let shared: Vec<Bytes> = (0..SPARE + 4).map(|_| POOL.share(POOL.take())).collect();
        drop(shared);
        assert_eq!(POOL.spares.lock().unwrap().len(), SPARE);
    }
}
