//! Splits one direction's byte stream into lines, without copying where it can.
//!
//! Lines end at `\n` (not included). A line split across reads is carried over; a line longer
//! than the maximum is not kept: only a short preview and its full length are, so memory stays
//! bounded whatever a peer sends. The unfinished lines of all framers also draw from one
//! process-wide [`PartialBudget`]: a line that finds it exhausted is analysed as oversize. A tail
//! left without a final newline when the peer closes is flushed by [`Framer::finish`] (the
//! original tools lost it).

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use ctiproxy_plugin_api::abi;

use crate::partials::PartialBudget;

/// A carried line longer than this is copied out to an exact-size buffer when it completes, so
/// the queue does not pin the growth slack of the buffer it was assembled in (up to twice it).
const COPY_OUT_ABOVE: usize = 64 * 1024;

/// How many bytes of an oversize line are kept to show what it was.
pub const OVERSIZE_PREVIEW: usize = 256;

/// One framed line (or raw read).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// The line's bytes without `\n`; only a preview when oversize.
    pub line: Bytes,
    /// The full length of the line.
    pub len: u64,
    /// `abi::MSG_*` bits.
    pub flags: u32,
}

impl Frame {
    fn whole(line: Bytes, flags: u32) -> Frame {
        Frame { len: line.len() as u64, line, flags }
    }
}

/// The line splitter of one direction.
#[derive(Debug)]
pub struct Framer {
    max_line: usize,
    /// Bytes of the current, unfinished line (at most `max_line`, or a preview once oversize).
    partial: BytesMut,
    /// Full length of the current unfinished line.
    partial_len: u64,
    /// The shared budget of unfinished lines, and what this framer holds of it.
    budget: Option<Arc<PartialBudget>>,
    reserved: usize,
    /// The budget ran out during the current line: it is kept as a preview, flagged oversize.
    starved: bool,
}

impl Framer {
    /// A framer for lines of at most `max_line` bytes, with no shared budget.
    pub fn new(max_line: usize) -> Self {
        Framer {
            max_line,
            partial: BytesMut::new(),
            partial_len: 0,
            budget: None,
            reserved: 0,
            starved: false,
        }
    }

    /// A framer whose unfinished lines draw from `budget`.
    pub fn with_budget(max_line: usize, budget: Arc<PartialBudget>) -> Self {
        let mut framer = Framer::new(max_line);
        framer.budget = Some(budget);
        framer
    }

    /// Frames one read; calls `emit` for every line it completes, in order.
    pub fn push(&mut self, chunk: &Bytes, mut emit: impl FnMut(Frame)) {
        let mut start = 0;
        for newline in memchr::memchr_iter(b'\n', chunk) {
            let piece = &chunk[start..newline];
            if self.partial_len == 0 {
                emit(self.complete_piece(chunk.slice(start..newline)));
            } else {
                self.append(piece);
                emit(self.take_partial(0));
            }
            start = newline + 1;
        }
        if start < chunk.len() {
            self.append(&chunk[start..]);
        }
    }

    /// Flushes the tail left without a final newline, if any.
    pub fn finish(&mut self) -> Option<Frame> {
        (self.partial_len > 0).then(|| self.take_partial(abi::MSG_NO_NEWLINE))
    }

    /// Bytes held for an unfinished line (bounded by the maximum line length).
    pub fn buffered(&self) -> usize {
        self.partial.len()
    }

    fn complete_piece(&self, line: Bytes) -> Frame {
        if line.len() <= self.max_line {
            Frame::whole(line, 0)
        } else {
            let len = line.len() as u64;
            Frame {
                line: line.slice(..OVERSIZE_PREVIEW.min(line.len())),
                len,
                flags: abi::MSG_OVERSIZE,
            }
        }
    }

    fn append(&mut self, bytes: &[u8]) {
        self.partial_len += bytes.len() as u64;
        if self.partial_len <= self.max_line as u64 && !self.starved && self.reserve(bytes.len()) {
            self.partial.extend_from_slice(bytes);
        } else {
            // Oversize (or no budget left): keep only the preview, forget the rest (it was
            // forwarded already).
            let room = OVERSIZE_PREVIEW.saturating_sub(self.partial.len());
            self.partial.truncate(OVERSIZE_PREVIEW);
            self.partial.extend_from_slice(&bytes[..room.min(bytes.len())]);
        }
    }

    /// Takes `bytes` from the shared budget; once it refuses, the line is starved.
    fn reserve(&mut self, bytes: usize) -> bool {
        let Some(budget) = &self.budget else {
            return true;
        };
        if budget.reserve(bytes) {
            self.reserved += bytes;
        } else {
            self.starved = true;
        }
        !self.starved
    }

    fn release(&mut self) {
        if let Some(budget) = &self.budget {
            budget.release(std::mem::take(&mut self.reserved));
        }
        self.starved = false;
    }

    fn take_partial(&mut self, flags: u32) -> Frame {
        let len = std::mem::take(&mut self.partial_len);
        let oversize =
            if len > self.max_line as u64 || self.starved { abi::MSG_OVERSIZE } else { 0 };
        let line = if self.partial.len() > COPY_OUT_ABOVE {
            let line = Bytes::copy_from_slice(&self.partial);
            self.partial = BytesMut::new();
            line
        } else {
            self.partial.split().freeze()
        };
        if oversize != 0 {
            self.partial = BytesMut::new();
        }
        self.release();
        Frame { line, len, flags: flags | oversize }
    }
}

impl Drop for Framer {
    fn drop(&mut self) {
        self.release();
    }
}

#[cfg(test)]
mod tests;
