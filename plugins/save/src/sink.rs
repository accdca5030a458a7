//! An output file that never panics and never goes silent: writes are buffered, failures are
//! reported once per episode and counted, and the proxy keeps forwarding whatever happens.

use std::fs::OpenOptions;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use ctiproxy_plugin_api::{ConfigError, Host};

/// A buffered output file named by a config key.
pub struct Sink {
    key: &'static str,
    path: PathBuf,
    writer: BufWriter<Box<dyn Write + Send>>,
    host: Host,
    /// Set by a failed write, cleared by the next successful flush: one error log per episode.
    failing: bool,
}

impl Sink {
    /// Opens (creates, truncates unless `append`) the file named by config key `key`.
    pub fn open(
        key: &'static str,
        path: &Path,
        append: bool,
        host: Host,
    ) -> Result<Self, ConfigError> {
        if host.is_check_only() {
            check_writable(key, path, append)?;
            let writer = BufWriter::new(Box::new(io::sink()) as Box<dyn Write + Send>);
            return Ok(Sink { key, path: path.to_owned(), writer, host, failing: false });
        }
        let mut options = OpenOptions::new();
        options.create(true);
        if append {
            options.append(true);
        } else {
            options.write(true).truncate(true);
        }
        let file = options.open(path).map_err(|e| {
            let verb = if append { "open" } else { "create" };
            ConfigError::at(key, format!("cannot {verb} {}: {e}", path.display()))
        })?;
        let writer = BufWriter::new(Box::new(file) as Box<dyn Write + Send>);
        Ok(Sink { key, path: path.to_owned(), writer, host, failing: false })
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

/// What `ctiproxy check` verifies instead of opening: an existing file can be opened for
/// appending (never truncated), a new one's directory exists. A check must not destroy a capture.
fn check_writable(key: &'static str, path: &Path, append: bool) -> Result<(), ConfigError> {
    let verb = if append { "open" } else { "create" };
    let fail = |e: String| ConfigError::at(key, format!("cannot {verb} {}: {e}", path.display()));
    if path.exists() {
        return OpenOptions::new()
            .append(true)
            .open(path)
            .map(drop)
            .map_err(|e| fail(e.to_string()));
    }
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if parent.is_dir() {
        Ok(())
    } else {
        Err(fail(format!("directory {} does not exist", parent.display())))
    }
}
