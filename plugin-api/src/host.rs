//! The plugin's handle on the host: logging (stderr), user output (stdout), counters.
//!
//! A plugin library has its own copy of every global (including any logger), so `tracing` or
//! `println!` inside a plugin would bypass the host's logger and its output ordering. Everything
//! a plugin says goes through this handle instead.
#![allow(unsafe_code)]

use crate::abi::{self, HostApi, Str};

/// Severity of a diagnostic.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// Something failed.
    Error,
    /// Something is wrong but work goes on.
    Warn,
    /// Worth knowing.
    Info,
    /// Detail for debugging.
    Debug,
}

impl Level {
    /// The ABI code (`LOG_*`).
    pub fn code(self) -> u32 {
        match self {
            Level::Error => abi::LOG_ERROR,
            Level::Warn => abi::LOG_WARN,
            Level::Info => abi::LOG_INFO,
            Level::Debug => abi::LOG_DEBUG,
        }
    }

    /// Reads an ABI code; unknown codes count as `Debug`.
    pub fn from_code(code: u32) -> Self {
        match code {
            abi::LOG_ERROR => Level::Error,
            abi::LOG_WARN => Level::Warn,
            abi::LOG_INFO => Level::Info,
            _ => Level::Debug,
        }
    }
}

/// The host's services for one plugin instance. Cheap to clone; usable from any thread the
/// plugin owns.
#[derive(Clone, Debug)]
pub struct Host {
    api: *const HostApi,
}

// SAFETY: the host never frees a HostApi (services::HostTable leaks it, so a clone kept past the
// instance stays valid) and its callbacks are thread-safe (documented on abi::HostApi), so the
// pointer may move to and be shared between threads.
unsafe impl Send for Host {}
// SAFETY: as above.
unsafe impl Sync for Host {}

impl Host {
    /// Wraps the table the host passed to `create`.
    ///
    /// # Safety
    /// `api` must point at a `HostApi` that is never freed (hosts leak their tables, so a `Host`
    /// a plugin keeps in a thread or a static stays valid).
    pub unsafe fn from_raw(api: *const HostApi) -> Self {
        Host { api }
    }

    fn api(&self) -> &HostApi {
        // SAFETY: from_raw's contract: the host never frees the table.
        unsafe { &*self.api }
    }

    /// Logs a diagnostic under this instance's name.
    pub fn log(&self, level: Level, message: &str) {
        let api = self.api();
        if let Some(log) = api.log {
            // SAFETY: the callback comes from the host with its own ctx; the Str is borrowed for
            // this call only.
            unsafe { log(api.ctx, level.code(), Str::from_str(message)) }
        }
    }

    /// Logs an error.
    pub fn error(&self, message: &str) {
        self.log(Level::Error, message)
    }

    /// Logs a warning.
    pub fn warn(&self, message: &str) {
        self.log(Level::Warn, message)
    }

    /// Logs an informational message.
    pub fn info(&self, message: &str) {
        self.log(Level::Info, message)
    }

    /// Logs a debugging detail.
    pub fn debug(&self, message: &str) {
        self.log(Level::Debug, message)
    }

    /// Writes user-facing output (stdout). Write whole lines: the host interleaves the output of
    /// several plugins at call granularity.
    pub fn print(&self, bytes: &[u8]) {
        let api = self.api();
        if let Some(output) = api.output {
            // SAFETY: host callback with its own ctx; bytes borrowed for the call.
            unsafe { output(api.ctx, Str::new(bytes)) }
        }
    }

    /// Adds to one of this instance's named counters (reported by the host).
    pub fn counter_add(&self, name: &str, delta: u64) {
        let api = self.api();
        if let Some(add) = api.counter_add {
            // SAFETY: host callback with its own ctx; name borrowed for the call.
            unsafe { add(api.ctx, Str::from_str(name), delta) }
        }
    }

    /// True when the user output is a terminal, so colour is welcome.
    pub fn output_is_terminal(&self) -> bool {
        self.api().flags & abi::HOST_OUTPUT_IS_TERMINAL != 0
    }

    /// True when the pipeline is only being checked (`ctiproxy check`): validate settings, but
    /// create no file, open no connection, start no thread. The instance gets no events.
    pub fn is_check_only(&self) -> bool {
        self.api().flags & abi::HOST_CHECK_ONLY != 0
    }

    /// This instance's label in the pipeline, e.g. `pipeline[2] (spy)`.
    pub fn instance_name(&self) -> &str {
        // SAFETY: the host keeps the name alive as long as the HostApi; it is UTF-8 because the
        // host built it from a &str.
        let bytes = unsafe { self.api().instance_name.as_bytes() };
        std::str::from_utf8(bytes).unwrap_or("?")
    }
}
