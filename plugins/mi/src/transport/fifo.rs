//! mi_fifo: the request is one line `:<reply name>:<json>\n` written to OpenSIPS's FIFO; the
//! reply is written into a FIFO that the client creates in the server's `reply_dir`.
//!
//! The rules come from how 3.5.9 behaves: the reply name must be a bare file name (no `.`, `/`
//! or `\`, else the request is dropped); the server opens the reply FIFO non-blocking and gives
//! up after ~0.3 s without a reader (and then does not even run a synchronous command), so the
//! client opens its end for reading BEFORE writing the request; requests of 4096 bytes or more
//! are cut and silently lost; malformed JSON never gets its reply FIFO opened, hence a timeout.

use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Read, Write};
use std::os::fd::AsFd;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::fcntl::OFlag;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::stat::Mode;

use super::{Deadline, MAX_REPLY};
use crate::error::Error;
use crate::request::Request;
use crate::response::{decode_for, Reply};
use crate::wiretap::Wiretap;

/// OpenSIPS's default `reply_dir` for mi_fifo.
pub const DEFAULT_REPLY_DIR: &str = "/tmp";

/// The longest request line (prefix, JSON and newline) mi_fifo reads whole: its buffer is 4096
/// bytes, and a line below PIPE_BUF is also written atomically.
pub const MAX_REQUEST_LINE: usize = 4095;

// OpenSIPS keeps reply_dir + name in a 128-byte buffer.
const MAX_REPLY_PATH: usize = 127;

/// The mi_fifo transport.
#[derive(Debug)]
pub(crate) struct Fifo {
    path: PathBuf,
    reply_dir: PathBuf,
}

impl Fifo {
    pub(crate) fn new(path: &Path, reply_dir: &Path) -> Fifo {
        Fifo { path: path.to_owned(), reply_dir: reply_dir.to_owned() }
    }

    pub(crate) fn call(
        &self,
        request: &Request,
        deadline: &Deadline,
        wiretap: &Wiretap,
    ) -> Result<Reply, Error> {
        let reply_fifo = ReplyFifo::create(&self.reply_dir)?;
        let line = format!(":{}:{}\n", reply_fifo.name, request.to_json());
        if line.len() > MAX_REQUEST_LINE {
            return Err(Error::InvalidInput(format!(
                "FIFO request is {} bytes, mi_fifo reads at most {MAX_REQUEST_LINE}",
                line.len()
            )));
        }
        let reader = reply_fifo.open_reader()?;
        wiretap.sent(line.as_bytes());
        self.write_request(line.as_bytes(), deadline)?;
        let reply = read_until_eof(&reader, deadline)?;
        wiretap.received(&reply);
        decode_reply(&reply, request.id)
    }

    fn write_request(&self, line: &[u8], deadline: &Deadline) -> Result<(), Error> {
        let context = || format!("write to {}", self.path.display());
        let metadata = fs::metadata(&self.path).map_err(|e| Error::transport(context(), e))?;
        if !metadata.file_type().is_fifo() {
            return Err(Error::InvalidInput(format!("{} is not a FIFO", self.path.display())));
        }
        // Non-blocking, so a FIFO nobody reads fails at once (ENXIO) instead of hanging.
        let fifo = OpenOptions::new()
            .write(true)
            .custom_flags(OFlag::O_NONBLOCK.bits())
            .open(&self.path)
            .map_err(|e| {
                Error::transport(format!("{} (is OpenSIPS with mi_fifo running?)", context()), e)
            })?;
        loop {
            match (&fifo).write(line) {
                Ok(written) if written == line.len() => return Ok(()),
                Ok(_) => return Err(Error::transport(context(), ErrorKind::WriteZero.into())),
                // A full pipe: the server is busy; wait for room within the deadline.
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    std::thread::sleep(deadline.remaining()?.min(Duration::from_millis(10)))
                }
                Err(e) => return Err(Error::transport(context(), e)),
            }
        }
    }
}

/// Decodes what was read from the reply FIFO: one JSON-RPC reply, which must answer `id` (the
/// FIFO is ours alone, so no stale reply can be in it), and nothing after it but whitespace.
pub(crate) fn decode_reply(reply: &[u8], id: u32) -> Result<Reply, Error> {
    decode_for(reply, id)
}

/// The per-request reply FIFO, unlinked when dropped.
struct ReplyFifo {
    name: String,
    path: PathBuf,
}

impl ReplyFifo {
    fn create(reply_dir: &Path) -> Result<ReplyFifo, Error> {
        let name =
            format!("ctiproxy-mi-reply-{}-{:016x}", std::process::id(), rand::random::<u64>());
        let path = reply_dir.join(&name);
        if path.as_os_str().len() > MAX_REPLY_PATH {
            return Err(Error::InvalidInput(format!(
                "reply FIFO path {} is longer than the {MAX_REPLY_PATH} bytes OpenSIPS accepts",
                path.display()
            )));
        }
        let context = format!("create reply FIFO {}", path.display());
        nix::unistd::mkfifo(&path, Mode::from_bits_truncate(0o666))
            .map_err(|errno| Error::transport(context.clone(), errno.into()))?;
        let fifo = ReplyFifo { name, path };
        // The umask narrows mkfifo's mode, and OpenSIPS often runs as another user.
        fs::set_permissions(&fifo.path, fs::Permissions::from_mode(0o666))
            .map_err(|e| Error::transport(context, e))?;
        Ok(fifo)
    }

    fn open_reader(&self) -> Result<File, Error> {
        OpenOptions::new()
            .read(true)
            .custom_flags(OFlag::O_NONBLOCK.bits())
            .open(&self.path)
            .map_err(|e| Error::transport(format!("open reply FIFO {}", self.path.display()), e))
    }
}

impl Drop for ReplyFifo {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

/// Reads the reply until the server closes its end. Linux reports no hang-up on a FIFO whose
/// writer has not yet come, so poll waits for the server; a server that never opens the reply
/// FIFO (malformed request, missing reply_dir) runs into the deadline.
fn read_until_eof(reader: &File, deadline: &Deadline) -> Result<Vec<u8>, Error> {
    let mut reply = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        let millis = deadline.remaining()?.as_micros().div_ceil(1000);
        let timeout =
            PollTimeout::try_from(millis.min(i32::MAX as u128)).unwrap_or(PollTimeout::MAX);
        let mut fds = [PollFd::new(reader.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, timeout) {
            Ok(0) => return Err(deadline.expired()),
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => continue,
            Err(errno) => return Err(Error::transport("wait for the reply FIFO", errno.into())),
        }
        match (&*reader).read(&mut chunk) {
            Ok(0) => return Ok(reply),
            Ok(n) => {
                reply.extend_from_slice(&chunk[..n]);
                if reply.len() > MAX_REPLY {
                    let reason = format!("reply too large (more than {MAX_REPLY} bytes)");
                    return Err(Error::malformed(reason, &reply));
                }
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock || e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(Error::transport("read the reply FIFO", e)),
        }
    }
}
