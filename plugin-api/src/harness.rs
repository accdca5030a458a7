//! In-process test harness for plugins: build a plugin from a TOML snippet, feed it events,
//! assert on verdicts, output, logs and counters. No `dlopen`, but the calls go through the very
//! same `extern "C"` shims and host-side checks as in the proxy, so panics, config errors and
//! buffer handling behave exactly as they will when loaded.
//!
//! ```
//! use ctiproxy_plugin_api::harness::Harness;
//! use ctiproxy_plugin_api::{ConfigError, Host, Message, Outcome, Plugin, Verdict};
//!
//! struct DropKeepalives;
//! impl Plugin for DropKeepalives {
//!     const NAME: &'static str = "drop-keepalives";
//!     const DESCRIPTION: &'static str = "Hides keepalive messages from later plugins.";
//!     type Config = serde_json::Value;
//!     fn new(_: Self::Config, _: Host) -> Result<Self, ConfigError> { Ok(DropKeepalives) }
//!     fn on_message(&mut self, m: &Message<'_>) -> Verdict {
//!         if m.class() == Some("keepalive") { Verdict::Drop } else { Verdict::Pass }
//!     }
//! }
//!
//! let mut h = Harness::<DropKeepalives>::new("").unwrap();
//! assert_eq!(h.client(r#"{"class":"keepalive"}"#), Outcome::Drop);
//! assert_eq!(h.server(r#"{"class":"login_id"}"#), Outcome::Pass);
//! ```
//!
//! Sessions interleave in the proxy, so they do here: [`Harness::start_session`] returns each
//! session's id, and [`Harness::client_in`], [`Harness::server_in`] and
//! [`Harness::end_session_in`] take it. [`Harness::client`] and friends use the last session
//! started, for tests of one session at a time.

use std::collections::BTreeMap;
use std::marker::PhantomData;
use std::sync::{Arc, Mutex, PoisonError};

use crate::abi::PluginDescriptor;
use crate::error::{ConfigError, CreateError};
use crate::export::descriptor;
use crate::host::Level;
use crate::instance::{self, Instance, Outcome};
use crate::message::{Direction, SessionEnd, SessionStart};
use crate::plugin::Plugin;
use crate::services::HostServices;
use crate::vtable::Vtable;

/// The first timestamp the harness stamps events with (2019-02-22 14:08:32 UTC); each event
/// advances the clock by one millisecond unless the test sets it.
pub const START_MICROS: i64 = 1_550_844_512_000_000;

#[derive(Default)]
struct Capture {
    output: Mutex<Vec<u8>>,
    logs: Mutex<Vec<(Level, String)>>,
    counters: Mutex<BTreeMap<String, u64>>,
    terminal: bool,
    check_only: bool,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl HostServices for Capture {
    fn log(&self, _instance: &str, level: Level, message: &str) {
        lock(&self.logs).push((level, message.to_owned()));
    }
    fn output(&self, bytes: &[u8]) {
        lock(&self.output).extend_from_slice(bytes);
    }
    fn counter_add(&self, _instance: &str, name: &str, delta: u64) {
        *lock(&self.counters).entry(name.to_owned()).or_default() += delta;
    }
    fn output_is_terminal(&self) -> bool {
        self.terminal
    }
    fn check_only(&self) -> bool {
        self.check_only
    }
}

// A constant rather than a leaked box: a fuzz target builds millions of harnesses, and each
// leak would count against its memory limit.
struct Descriptor<P>(PhantomData<P>);

impl<P: Plugin> Descriptor<P> {
    const DESCRIPTOR: PluginDescriptor = descriptor::<P>("harness");
}

/// A plugin instance under test, with a fake host that records everything.
pub struct Harness<P: Plugin> {
    instance: Instance,
    capture: Arc<Capture>,
    session_id: u64,
    clock: i64,
    _plugin: PhantomData<fn() -> P>,
}

/// Turns a TOML snippet (the keys of a `[[pipeline]]` table) into the JSON a plugin receives.
pub fn toml_to_json(snippet: &str) -> Result<String, ConfigError> {
    let table: toml::Table =
        toml::from_str(snippet).map_err(|e| ConfigError::from(format!("bad TOML: {e}")))?;
    serde_json::to_string(&table).map_err(|e| ConfigError::from(e.to_string()))
}

impl<P: Plugin> Harness<P> {
    /// Builds the plugin from a TOML snippet, as if it were its `[[pipeline]]` table.
    pub fn new(config_toml: &str) -> Result<Self, CreateError> {
        Self::build(config_toml, false)
    }

    /// Like [`Harness::new`], with a host that says its output is a terminal.
    pub fn on_terminal(config_toml: &str) -> Result<Self, CreateError> {
        Self::build(config_toml, true)
    }

    /// Builds the plugin as `ctiproxy check` does: the host says it will never run.
    pub fn check_only(config_toml: &str) -> Result<Self, CreateError> {
        Self::with_capture(config_toml, Capture { check_only: true, ..Capture::default() })
    }

    fn build(config_toml: &str, terminal: bool) -> Result<Self, CreateError> {
        Self::with_capture(config_toml, Capture { terminal, ..Capture::default() })
    }

    fn with_capture(config_toml: &str, capture: Capture) -> Result<Self, CreateError> {
        let json = toml_to_json(config_toml).map_err(CreateError::Config)?;
        let desc: &'static PluginDescriptor = &Descriptor::<P>::DESCRIPTOR;
        #[allow(unsafe_code)]
        // SAFETY: a descriptor built by this crate, a constant that lives forever.
        let vtable = unsafe { Vtable::from_descriptor(desc) }
            .map_err(|e| CreateError::Failed(e.to_string()))?;
        let capture = Arc::new(capture);
        let instance = Instance::create(&vtable, capture.clone(), P::NAME, &json)?;
        Ok(Harness { instance, capture, session_id: 0, clock: START_MICROS, _plugin: PhantomData })
    }

    fn advance(&mut self) -> i64 {
        self.clock += 1_000;
        self.clock
    }

    /// Sets the clock (microseconds since the Unix epoch) for the next event.
    pub fn set_time(&mut self, unix_micros: i64) {
        self.clock = unix_micros - 1_000;
    }

    /// Starts a new session (ids count from 1) and returns its id.
    pub fn start_session(&mut self) -> u64 {
        self.session_id += 1;
        let ts = self.advance();
        let start = SessionStart {
            session_id: self.session_id,
            timestamp_micros: ts,
            client_addr: "127.0.0.1:40000",
            server_addr: "127.0.0.1:5003",
            tls: false,
        };
        if let Some(fault) = self.instance.call(&instance::session_start_event(&start)).into_fault()
        {
            panic!("session start failed: {fault}");
        }
        self.session_id
    }

    /// The last session started (1 before any was).
    fn current(&self) -> u64 {
        self.session_id.max(1)
    }

    /// Feeds one message (`flags`: `abi::MSG_*`) in the last session started, indexed as the
    /// host indexes every line.
    pub fn send(&mut self, direction: Direction, line: &[u8], flags: u32) -> Outcome {
        self.send_in(self.current(), direction, line, flags)
    }

    /// Feeds one message in session `session` (an id from [`Harness::start_session`]).
    pub fn send_in(
        &mut self,
        session: u64,
        direction: Direction,
        line: &[u8],
        flags: u32,
    ) -> Outcome {
        let ts = self.advance();
        let mut nodes = Vec::new();
        instance::index_line(line, flags, &mut nodes);
        let len = line.len() as u64;
        let event = instance::message_event(session, direction, ts, line, len, flags, &nodes);
        self.instance.call(&event)
    }

    /// Feeds one line from the client, in the last session started.
    pub fn client(&mut self, line: &str) -> Outcome {
        self.client_in(self.current(), line)
    }

    /// Feeds one line from the server, in the last session started.
    pub fn server(&mut self, line: &str) -> Outcome {
        self.server_in(self.current(), line)
    }

    /// Feeds one line from the client of session `session`.
    pub fn client_in(&mut self, session: u64, line: &str) -> Outcome {
        self.send_in(session, Direction::ClientToServer, line.as_bytes(), 0)
    }

    /// Feeds one line from the server of session `session`.
    pub fn server_in(&mut self, session: u64, line: &str) -> Outcome {
        self.send_in(session, Direction::ServerToClient, line.as_bytes(), 0)
    }

    /// Ends the last session started with `reason` and zero counts.
    pub fn end_session(&mut self, reason: &str) -> Outcome {
        self.end_session_in(self.current(), reason)
    }

    /// Ends session `session` with `reason` and zero counts.
    pub fn end_session_in(&mut self, session: u64, reason: &str) -> Outcome {
        self.end_session_with(SessionEnd { session_id: session, reason, ..SessionEnd::default() })
    }

    /// Ends a session with the given figures; its timestamp is the harness clock's.
    pub fn end_session_with(&mut self, mut end: SessionEnd<'_>) -> Outcome {
        end.timestamp_micros = self.advance();
        self.instance.call(&instance::session_end_event(&end))
    }

    /// Delivers a timer tick.
    pub fn timer_tick(&mut self) -> Outcome {
        let ts = self.advance();
        self.instance.call(&instance::tick_event(ts))
    }

    /// Delivers the shutdown event.
    pub fn shutdown(&mut self) -> Outcome {
        let ts = self.advance();
        self.instance.call(&instance::shutdown_event(ts))
    }

    /// Everything the plugin printed so far, as text.
    pub fn output(&self) -> String {
        String::from_utf8_lossy(&lock(&self.capture.output)).into_owned()
    }

    /// Everything the plugin printed since the last call, then forgets it.
    pub fn take_output(&self) -> String {
        let bytes = std::mem::take(&mut *lock(&self.capture.output));
        String::from_utf8_lossy(&bytes).into_owned()
    }

    /// Every diagnostic the plugin logged.
    pub fn logs(&self) -> Vec<(Level, String)> {
        lock(&self.capture.logs).clone()
    }

    /// A counter's value (0 if never incremented).
    pub fn counter(&self, name: &str) -> u64 {
        lock(&self.capture.counters).get(name).copied().unwrap_or(0)
    }

    /// True once the plugin has panicked.
    pub fn is_poisoned(&self) -> bool {
        self.instance.is_poisoned()
    }
}

impl Outcome {
    /// `Some(text)` for an error or panic, `None` otherwise.
    pub fn into_fault(self) -> Option<String> {
        match self {
            Outcome::Error(e) => Some(format!("error: {e}")),
            Outcome::Panicked(p) => Some(format!("panicked: {p}")),
            Outcome::Poisoned => Some("poisoned".into()),
            _ => None,
        }
    }
}
