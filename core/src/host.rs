//! The proxy's side of the host services: plugin diagnostics go to `tracing` (stderr) under the
//! instance's name, plugin output to one buffered stdout shared by every plugin, counters to a
//! table reported at exit.

use std::collections::BTreeMap;
use std::io::{self, IsTerminal, Write};
use std::sync::{Mutex, PoisonError};

use ctiproxy_plugin_api::{HostServices, Level};

/// Where plugin output goes.
pub type Sink = Box<dyn Write + Send>;

/// Host services for the proxy's plugins.
pub struct ProxyHost {
    out: Mutex<io::BufWriter<Sink>>,
    terminal: bool,
    check_only: bool,
    counters: Mutex<BTreeMap<(String, String), u64>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl ProxyHost {
    /// Output to the process's stdout.
    pub fn stdout() -> Self {
        let terminal = io::stdout().is_terminal();
        Self::with_sink(Box::new(io::stdout()), terminal)
    }

    /// Output to any writer (tests, the demo).
    pub fn with_sink(sink: Sink, terminal: bool) -> Self {
        ProxyHost {
            out: Mutex::new(io::BufWriter::with_capacity(64 * 1024, sink)),
            terminal,
            check_only: false,
            counters: Mutex::new(BTreeMap::new()),
        }
    }

    /// Marks the host as checking only: plugins validate but create nothing (`ctiproxy check`).
    pub fn check_only(mut self) -> Self {
        self.check_only = true;
        self
    }

    /// Pushes buffered output out; called whenever the pipeline has nothing queued. When the
    /// output is gone (a closed pipe), says so once and discards from then on: the proxy's job
    /// is the wire, not the terminal.
    pub fn flush(&self) {
        let mut out = lock(&self.out);
        if let Err(e) = out.flush() {
            tracing::warn!("Cannot write plugin output ({e}); discarding it from now on.");
            *out = io::BufWriter::new(Box::new(io::sink()));
        }
    }

    /// Every counter the plugins kept: ((instance, name), value).
    pub fn counters(&self) -> BTreeMap<(String, String), u64> {
        lock(&self.counters).clone()
    }
}

impl HostServices for ProxyHost {
    fn log(&self, instance: &str, level: Level, message: &str) {
        match level {
            Level::Error => tracing::error!(plugin = instance, "{message}"),
            Level::Warn => tracing::warn!(plugin = instance, "{message}"),
            Level::Info => tracing::info!(plugin = instance, "{message}"),
            Level::Debug => tracing::debug!(plugin = instance, "{message}"),
        }
    }

    fn output(&self, bytes: &[u8]) {
        // A closed stdout (e.g. `| head`) must not stop the proxy: the wire matters more.
        let _ = lock(&self.out).write_all(bytes);
    }

    fn counter_add(&self, instance: &str, name: &str, delta: u64) {
        *lock(&self.counters).entry((instance.to_owned(), name.to_owned())).or_default() += delta;
    }

    fn output_is_terminal(&self) -> bool {
        self.terminal
    }

    fn check_only(&self) -> bool {
        self.check_only
    }
}
