//! The thread that writes one output file, so that the pipeline thread renders the next
//! messages while the kernel copies the last ones into the page cache (a third of the save
//! plugin's time on a fast stream).
//!
//! The pipeline thread fills a buffer and hands it over when it is full or at a flush; this
//! thread writes the buffers in order and hands each one back, emptied, with the outcome. At
//! most [`IN_FLIGHT`] buffers are out at once, so memory stays bounded and a stalled disk slows
//! the pipeline (which the queue then absorbs) instead of growing memory. What a failed write
//! could not write is kept and tried again before the next buffers, as a `BufWriter` keeps its
//! buffer: whole buffers (whole messages), about one buffer's worth, so a file that recovers
//! gets no half message.

use std::io::{self, Write};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::thread::JoinHandle;

/// Buffers handed over and not back yet, at most: one being written, one waiting.
pub const IN_FLIGHT: usize = 2;

/// A buffer that comes back grown past this many times its usual size (a huge message) is
/// dropped rather than kept for reuse.
const KEEP_GROWN: usize = 4;

/// A buffer back from the thread, emptied, and how writing it went.
pub struct Written {
    pub buffer: Vec<u8>,
    pub result: io::Result<()>,
}

/// The writing thread of one file, seen from the pipeline thread.
pub struct Background {
    jobs: Option<SyncSender<Vec<u8>>>,
    done: Receiver<Written>,
    thread: Option<JoinHandle<()>>,
    out: usize,
    capacity: usize,
}

impl Background {
    /// Starts a thread writing to `file`, whose buffers usually hold `capacity` bytes.
    pub fn spawn(file: Box<dyn Write + Send>, capacity: usize) -> io::Result<Background> {
        let (jobs, incoming) = mpsc::sync_channel::<Vec<u8>>(IN_FLIGHT);
        let (finished, done) = mpsc::sync_channel(IN_FLIGHT);
        let thread = std::thread::Builder::new()
            .name("save-writer".into())
            .spawn(move || write_all_jobs(file, incoming, finished, capacity))?;
        Ok(Background { jobs: Some(jobs), done, thread: Some(thread), out: 0, capacity })
    }

    /// Hands `buffer` over to be written; returns an empty buffer to fill next and the
    /// outcomes of the writes that finished meanwhile, oldest first. Waits only when
    /// [`IN_FLIGHT`] buffers are out already.
    pub fn send(&mut self, buffer: Vec<u8>, outcomes: &mut Vec<io::Result<()>>) -> Vec<u8> {
        let mut spare = None;
        while let Ok(back) = self.done.try_recv() {
            spare = Some(self.take_back(back, outcomes));
        }
        if self.out == IN_FLIGHT {
            if let Ok(back) = self.done.recv() {
                spare = Some(self.take_back(back, outcomes));
            }
        }
        let huge = buffer.len() > KEEP_GROWN * self.capacity;
        match self.jobs.as_ref().map(|jobs| jobs.send(buffer)) {
            Some(Ok(())) => self.out += 1,
            // The thread is gone (it panicked): the bytes cannot be written.
            _ => outcomes.push(Err(stopped())),
        }
        if huge {
            // A huge message (up to twice max_line_bytes rendered) is written before the next
            // one is rendered: never two of them in memory at once.
            self.wait(outcomes);
        }
        spare.unwrap_or_else(|| Vec::with_capacity(self.capacity))
    }

    /// Waits until every buffer handed over is written; pushes their outcomes, oldest first.
    pub fn wait(&mut self, outcomes: &mut Vec<io::Result<()>>) {
        while self.out > 0 {
            match self.done.recv() {
                Ok(back) => drop(self.take_back(back, outcomes)),
                Err(_) => {
                    self.out = 0;
                    outcomes.push(Err(stopped()));
                }
            }
        }
    }

    fn take_back(&mut self, back: Written, outcomes: &mut Vec<io::Result<()>>) -> Vec<u8> {
        self.out -= 1;
        outcomes.push(back.result);
        if back.buffer.capacity() > KEEP_GROWN * self.capacity {
            Vec::with_capacity(self.capacity)
        } else {
            back.buffer
        }
    }
}

impl Drop for Background {
    /// Lets the thread write what it was handed, then joins it: bytes handed over are on
    /// their way to the file before the plugin is gone.
    fn drop(&mut self) {
        self.jobs = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The thread's loop: each buffer written after the bytes kept from failed writes.
fn write_all_jobs(
    mut file: Box<dyn Write + Send>,
    incoming: Receiver<Vec<u8>>,
    finished: SyncSender<Written>,
    capacity: usize,
) {
    let mut kept = Vec::new();
    for mut buffer in incoming {
        let result =
            write_after_kept(&mut file, &mut kept, &buffer, capacity).and_then(|()| file.flush());
        buffer.clear();
        if finished.send(Written { buffer, result }).is_err() {
            return;
        }
    }
}

/// Writes the bytes kept from failed writes, then `buffer`; keeps what could not be written.
fn write_after_kept(
    file: &mut dyn Write,
    kept: &mut Vec<u8>,
    buffer: &[u8],
    capacity: usize,
) -> io::Result<()> {
    if !kept.is_empty() {
        let (written, result) = write_out(file, kept);
        kept.drain(..written);
        if let Err(e) = result {
            keep(kept, buffer, capacity);
            return Err(e);
        }
    }
    let (written, result) = write_out(file, buffer);
    keep(kept, &buffer[written..], capacity);
    result
}

/// Writes as much of `bytes` as the file takes: how much, and the error that stopped it.
fn write_out(file: &mut dyn Write, bytes: &[u8]) -> (usize, io::Result<()>) {
    let mut written = 0;
    while written < bytes.len() {
        match file.write(&bytes[written..]) {
            Ok(0) => return (written, Err(io::ErrorKind::WriteZero.into())),
            Ok(n) => written += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return (written, Err(e)),
        }
    }
    (written, Ok(()))
}

/// Keeps `bytes`, a buffer's unwritten part, for another try: whole or not at all, so that
/// what is kept always ends where a message ends and the file never gets half a message. The
/// remainder of a partly written buffer is always kept (the file must go on where it stopped);
/// other buffers only while everything kept stays within `capacity` bytes, as a full
/// `BufWriter` refuses what does not fit.
fn keep(kept: &mut Vec<u8>, bytes: &[u8], capacity: usize) {
    if kept.is_empty() || kept.len() + bytes.len() <= capacity {
        kept.extend_from_slice(bytes);
    }
}

/// The error a write gets once the writing thread is gone (it panicked).
#[derive(Debug)]
struct WriterStopped;

impl std::fmt::Display for WriterStopped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the file's writing thread stopped")
    }
}

impl std::error::Error for WriterStopped {}

fn stopped() -> io::Error {
    io::Error::new(io::ErrorKind::BrokenPipe, WriterStopped)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// A file that fails while `failing` is set, and records what it was given otherwise.
    #[derive(Clone, Default)]
    struct Flaky {
        failing: Arc<Mutex<bool>>,
        written: Arc<Mutex<Vec<u8>>>,
    }

    impl Write for Flaky {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            if *self.failing.lock().unwrap() {
                return Err(io::Error::other("disk full"));
            }
            // Half at a time, as a file may take less than it is offered.
            let n = bytes.len().div_ceil(2);
            self.written.lock().unwrap().extend_from_slice(&bytes[..n]);
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn writes_in_order_and_keeps_what_a_failure_left_for_the_next_try() {
        let file = Flaky::default();
        let mut background = Background::spawn(Box::new(file.clone()), 8).unwrap();
        let mut outcomes = Vec::new();
        let mut write = |bytes: &[u8], outcomes: &mut Vec<_>| {
            assert!(background.send(bytes.to_vec(), outcomes).is_empty());
            background.wait(outcomes);
        };
        write(b"one ", &mut outcomes);
        *file.failing.lock().unwrap() = true;
        write(b"two ", &mut outcomes);
        write(b"three ", &mut outcomes);
        *file.failing.lock().unwrap() = false;
        write(b"four", &mut outcomes);
        let failed: Vec<bool> = outcomes.iter().map(Result::is_err).collect();
        assert_eq!(failed, [false, true, true, false]);
        // "two " was kept while failing; "three " did not fit beside it and was lost whole.
        assert_eq!(&*file.written.lock().unwrap(), b"one two four");
    }

    #[test]
    fn a_recovered_file_never_gets_half_a_message() {
        let file = Flaky::default();
        let mut background = Background::spawn(Box::new(file.clone()), 64).unwrap();
        let mut outcomes = Vec::new();
        let record = b"{\"class\":\"x\",\"n\":123456}\n";
        // A buffer is handed over once it holds at least the capacity: usually a bit more.
        let full: Vec<u8> = record.iter().copied().cycle().take(record.len() * 3).collect();
        *file.failing.lock().unwrap() = true;
        drop(background.send(full.clone(), &mut outcomes));
        drop(background.send(full.clone(), &mut outcomes));
        background.wait(&mut outcomes);
        *file.failing.lock().unwrap() = false;
        drop(background.send(b"{\"class\":\"after\"}\n".to_vec(), &mut outcomes));
        background.wait(&mut outcomes);
        let written = String::from_utf8(file.written.lock().unwrap().clone()).unwrap();
        for line in written.lines() {
            assert!(serde_json::from_str::<serde_json::Value>(line).is_ok(), "torn: {line}");
        }
        assert_eq!(written.lines().count(), 4, "the first buffer kept whole, then the last");
    }

    #[test]
    fn a_huge_buffer_is_written_before_send_returns() {
        let file = Flaky::default();
        let mut background = Background::spawn(Box::new(file.clone()), 8).unwrap();
        let mut outcomes = Vec::new();
        drop(background.send(vec![b'x'; 8 * KEEP_GROWN + 1], &mut outcomes));
        assert_eq!(background.out, 0);
        assert_eq!(file.written.lock().unwrap().len(), 8 * KEEP_GROWN + 1);
        assert!(matches!(outcomes[..], [Ok(())]));
    }

    #[test]
    fn at_most_two_buffers_are_out_and_dropping_writes_them() {
        let file = Flaky::default();
        let mut background = Background::spawn(Box::new(file.clone()), 8).unwrap();
        let mut outcomes = Vec::new();
        for n in 0..100u8 {
            drop(background.send(vec![b'a' + n % 26], &mut outcomes));
            assert!(background.out <= IN_FLIGHT);
        }
        drop(background);
        assert_eq!(file.written.lock().unwrap().len(), 100);
        assert!(outcomes.iter().all(Result::is_ok));
    }
}
