//! The test server's mi_fifo: reads `:<reply name>:<json>\n` lines from a real FIFO, drops
//! lines of 4096 bytes or more and reply names with `.`, `/` or `\`, and writes each reply into
//! `<reply_dir>/<name>` after opening it non-blocking with 4 tries 80 ms apart, as 3.5.9 does
//! (no reader by then: the reply is lost). Malformed JSON never gets its reply FIFO opened; a
//! notification gets it opened and closed empty.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::Duration;

use nix::fcntl::{fcntl, FcntlArg, OFlag};
use nix::sys::stat::Mode;

use super::engine::Answer;
use super::{Injection, Kind, Shared};

const LINE_BUFFER: usize = 4096;
const OPEN_TRIES: u32 = 4;
const OPEN_PAUSE: Duration = Duration::from_millis(80);

pub(crate) struct FifoServer {
    dir: tempfile::TempDir,
    pub(crate) path: PathBuf,
}

impl FifoServer {
    pub(crate) fn start(shared: Shared) -> FifoServer {
        let dir = tempfile::tempdir().expect("create the test FIFO directory");
        let path = dir.path().join("opensips_fifo");
        nix::unistd::mkfifo(&path, Mode::from_bits_truncate(0o666))
            .expect("mkfifo the test MI FIFO");
        // Read and write, so the server never sees EOF between clients (as mi_fifo does).
        let fifo =
            OpenOptions::new().read(true).write(true).open(&path).expect("open the test MI FIFO");
        let reply_dir = dir.path().to_owned();
        thread::spawn(move || serve(fifo, &reply_dir, &shared));
        FifoServer { dir, path }
    }

    pub(crate) fn reply_dir(&self) -> &Path {
        self.dir.path()
    }

    pub(crate) fn wake(&self) {
        if let Ok(mut fifo) =
            OpenOptions::new().write(true).custom_flags(OFlag::O_NONBLOCK.bits()).open(&self.path)
        {
            let _ = fifo.write_all(b"\n");
        }
    }
}

fn serve(fifo: File, reply_dir: &Path, shared: &Shared) {
    let mut lines = BufReader::new(fifo);
    let mut line = Vec::new();
    loop {
        line.clear();
        if !matches!(lines.read_until(b'\n', &mut line), Ok(n) if n > 0) || shared.stopping() {
            return;
        }
        shared.record(Kind::Fifo, &line);
        if line.len() >= LINE_BUFFER {
            continue;
        }
        let Some((name, json)) = split(&line) else { continue };
        let reply = match shared.take_injection(Kind::Fifo) {
            Some(Injection::Reply(bytes)) => Some((Some(bytes), Duration::ZERO)),
            Some(Injection::Silence) => None,
            None => answer(shared, json),
        };
        let (Some((content, delay)), false) = (reply, name.is_empty()) else { continue };
        let target = reply_dir.join(name);
        thread::spawn(move || {
            thread::sleep(delay);
            write_reply(&target, content.as_deref());
        });
    }
}

// `:name:json\n`; names with `.`, `/` or `\` are "forbidden filenames".
fn split(line: &[u8]) -> Option<(&str, &[u8])> {
    let line = std::str::from_utf8(line.strip_suffix(b"\n")?).ok()?;
    let (name, json) = line.strip_prefix(':')?.split_once(':')?;
    if name.contains(['.', '/', '\\']) {
        return None;
    }
    Some((name, json.as_bytes()))
}

/// The reply content (`None`: open and close without writing), or `None` for no open at all.
fn answer(shared: &Shared, json: &[u8]) -> Option<(Option<Vec<u8>>, Duration)> {
    match shared.engine.answer(json) {
        Answer::ParseError => None,
        Answer::Reply { json, delay } => Some((Some(json.into_bytes()), delay)),
        Answer::Notification => Some((None, Duration::ZERO)),
        Answer::Unprintable => Some((Some(b"failed to print response".to_vec()), Duration::ZERO)),
    }
}

fn write_reply(target: &Path, content: Option<&[u8]>) {
    let Some(mut fifo) = open_reply(target) else { return };
    // Blocking from here on, so a reply larger than the pipe waits for the reader.
    let _ = fcntl(fifo.as_raw_fd(), FcntlArg::F_SETFL(OFlag::empty()));
    if let Some(content) = content {
        let _ = fifo.write_all(content);
    }
}

fn open_reply(target: &Path) -> Option<File> {
    for attempt in 0..OPEN_TRIES {
        if attempt > 0 {
            thread::sleep(OPEN_PAUSE);
        }
        let opened =
            OpenOptions::new().write(true).custom_flags(OFlag::O_NONBLOCK.bits()).open(target);
        if let Ok(fifo) = opened {
            return Some(fifo);
        }
    }
    None
}
