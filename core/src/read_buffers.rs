//! Read buffers that come back: the forwarding path reads into a buffer, hands its lines to the
//! pipeline without copying them, and gets the buffer back for a later read once the pipeline
//! has dropped the last line that points into it.
//!
//! Allocating a fresh 64 KiB buffer per read, freed on the pipeline thread, made the allocator
//! give the memory back to the kernel and take it again: ~17,000 page faults (each a zeroed
//! page) per million realistic messages forwarded, where a recycled buffer takes none. The
//! spare buffers are few and process-wide, so an idle proxy holds at most [`SPARE`] of them
//! whatever its number of sessions; the queue's byte budget bounds those in flight.

use std::sync::{Mutex, PoisonError};

use bytes::Bytes;

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
    fn give_back(&self, mut buffer: Vec<u8>) {
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

    #[test]
    fn no_more_than_the_spare_count_is_kept() {
        static POOL: Pool = Pool::new();
        let shared: Vec<Bytes> = (0..SPARE + 4).map(|_| POOL.share(POOL.take())).collect();
        drop(shared);
        assert_eq!(POOL.spares.lock().unwrap().len(), SPARE);
    }
}
