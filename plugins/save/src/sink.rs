//! An output file that never panics and never goes silent: writes are buffered, failures are
//! reported once per episode and counted, and the proxy keeps forwarding whatever happens.

use std::io::{self, BufWriter, Write};
use std::path::PathBuf;

use ctiproxy_plugin_api::{ConfigError, Host};

use crate::claim::Claim;
use crate::target::Target;

/// Bytes buffered before a write to the file: at a few hundred bytes a message, the 8 KiB
/// default made a system call every 20 messages, a measurable share of a message's cost.
const BUFFER: usize = 64 * 1024;

/// A buffered output file named by a config key.
pub struct Sink {
    key: &'static str,
    path: PathBuf,
    writer: BufWriter<Box<dyn Write + Send>>,
    host: Host,
    /// Set by a failed write, cleared by the next successful flush: one error log per episode.
    failing: bool,
    /// Keeps other entries of the pipeline off this file while it is open.
    _claim: Claim,
}

impl Sink {
    /// Opens `target` (see [`Target::open`]); in a check-only build, only checks that it could.
    pub fn open(target: &Target, host: Host) -> Result<Self, ConfigError> {
        let claim = Claim::take(target, host.instance_name())?;
        let out: Box<dyn Write + Send> = if host.is_check_only() {
            target.probe()?;
            Box::new(io::sink())
        } else {
            Box::new(target.open()?)
        };
        Ok(Sink {
            key: target.key,
            path: target.path.clone(),
            writer: BufWriter::with_capacity(BUFFER, out),
            host,
            failing: false,
            _claim: claim,
        })
    }

    /// Runs `write` on the buffered file, reporting a failure.
    pub fn write(
        &mut self,
        write: impl FnOnce(&mut BufWriter<Box<dyn Write + Send>>) -> io::Result<()>,
    ) {
        let result = write(&mut self.writer);
        self.check(result);
    }

    /// Pushes buffered bytes to the file, reporting a failure or a recovery.
    pub fn flush(&mut self) {
        let result = self.writer.flush();
        if result.is_ok() && self.failing {
            self.failing = false;
            self.host.info(&format!("{}: writing to {} again", self.key, self.path.display()));
        }
        self.check(result);
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
