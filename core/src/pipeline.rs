//! The pipeline: the chain of plugin instances, run on its own thread behind a bounded queue.
//!
//! The proxy never waits for analysis except through the queue: with `overflow = "block"` a full
//! queue slows reading (nothing is lost), with `"drop"` the event is dropped and counted, and the
//! count is reported at session end and at exit. Session start and end events are never dropped,
//! so every plugin sees every session close. A plugin that panics is poisoned: logged once with
//! its name, skipped from then on, counted, while the others keep running.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ctiproxy_plugin_api::instance::{self as calls, Outcome};
use ctiproxy_plugin_api::{
    CreateError, Direction, HostServices, Instance, SessionEnd, SessionStart,
};
use tokio::sync::mpsc;

use crate::config::{Config, ConfigError, Overflow};
use crate::event::{now_micros, Event};
use crate::framer::Frame;
use crate::host::ProxyHost;
use crate::loader::Registry;

/// How often plugins get a tick.
pub const TICK: Duration = Duration::from_secs(1);

/// One plugin instance in the chain, with what went wrong with it.
struct Stage {
    label: String,
    instance: Instance,
    errors: u64,
    skipped: u64,
}

/// What a stage went through, for the exit report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StageReport {
    /// The stage's label.
    pub label: String,
    /// Whether it panicked.
    pub panicked: bool,
    /// Errors it returned.
    pub errors: u64,
    /// Events it missed because it had panicked.
    pub skipped: u64,
}

/// What the pipeline did, reported at exit.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// Messages delivered to the first stage.
    pub messages: u64,
    /// Messages lost to a full queue.
    pub dropped: u64,
    /// Per stage.
    pub stages: Vec<StageReport>,
    /// The counters plugins kept through the host: ((instance, name), value).
    pub counters: std::collections::BTreeMap<(String, String), u64>,
}

/// A built, validated chain of plugin instances, not yet running.
pub struct Pipeline {
    stages: Vec<Stage>,
    host: Arc<ProxyHost>,
}

/// The proxy's end of the queue.
#[derive(Clone)]
pub struct PipelineHandle {
    tx: mpsc::Sender<Event>,
    overflow: Overflow,
    dropped: Arc<AtomicU64>,
}

/// The running pipeline thread.
pub struct Running {
    thread: std::thread::JoinHandle<Report>,
    dropped: Arc<AtomicU64>,
}

fn label_for(config: &Config, index: usize, plugin: &str) -> String {
    let same = config
        .pipeline
        .iter()
        .filter(|e| e.get_ref().get("plugin").and_then(|p| p.as_str()) == Some(plugin));
    if same.count() > 1 {
        format!("{plugin}#{index}")
    } else {
        plugin.to_owned()
    }
}

impl Pipeline {
    /// Builds every `[[pipeline]]` entry: resolves the plugin, creates it with its settings.
    /// Returns every error found, each located in the config.
    pub fn build(
        config: &Config,
        registry: &Registry,
        host: Arc<ProxyHost>,
    ) -> Result<Pipeline, Vec<ConfigError>> {
        let mut stages = Vec::new();
        let mut errors = Vec::new();
        for index in 0..config.pipeline.len() {
            match build_stage(config, index, registry, &host) {
                Ok(stage) => stages.push(stage),
                Err(e) => errors.push(e),
            }
        }
        if errors.is_empty() {
            Ok(Pipeline { stages, host })
        } else {
            Err(errors)
        }
    }

    /// The stages' labels, in order.
    pub fn labels(&self) -> Vec<String> {
        self.stages.iter().map(|s| s.label.clone()).collect()
    }

    /// Starts the pipeline thread behind a queue of `queue` events.
    pub fn spawn(
        self,
        queue: usize,
        overflow: Overflow,
    ) -> std::io::Result<(PipelineHandle, Running)> {
        let (tx, rx) = mpsc::channel(queue);
        let dropped = Arc::new(AtomicU64::new(0));
        let thread =
            std::thread::Builder::new().name("pipeline".into()).spawn(move || self.run(rx))?;
        let handle = PipelineHandle { tx, overflow, dropped: dropped.clone() };
        Ok((handle, Running { thread, dropped }))
    }

    fn run(mut self, mut rx: mpsc::Receiver<Event>) -> Report {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_time().build();
        let Ok(runtime) = runtime else {
            tracing::error!("Cannot start the pipeline's timer; plugins get no ticks.");
            while let Some(event) = rx.blocking_recv() {
                self.deliver(event);
            }
            return self.finish();
        };
        let mut messages = 0u64;
        let mut next_tick = Instant::now() + TICK;
        loop {
            let event = match rx.try_recv() {
                Ok(event) => Some(event),
                Err(mpsc::error::TryRecvError::Disconnected) => break,
                Err(mpsc::error::TryRecvError::Empty) => {
                    self.host.flush();
                    let wait = next_tick.saturating_duration_since(Instant::now());
                    match runtime.block_on(async { tokio::time::timeout(wait, rx.recv()).await }) {
                        Ok(Some(event)) => Some(event),
                        Ok(None) => break,
                        Err(_) => None,
                    }
                }
            };
            if let Some(event) = event {
                messages += event.message_count() as u64;
                self.deliver(event);
            }
            if Instant::now() >= next_tick {
                self.broadcast(&calls::tick_event(now_micros()));
                next_tick = Instant::now() + TICK;
            }
        }
        let mut report = self.finish();
        report.messages = messages;
        report
    }

    /// Delivers one event down the chain.
    pub fn deliver(&mut self, event: Event) {
        match event {
            Event::Messages { session, direction, ts, frames } => {
                for frame in &frames {
                    self.deliver_message(session, direction, ts, frame);
                }
            }
            Event::SessionStart { session, ts, client, server } => {
                let start = SessionStart {
                    session_id: session,
                    timestamp_micros: ts,
                    client_addr: &client,
                    server_addr: &server,
                };
                self.broadcast(&calls::session_start_event(&start));
            }
            Event::SessionEnd { session, ts, reason, c2s, s2c } => {
                let end = SessionEnd {
                    session_id: session,
                    timestamp_micros: ts,
                    reason: &reason,
                    bytes_c2s: c2s.bytes,
                    bytes_s2c: s2c.bytes,
                    msgs_c2s: c2s.messages,
                    msgs_s2c: s2c.messages,
                    reads_c2s: c2s.reads,
                    reads_s2c: s2c.reads,
                    dropped: c2s.dropped + s2c.dropped,
                };
                self.broadcast(&calls::session_end_event(&end));
            }
        }
    }

    fn deliver_message(&mut self, session: u64, direction: Direction, ts: i64, frame: &Frame) {
        let mut replaced: Option<Vec<u8>> = None;
        for stage in &mut self.stages {
            let line = replaced.as_deref().unwrap_or(&frame.line);
            // A replacement is a whole line: it is no longer an oversize preview.
            let (len, flags) = match replaced {
                Some(_) => {
                    (line.len() as u64, frame.flags & !ctiproxy_plugin_api::abi::MSG_OVERSIZE)
                }
                None => (frame.len, frame.flags),
            };
            let event = calls::message_event(session, direction, ts, line, len, flags);
            match stage.call(&event) {
                Outcome::Drop => break,
                Outcome::Replace(bytes) => replaced = Some(bytes),
                _ => {}
            }
        }
    }

    fn broadcast(&mut self, event: &ctiproxy_plugin_api::abi::Event<'_>) {
        for stage in &mut self.stages {
            stage.call(event);
        }
    }

    /// Delivers shutdown to every stage, flushes output, destroys the instances.
    pub fn finish(mut self) -> Report {
        self.broadcast(&calls::shutdown_event(now_micros()));
        self.host.flush();
        let stages = self
            .stages
            .iter()
            .map(|s| StageReport {
                label: s.label.clone(),
                panicked: s.instance.is_poisoned(),
                errors: s.errors,
                skipped: s.skipped,
            })
            .collect();
        Report { stages, counters: self.host.counters(), ..Report::default() }
    }
}

impl Stage {
    fn call(&mut self, event: &ctiproxy_plugin_api::abi::Event<'_>) -> Outcome {
        let outcome = self.instance.call(event);
        match &outcome {
            Outcome::Panicked(text) => tracing::error!(
                plugin = %self.label,
                "Plugin panicked: {text}. It is disabled for the rest of the run; the proxy keeps forwarding and the other plugins keep running."
            ),
            Outcome::Poisoned => self.skipped += 1,
            Outcome::Error(text) => {
                self.errors += 1;
                if self.errors == 1 {
                    tracing::error!(plugin = %self.label, "Plugin error: {text} (further errors are counted, not logged).");
                }
            }
            _ => {}
        }
        outcome
    }
}

fn build_stage(
    config: &Config,
    index: usize,
    registry: &Registry,
    host: &Arc<ProxyHost>,
) -> Result<Stage, ConfigError> {
    let mut table = config.pipeline[index].get_ref().clone();
    let plugin = match table.remove("plugin") {
        Some(toml::Value::String(name)) => name,
        Some(_) => {
            return Err(config.pipeline_error(
                index,
                "plugin",
                "must be a string, the plugin's name".into(),
            ))
        }
        None => {
            return Err(config.pipeline_error(
                index,
                "",
                "missing key `plugin` (the plugin's name)".into(),
            ))
        }
    };
    // `library`, not `file`: plugins such as save use `file` for their own settings.
    let file = match table.remove("library") {
        Some(toml::Value::String(file)) => Some(std::path::PathBuf::from(file)),
        Some(_) => {
            return Err(config.pipeline_error(
                index,
                "library",
                "must be a string, a library path".into(),
            ))
        }
        None => None,
    };
    let found = registry
        .resolve(&plugin, file.as_deref())
        .map_err(|m| config.pipeline_error(index, "plugin", m))?;
    let json = serde_json::to_string(&table).unwrap_or_else(|_| "{}".into());
    let label = label_for(config, index, &plugin);
    let services: Arc<dyn HostServices> = host.clone();
    let instance =
        Instance::create(&found.vtable, services, &label, &json).map_err(|e| match e {
            CreateError::Config(c) => config.pipeline_error(index, &c.path, c.message),
            other => config.pipeline_error(index, "", format!("{}: {other}", found.file.display())),
        })?;
    Ok(Stage { label, instance, errors: 0, skipped: 0 })
}

impl PipelineHandle {
    /// Sends a session start or end: always waits for room, never dropped.
    pub async fn send_control(&self, event: Event) {
        // An error means the pipeline thread is gone; the proxy keeps forwarding regardless.
        let _ = self.tx.send(event).await;
    }

    /// Queues messages if that needs no waiting: `Ok(true)` queued, `Ok(false)` dropped (drop
    /// mode, queue full, counted), `Err(event)` when block mode must wait for room.
    pub fn try_send_messages(&self, event: Event) -> Result<bool, Event> {
        match self.tx.try_send(event) {
            Ok(()) | Err(mpsc::error::TrySendError::Closed(_)) => Ok(true),
            Err(mpsc::error::TrySendError::Full(event)) => match self.overflow {
                Overflow::Block => Err(event),
                Overflow::Drop => {
                    self.dropped.fetch_add(event.message_count() as u64, Ordering::Relaxed);
                    Ok(false)
                }
            },
        }
    }

    /// Sends messages; returns false when they were dropped because the queue was full (each one
    /// is counted).
    pub async fn send_messages(&self, event: Event) -> bool {
        match self.try_send_messages(event) {
            Ok(queued) => queued,
            Err(event) => {
                let _ = self.tx.send(event).await;
                true
            }
        }
    }
}

impl Running {
    /// Waits for the pipeline to drain (every handle must be dropped) and returns its report.
    pub fn join(self) -> Report {
        let dropped = self.dropped.load(Ordering::Relaxed);
        let mut report = self.thread.join().unwrap_or_else(|_| {
            tracing::error!("The pipeline thread panicked.");
            Report::default()
        });
        report.dropped = dropped.max(self.dropped.load(Ordering::Relaxed));
        report
    }
}
