//! An output file that never panics and never goes silent: writes are buffered and handed to
//! a thread of their own ([`Background`]), failures are reported once per episode and counted,
//! and the proxy keeps forwarding whatever happens.

use std::io;
use std::path::PathBuf;

use ctiproxy_plugin_api::{ConfigError, Host};

use crate::background::Background;
use crate::claim::Claim;
use crate::target::Target;

/// Bytes buffered before they are handed to the writing thread: at a few hundred bytes a
/// message, an 8 KiB buffer made a system call every 20 messages, a measurable share of a
/// message's cost.
const BUFFER: usize = 64 * 1024;

/// A buffered output file named by a config key.
pub struct Sink {
    key: &'static str,
    path: PathBuf,
    /// The bytes not handed over yet.
    buffer: Vec<u8>,
    /// Writes them; declared before the claim so that it finishes before the claim is let go.
    background: Background,
    /// Outcomes of finished writes, reported in order.
    outcomes: Vec<io::Result<()>>,
    host: Host,
    /// Set by a failed write, cleared by the next successful one: one error log per episode.
    failing: bool,
    /// Keeps other entries of the pipeline off this file while it is open.
    _claim: Claim,
}

impl Sink {
    /// Opens `target` (see [`Target::open`]); in a check-only build, only checks that it could.
    pub fn open(target: &Target, host: Host) -> Result<Self, ConfigError> {
        let claim = Claim::take(target, host.instance_name())?;
        let out: Box<dyn io::Write + Send> = if host.is_check_only() {
            target.probe()?;
            Box::new(io::sink())
        } else {
            Box::new(target.open()?)
        };
        let background = Background::spawn(out, BUFFER).map_err(|e| {
            ConfigError::at(target.key, format!("cannot start the thread writing it: {e}"))
        })?;
        Ok(Sink {
            key: target.key,
            path: target.path.clone(),
            buffer: Vec::with_capacity(BUFFER),
            background,
            outcomes: Vec::new(),
            host,
            failing: false,
            _claim: claim,
        })
    }

    /// Runs `write` on the buffer, handing it over to be written once it is full.
    pub fn write(&mut self, write: impl FnOnce(&mut Vec<u8>) -> io::Result<()>) {
        let result = write(&mut self.buffer);
        self.check(result);
        if self.buffer.len() >= BUFFER {
            self.hand_over();
        }
    }

    /// Writes everything buffered to the file and waits until it is written, reporting a
    /// failure or a recovery.
    pub fn flush(&mut self) {
        self.hand_over();
        self.background.wait(&mut self.outcomes);
        self.report();
    }

    fn hand_over(&mut self) {
        let full = std::mem::take(&mut self.buffer);
        self.buffer = self.background.send(full, &mut self.outcomes);
        self.report();
    }

    fn report(&mut self) {
        let outcomes = std::mem::take(&mut self.outcomes);
        for result in outcomes {
            if result.is_ok() && self.failing {
                self.failing = false;
                self.host.info(&format!("{}: writing to {} again", self.key, self.path.display()));
            }
            self.check(result);
        }
    }

    fn check(&mut self, result: io::Result<()>) {
        let Err(error) = result else {
            return;
        };
        self.host.counter_add("write_errors", 1);
        if !self.failing {
            self.failing = true;
            self.host.error(&format!(
                "{}: cannot write {}: {error} (messages are lost from this file until it recovers; \
                 the proxy keeps forwarding)",
                self.key,
                self.path.display()
            ));
        }
    }
}

impl Drop for Sink {
    /// Hands over what is still buffered; the writing thread writes it before it is joined.
    fn drop(&mut self) {
        if !self.buffer.is_empty() {
            let rest = std::mem::take(&mut self.buffer);
            drop(self.background.send(rest, &mut Vec::new()));
        }
    }
}
