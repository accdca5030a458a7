//! The registry: every family registered once under its name from [`super::names`], and the
//! handles each part of the proxy counts through.
//!
//! Built in two steps because its sources appear in turn while a run starts: the families and
//! the plugins' counters before the pipeline thread starts, the queue once it has; then it is
//! frozen into an [`Exposition`] that the HTTP server renders.

use std::sync::Arc;

use prometheus_client::encoding::prometheus_text;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::{Metric, Registry};

use super::labels::{ClassLabels, PluginLabels};
use super::names::{self, Name};
use super::pipeline::PipelineMetrics;
use super::plugin_counters::PluginCounters;
use super::queue::QueueProbe;
use super::sessions::{SessionFamilies, SessionMetrics};
use super::tls::TlsMetrics;
use crate::host::ProxyHost;

/// The metrics of one run, being assembled.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    sessions: Arc<SessionMetrics>,
    classes: Family<ClassLabels, Counter>,
    plugin_errors: Family<PluginLabels, Counter>,
    plugin_panics: Family<PluginLabels, Counter>,
}

fn register<M: Metric + Clone>(registry: &mut Registry, name: Name, metric: &M) {
    registry.register(name.name, name.help, metric.clone());
}

fn family<S, M>(registry: &mut Registry, name: Name) -> Family<S, M>
where
    Family<S, M>: Metric + Clone + Default,
{
    let family = Family::default();
    register(registry, name, &family);
    family
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Every family, registered, with its fixed series at 0.
    pub fn new() -> Metrics {
        let mut registry = Registry::default();
        let sessions = SessionFamilies::default();
        register(&mut registry, names::SESSIONS_OPEN, &sessions.open);
        register(&mut registry, names::SESSIONS, &sessions.total);
        register(&mut registry, names::SESSIONS_ENDED, &sessions.ended);
        register(&mut registry, names::FORWARDED_BYTES, &sessions.bytes);
        register(&mut registry, names::MESSAGES, &sessions.messages);
        register(&mut registry, names::OVERSIZE_LINES, &sessions.oversize);
        let classes = family(&mut registry, names::CLASS_MESSAGES);
        let plugin_errors = family(&mut registry, names::PLUGIN_ERRORS);
        let plugin_panics = family(&mut registry, names::PLUGIN_PANICS);
        let tls = TlsMetrics::new(family(&mut registry, names::TLS_HANDSHAKES));
        let sessions = Arc::new(SessionMetrics::new(&sessions, tls));
        Metrics { registry, sessions, classes, plugin_errors, plugin_panics }
    }

    /// What sessions count (the TLS counters among them).
    pub fn sessions(&self) -> Arc<SessionMetrics> {
        self.sessions.clone()
    }

    /// What the pipeline thread counts, for the stages labelled `labels`.
    pub fn pipeline(&self, labels: &[String]) -> PipelineMetrics {
        PipelineMetrics::new(self.classes.clone(), &self.plugin_errors, &self.plugin_panics, labels)
    }

    /// Exposes the counters the plugins publish through `host`.
    pub fn watch_plugin_counters(&mut self, host: Arc<ProxyHost>) {
        self.registry.register_collector(Box::new(PluginCounters::new(host)));
    }

    /// Exposes the pipeline queue's depth, limits and drops.
    pub fn watch_queue(&mut self, probe: QueueProbe) {
        self.registry.register_collector(Box::new(probe));
    }

    /// The finished registry, ready to be served.
    pub fn into_exposition(self) -> Exposition {
        Exposition { registry: Arc::new(self.registry) }
    }
}

/// A finished registry, rendered at each scrape.
#[derive(Debug, Clone)]
pub struct Exposition {
    registry: Arc<Registry>,
}

impl Exposition {
    /// The `Content-Type` of [`Exposition::render`]'s text.
    pub const CONTENT_TYPE: &'static str = prometheus_text::CONTENT_TYPE;

    /// Every metric, in the Prometheus text format (0.0.4).
    pub fn render(&self) -> String {
        let mut text = String::with_capacity(8 * 1024);
        // Writing to a String cannot fail; an encoder error would be a bug in a collector.
        if let Err(e) = prometheus_text::encode(&mut text, &self.registry) {
            tracing::error!("Cannot encode the metrics: {e}.");
        }
        text
    }
}
