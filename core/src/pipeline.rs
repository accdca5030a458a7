//! The pipeline: the chain of plugin instances, run on its own thread behind a bounded queue.
//!
//! The proxy never waits for analysis except through the queue, bounded in events and in bytes
//! ([`crate::budget`]): with `overflow = "block"` a full queue slows reading (nothing is lost),
//! with `"drop"` the event is dropped and counted, and the count is reported at session end and
//! at exit. Session start and end events take no room and never wait, so a session is always
//! forwarded and every plugin sees every session close. Shutdown waits for the analysis of what
//! is queued only up to a deadline (a plugin whose output nobody reads must not hang the exit). A plugin that panics is poisoned: logged once with
//! its name, skipped from then on, counted, while the others keep running.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{RecvTimeoutError, TryRecvError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ctiproxy_plugin_api::instance::{self as calls, Outcome};
use ctiproxy_plugin_api::{
    CreateError, Direction, HostServices, Instance, SessionEnd, SessionStart,
};
use tokio::sync::mpsc;

use indexer::{Indexed, Indexer, Tape};

mod indexer;

use crate::budget::{Budget, Permit, QueueLimits};
use crate::config::{Config, ConfigError, Overflow};
use crate::event::{now_micros, Event};
use crate::framer::Frame;
use crate::host::ProxyHost;
use crate::loader::{Found, Registry};
use crate::metrics::classes::ClassTable;
use crate::metrics::pipeline::StageFaults;
use crate::metrics::queue::QueueProbe;
use crate::metrics::Metrics;

/// How often plugins get a tick.
pub const TICK: Duration = Duration::from_secs(1);

/// One plugin instance in the chain, with what went wrong with it.
struct Stage {
    label: String,
    instance: Instance,
    errors: u64,
    skipped: u64,
    /// Its error and panic counters, when the pipeline is observed.
    faults: Option<StageFaults>,
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
    busy: Busy,
    /// The JSON tape of a plugin's replacement line, reused from line to line.
    nodes: Vec<ctiproxy_plugin_api::index::Node>,
    /// The tapes of an event delivered by [`Pipeline::deliver`], which indexes on this thread.
    scratch: Tape,
    /// Messages by class, when the pipeline is observed.
    classes: Option<ClassTable>,
}

/// An event in the queue, with the room it holds until it is delivered.
struct Queued {
    event: Event,
    _permit: Option<Permit>,
}

/// The proxy's end of the queue.
#[derive(Clone)]
pub struct PipelineHandle {
    tx: mpsc::UnboundedSender<Queued>,
    budget: Budget,
    dropped: Arc<AtomicU64>,
}

/// The stage being called, for the report of a pipeline stuck at shutdown (`IDLE`: none,
/// `FLUSHING`: writing the plugins' buffered output).
type Busy = Arc<AtomicUsize>;
const IDLE: usize = usize::MAX;
const FLUSHING: usize = usize::MAX - 1;

/// The running pipeline thread.
pub struct Running {
    thread: std::thread::JoinHandle<Report>,
    dropped: Arc<AtomicU64>,
    budget: Budget,
    busy: Busy,
    labels: Vec<String>,
}

/// The pipeline did not finish analysing what was queued before the shutdown deadline.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the pipeline did not finish within {deadline:?}: {queued} queued events ({queued_bytes} bytes) were not analysed{}; messages lost to a full queue: {dropped}",
    busy.as_ref().map(|b| format!("; {b}")).unwrap_or_default()
)]
pub struct Stalled {
    /// The deadline.
    pub deadline: Duration,
    /// Message events still queued.
    pub queued: usize,
    /// Their bytes.
    pub queued_bytes: usize,
    /// What the pipeline thread was doing: which plugin it was calling, or writing output.
    pub busy: Option<String>,
    /// Messages dropped before (overflow = "drop").
    pub dropped: u64,
}

/// Each stage's label: its plugin's name, followed by `#INDEX` (the entry's place in the
/// pipeline) when the same plugin is used more than once, so that labels stay distinct.
fn labels(names: &[(usize, String)]) -> Vec<String> {
    names
        .iter()
        .map(|(index, name)| {
            if names.iter().filter(|(_, other)| other == name).count() > 1 {
                format!("{name}#{index}")
            } else {
                name.clone()
            }
        })
        .collect()
}

impl Pipeline {
    /// Builds every `[[pipeline]]` entry: resolves the plugin, creates it with its settings.
    /// Returns every error found, each located in the config.
    pub fn build(
        config: &Config,
        registry: &Registry,
        host: Arc<ProxyHost>,
    ) -> Result<Pipeline, Vec<ConfigError>> {
        let mut errors = Vec::new();
        let mut resolved = Vec::new();
        for index in 0..config.pipeline.len() {
            match resolve_stage(config, index, registry) {
                Ok(stage) => resolved.push(stage),
                Err(e) => errors.push(e),
            }
        }
        // Labels from the names the entries resolved to: an entry naming only its library
        // is labelled by the plugin it holds.
        let names: Vec<_> =
            resolved.iter().map(|r| (r.index, r.found.vtable.name.clone())).collect();
        let mut stages = Vec::new();
        for (stage, label) in resolved.into_iter().zip(labels(&names)) {
            match create_stage(config, stage, label, &host) {
                Ok(stage) => stages.push(stage),
                Err(e) => errors.push(e),
            }
        }
        if errors.is_empty() {
            Ok(Pipeline {
                stages,
                host,
                busy: Arc::new(AtomicUsize::new(IDLE)),
                nodes: Vec::new(),
                scratch: Tape::default(),
                classes: None,
            })
        } else {
            Err(errors)
        }
    }

    /// The stages' labels, in order.
    pub fn labels(&self) -> Vec<String> {
        self.stages.iter().map(|s| s.label.clone()).collect()
    }

    /// Counts into `metrics` from now on: messages by class (on the pipeline thread, before the
    /// plugins see them), each stage's errors and panics.
    pub fn observe(&mut self, metrics: &Metrics) {
        let observed = metrics.pipeline(&self.labels());
        for (stage, faults) in self.stages.iter_mut().zip(observed.stages) {
            stage.faults = Some(faults);
        }
        self.classes = Some(observed.classes);
    }

    /// Starts the pipeline thread behind a queue bounded by `limits`.
    pub fn spawn(self, limits: QueueLimits) -> std::io::Result<(PipelineHandle, Running)> {
        let (tx, rx) = mpsc::unbounded_channel();
        let dropped = Arc::new(AtomicU64::new(0));
        let budget = Budget::new(limits);
        let busy = self.busy.clone();
        let labels = self.labels();
        let indexer = Indexer::spawn(rx, !self.stages.is_empty() || self.classes.is_some())?;
        let thread =
            std::thread::Builder::new().name("pipeline".into()).spawn(move || self.run(indexer))?;
        let handle = PipelineHandle { tx, budget: budget.clone(), dropped: dropped.clone() };
        Ok((handle, Running { thread, dropped, budget, busy, labels }))
    }

    fn run(mut self, indexer: Indexer) -> Report {
        let mut messages = 0u64;
        let mut next_tick = Instant::now() + TICK;
        loop {
            let indexed = match indexer.events.try_recv() {
                Ok(indexed) => Some(indexed),
                Err(TryRecvError::Disconnected) => break,
                Err(TryRecvError::Empty) => {
                    self.busy.store(FLUSHING, Ordering::Relaxed);
                    self.host.flush();
                    self.busy.store(IDLE, Ordering::Relaxed);
                    let wait = next_tick.saturating_duration_since(Instant::now());
                    match indexer.events.recv_timeout(wait) {
                        Ok(indexed) => Some(indexed),
                        Err(RecvTimeoutError::Disconnected) => break,
                        Err(RecvTimeoutError::Timeout) => None,
                    }
                }
            };
            // The room the event held is given back only once it is delivered (`queued` drops).
            if let Some(Indexed { queued, tape }) = indexed {
                messages += queued.event.message_count() as u64;
                match tape {
                    Some(lent) => {
                        self.deliver_with(queued.event, lent.tape());
                        indexer.give_back(lent);
                    }
                    None => self.deliver_with(queued.event, &Tape::default()),
                }
            }
            if Instant::now() >= next_tick {
                self.broadcast(&calls::tick_event(now_micros()));
                next_tick = Instant::now() + TICK;
            }
        }
        indexer.join();
        let mut report = self.finish();
        report.messages = messages;
        report
    }

    /// Delivers one event down the chain, indexing its lines on this thread.
    pub fn deliver(&mut self, event: Event) {
        let mut tape = std::mem::take(&mut self.scratch);
        if let Event::Messages { frames, .. } = &event {
            tape.fill(frames);
        }
        self.deliver_with(event, &tape);
        self.scratch = tape.recycled();
    }

    /// Delivers one event whose lines `tape` indexes.
    fn deliver_with(&mut self, event: Event, tape: &Tape) {
        match event {
            Event::Messages { session, direction, ts, frames } => {
                for (at, frame) in frames.iter().enumerate() {
                    self.deliver_message(session, direction, ts, frame, tape.of(at));
                }
            }
            Event::SessionStart { session, ts, client, server, tls } => {
                let start = SessionStart {
                    session_id: session,
                    timestamp_micros: ts,
                    client_addr: &client,
                    server_addr: &server,
                    tls,
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

    /// Calls every stage with one line, indexed once (`tape`, lent to every plugin); a
    /// replacement is indexed again for the plugins after the one that replaced it.
    fn deliver_message(
        &mut self,
        session: u64,
        direction: Direction,
        ts: i64,
        frame: &Frame,
        tape: &[ctiproxy_plugin_api::index::Node],
    ) {
        if let Some(classes) = &mut self.classes {
            classes.count(direction, &frame.line, tape);
        }
        let Pipeline { stages, nodes, busy, .. } = self;
        let mut replaced: Option<Vec<u8>> = None;
        // A replacement is a whole line: it is no longer an oversize preview.
        let whole = frame.flags & !ctiproxy_plugin_api::abi::MSG_OVERSIZE;
        for (index, stage) in stages.iter_mut().enumerate() {
            let event = match &replaced {
                Some(line) => calls::message_event(
                    session,
                    direction,
                    ts,
                    line,
                    line.len() as u64,
                    whole,
                    nodes,
                ),
                None => calls::message_event(
                    session,
                    direction,
                    ts,
                    &frame.line,
                    frame.len,
                    frame.flags,
                    tape,
                ),
            };
            match stage.call(&event, index, busy) {
                Outcome::Drop => break,
                Outcome::Replace(bytes) => {
                    calls::index_line(&bytes, whole, nodes);
                    replaced = Some(bytes);
                }
                _ => {}
            }
        }
        // A huge replacement's tape is not kept for every line after it.
        if nodes.capacity() > indexer::KEPT_NODES {
            *nodes = Vec::new();
        }
    }

    fn broadcast(&mut self, event: &ctiproxy_plugin_api::abi::Event<'_>) {
        for (index, stage) in self.stages.iter_mut().enumerate() {
            stage.call(event, index, &self.busy);
        }
    }

    /// Delivers shutdown to every stage, flushes output, destroys the instances.
    pub fn finish(mut self) -> Report {
        self.broadcast(&calls::shutdown_event(now_micros()));
        self.busy.store(FLUSHING, Ordering::Relaxed);
        self.host.flush();
        self.busy.store(IDLE, Ordering::Relaxed);
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
    /// Calls the instance, marking it busy meanwhile (for the report of a stuck shutdown).
    fn call(
        &mut self,
        event: &ctiproxy_plugin_api::abi::Event<'_>,
        index: usize,
        busy: &Busy,
    ) -> Outcome {
        busy.store(index, Ordering::Relaxed);
        let outcome = self.instance.call(event);
        busy.store(IDLE, Ordering::Relaxed);
        match &outcome {
            Outcome::Panicked(text) => {
                tracing::error!(
                    plugin = %self.label,
                    "Plugin panicked: {text}. It is disabled for the rest of the run; the proxy keeps forwarding and the other plugins keep running."
                );
                if let Some(faults) = &self.faults {
                    faults.panics.inc();
                }
            }
            Outcome::Poisoned => self.skipped += 1,
            Outcome::Error(text) => {
                self.errors += 1;
                if let Some(faults) = &self.faults {
                    faults.errors.inc();
                }
                if self.errors == 1 {
                    tracing::error!(plugin = %self.label, "Plugin error: {text} (further errors are counted, not logged).");
                }
            }
            _ => {}
        }
        outcome
    }
}

/// A pipeline entry whose plugin is found, with its own settings, not created yet.
struct Resolved {
    index: usize,
    found: Found,
    settings: String,
}

/// Finds an entry's plugin (`plugin`, `library` or both) and separates its own settings.
fn resolve_stage(
    config: &Config,
    index: usize,
    registry: &Registry,
) -> Result<Resolved, ConfigError> {
    let mut table = config.pipeline[index].get_ref().clone();
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
    let plugin = match (table.remove("plugin"), &file) {
        (Some(toml::Value::String(name)), _) => Some(name),
        (Some(_), _) => {
            return Err(config.pipeline_error(
                index,
                "plugin",
                "must be a string, the plugin's name".into(),
            ))
        }
        // A library alone names its plugin when it has only one.
        (None, Some(_)) => None,
        (None, None) => {
            return Err(config.pipeline_error(
                index,
                "",
                "missing key `plugin` (the plugin's name) or `library` (a plugin library)".into(),
            ))
        }
    };
    let found = registry.resolve(plugin.as_deref(), file.as_deref()).map_err(|m| {
        config.pipeline_error(index, if file.is_some() { "library" } else { "plugin" }, m)
    })?;
    let settings = serde_json::to_string(&table).unwrap_or_else(|_| "{}".into());
    Ok(Resolved { index, found, settings })
}

/// Creates a resolved entry's instance with its settings: the plugin checks them here.
fn create_stage(
    config: &Config,
    stage: Resolved,
    label: String,
    host: &Arc<ProxyHost>,
) -> Result<Stage, ConfigError> {
    let Resolved { index, found, settings } = stage;
    let services: Arc<dyn HostServices> = host.clone();
    let instance =
        Instance::create(&found.vtable, services, &label, &settings).map_err(|e| match e {
            CreateError::Config(c) => config.pipeline_error(index, &c.path, c.message),
            other => config.pipeline_error(index, "", format!("{}: {other}", found.file.display())),
        })?;
    Ok(Stage { label, instance, errors: 0, skipped: 0, faults: None })
}

impl PipelineHandle {
    /// Sends a session start or end: takes no room in the queue, never waits, never dropped.
    pub fn send_control(&self, event: Event) {
        // An error means the pipeline thread is gone; the proxy keeps forwarding regardless.
        let _ = self.tx.send(Queued { event, _permit: None });
    }

    /// Queues messages if that needs no waiting: `Ok(true)` queued, `Ok(false)` dropped (drop
    /// mode, queue full, counted), `Err(event)` when block mode must wait for room.
    pub fn try_send_messages(&self, event: Event) -> Result<bool, Event> {
        match self.budget.try_take(event.weight()) {
            Some(permit) => {
                let _ = self.tx.send(Queued { event, _permit: Some(permit) });
                Ok(true)
            }
            None if self.budget.limits().overflow == Overflow::Block => Err(event),
            None => {
                self.count_dropped(event.message_count() as u64);
                Ok(false)
            }
        }
    }

    /// Sends messages, waiting for room in block mode; returns false when they were dropped
    /// because the queue was full (each one is counted).
    pub async fn send_messages(&self, event: Event) -> bool {
        match self.try_send_messages(event) {
            Ok(queued) => queued,
            Err(event) => {
                let permit = self.budget.take(event.weight()).await;
                let _ = self.tx.send(Queued { event, _permit: Some(permit) });
                true
            }
        }
    }

    /// What the metrics read of the queue: its depth, limits and drops.
    pub fn probe(&self) -> QueueProbe {
        QueueProbe::new(self.budget.clone(), self.dropped.clone())
    }

    /// Counts messages that will never be queued (dropped, or abandoned at shutdown).
    pub fn count_dropped(&self, messages: u64) {
        self.dropped.fetch_add(messages, Ordering::Relaxed);
    }
}

impl Running {
    /// Waits for the pipeline to drain (every handle must be dropped) and returns its report.
    pub fn join(self) -> Report {
        let dropped = self.dropped.clone();
        let mut report = self.thread.join().unwrap_or_else(|_| {
            tracing::error!("The pipeline thread panicked.");
            Report::default()
        });
        report.dropped = dropped.load(Ordering::Relaxed);
        report
    }

    /// Waits for the pipeline to drain, for as long as it takes, unless `stopped()` becomes true
    /// (a signal): from then on it waits at most `deadline`, as [`Running::join_within`].
    pub fn join_unless(
        self,
        stopped: impl Fn() -> bool,
        deadline: Duration,
    ) -> Result<Report, Stalled> {
        while !self.thread.is_finished() {
            if stopped() {
                return self.join_within(deadline);
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        Ok(self.join())
    }

    /// Like [`Running::join`], but gives up after `deadline`: a plugin stuck (its output not
    /// read) must not hang the exit. What was not analysed is then reported as [`Stalled`]; the
    /// thread is left behind, for the process to end.
    pub fn join_within(self, deadline: Duration) -> Result<Report, Stalled> {
        let until = Instant::now().checked_add(deadline);
        while !self.thread.is_finished() && until.is_none_or(|until| Instant::now() < until) {
            std::thread::sleep(Duration::from_millis(5));
        }
        if self.thread.is_finished() {
            return Ok(self.join());
        }
        let busy = match self.busy.load(Ordering::Relaxed) {
            FLUSHING => {
                Some("the plugins' output could not be written (is stdout being read?)".into())
            }
            index => self.labels.get(index).map(|l| format!("plugin {l} was still busy")),
        };
        Err(Stalled {
            deadline,
            queued: self.budget.queued_events(),
            queued_bytes: self.budget.queued_bytes(),
            busy,
            dropped: self.dropped.load(Ordering::Relaxed),
        })
    }
}
