//! Assembles and runs a whole proxy from a [`Config`]: find plugins, validate the pipeline,
//! bind, build the pipeline, serve until done or interrupted (with the `/metrics` endpoint
//! meanwhile, when configured), drain the pipeline, report.
//!
//! Every front end (`ctiproxy run`, `check`, `replay`, `demo`, and the classic `ctispy`,
//! `ctisave`, `ctistat`) goes through here, so they all validate and behave the same way.
//!
//! Plugins create their side effects (a save plugin truncating its capture) when they are built,
//! so the real pipeline is built last: after a check-only build of the whole configuration (every
//! plugin validates its settings and creates nothing) and after the listener is bound. A
//! configuration error anywhere, a bad server or a busy address leaves every file as it was.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;

use crate::budget::QueueLimits;
use crate::config::{self, Config, ConfigError};
use crate::host::ProxyHost;
use crate::loader::{self, Registry};
use crate::metrics::{self, Metrics};
use crate::pipeline::{Pipeline, Report};
use crate::proxy::{self, Summary};
use crate::session::SessionContext;
use crate::stop_signal::StopSignal;
use crate::tls::TlsSetup;

/// Why a proxy could not run.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The configuration is invalid (every problem found).
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    Config(Vec<ConfigError>),
    /// `[proxy] server` is missing.
    #[error("no CTI server given: set [proxy] server = \"host[:port]\" in the config")]
    NoServer,
    /// The listen address cannot be bound.
    #[error("cannot listen on {addr}: {reason}")]
    Bind {
        /// The address.
        addr: String,
        /// Why (not `source`: the message already says it, and a source chain would repeat it).
        reason: std::io::Error,
    },
    /// The metrics address cannot be bound.
    #[error(transparent)]
    Metrics(#[from] metrics::server::BindError),
    /// The pipeline was still analysing at the shutdown deadline (what it missed is said).
    #[error(transparent)]
    Stalled(#[from] crate::pipeline::Stalled),
    /// Another I/O failure (runtime, threads).
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// Finds the plugins the configuration can use.
pub fn registry(config: &Config) -> Registry {
    Registry::scan(loader::search_path(&config.plugins.path))
}

/// Builds the pipeline with a check-only host: every plugin validates its real settings but
/// creates nothing (what `check` does, and what every command does before building for real).
pub fn check(config: &Config, registry: &Registry) -> Result<Pipeline, AppError> {
    let host = ProxyHost::with_sink(Box::new(std::io::sink()), false).check_only();
    Pipeline::build(config, registry, Arc::new(host)).map_err(AppError::Config)
}

/// Builds the pipeline for real, once [`check`] found nothing wrong with any entry: a later
/// entry's error must not come after an earlier one truncated its file.
pub fn build(
    config: &Config,
    registry: &Registry,
    host: Arc<ProxyHost>,
) -> Result<Pipeline, AppError> {
    drop(check(config, registry)?);
    Pipeline::build(config, registry, host).map_err(AppError::Config)
}

/// Reads and checks the TLS files of `[proxy]` (what `check` does too); `None` when `tls` is
/// `off`. `server` is the normalised server address, when known.
pub fn tls(config: &Config, server: Option<&str>) -> Result<Option<TlsSetup>, AppError> {
    TlsSetup::load(&config.proxy, server)
        .map_err(|e| AppError::Config(vec![config.error_at_proxy_key(e.key(), e.to_string())]))
}

/// What a finished run did.
#[derive(Debug)]
pub struct RunOutcome {
    /// The listener's summary.
    pub summary: Summary,
    /// The pipeline's report.
    pub report: Report,
}

/// Binds the configured address (validated already, so a parse failure is an error here too).
pub async fn bind(config: &Config) -> Result<TcpListener, AppError> {
    let addr: SocketAddr = config.proxy.listen.parse().map_err(|_| {
        AppError::Config(vec![ConfigError {
            location: None,
            key: "proxy.listen".into(),
            message: format!("{:?} is not an ip:port address", config.proxy.listen),
        }])
    })?;
    TcpListener::bind(addr)
        .await
        .map_err(|reason| AppError::Bind { addr: config.proxy.listen.clone(), reason })
}

/// Runs the proxy: check, bind, build the pipeline with `host`, serve, drain, report.
/// `on_ready` gets the bound address once the pipeline is built.
pub fn run(
    config: &Config,
    registry: &Registry,
    host: Arc<ProxyHost>,
    on_ready: impl FnOnce(SocketAddr),
) -> Result<RunOutcome, AppError> {
    let server = config::server_address(config.proxy.server.as_deref().ok_or(AppError::NoServer)?)
        .map_err(|m| {
            AppError::Config(vec![ConfigError {
                location: None,
                key: "proxy.server".into(),
                message: m,
            }])
        })?;
    let tls = tls(config, Some(&server))?;
    drop(check(config, registry)?);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    // Bound before the pipeline is built: a second proxy on a busy address must fail before it
    // touches the files the first one is writing.
    let listener = runtime.block_on(bind(config))?;
    // The metrics address too, for the same reason.
    let endpoint = match &config.metrics {
        Some(m) => Some(runtime.block_on(metrics::server::bind(m.listen.get_ref()))?),
        None => None,
    };
    if let Some(endpoint) = &endpoint {
        tracing::info!("Metrics on http://{}{}.", endpoint.local_addr()?, metrics::server::PATH);
    }
    let mut pipeline = Pipeline::build(config, registry, host.clone()).map_err(AppError::Config)?;
    let stop = StopSignal::install(&runtime);
    on_ready(listener.local_addr()?);
    let mut observed = endpoint.map(|endpoint| (Metrics::new(), endpoint));
    if let Some((metrics, _)) = &mut observed {
        pipeline.observe(metrics);
        metrics.watch_plugin_counters(host);
    }
    let (handle, running) = pipeline.spawn(QueueLimits::of(&config.proxy))?;
    let probe = handle.probe();
    let mut ctx = SessionContext::new(&config.proxy, server, handle);
    if let Some(tls) = &tls {
        tls.log();
    }
    ctx.tls = tls.map(Arc::new);
    if let Some((mut metrics, endpoint)) = observed {
        metrics.watch_queue(probe);
        ctx.metrics = Some(metrics.sessions());
        runtime.spawn(metrics::server::serve(endpoint, metrics.into_exposition()));
    }
    let summary =
        runtime.block_on(proxy::run(listener, ctx, config.proxy.keep_serving, stop.wait()));
    // A run that ended with its session analyses everything it forwarded, however long that
    // takes, until a signal; a stopped one waits only `shutdown_timeout_secs`.
    let deadline = config::seconds_setting(config.proxy.shutdown_timeout_secs)
        .unwrap_or(std::time::Duration::MAX);
    let report = if summary.stopped {
        running.join_within(deadline)
    } else {
        running.join_unless(|| stop.received(), deadline)
    };
    let report = report.map_err(AppError::Stalled)?;
    log_report(&report);
    Ok(RunOutcome { summary, report })
}

/// Runs a configuration as a command does: logs the bound address, and fails when, without
/// `loop`, the one client could not be connected to the server (that client was the whole run;
/// with `loop` the failure is logged and the next client served).
pub fn serve(config: &Config, host: Arc<ProxyHost>) -> Result<std::process::ExitCode, AppError> {
    let outcome =
        run(config, &registry(config), host, |addr| tracing::info!("Listening on {addr}."))?;
    Ok(if outcome.summary.any_failed() && !config.proxy.keep_serving {
        std::process::ExitCode::FAILURE
    } else {
        std::process::ExitCode::SUCCESS
    })
}

/// Whether a plugin counter counts lost data, by its name's last word: `errors`, `dropped` or
/// `lost` (`write_errors`, `rule.dropped`). Those are warnings, shown without `-v`: a file that
/// missed messages must not look like a clean run. Plugins name counters with this in mind.
pub fn counts_lost_data(name: &str) -> bool {
    let last_word = name.rsplit(['_', '.', '-']).next().unwrap_or(name);
    matches!(last_word, "errors" | "dropped" | "lost")
}

/// Says at exit what analysis missed: queue drops, disabled plugins, and counters of lost data
/// (see [`counts_lost_data`]); other counters at info level. Never silent about a loss.
pub fn log_report(report: &Report) {
    if report.dropped > 0 {
        tracing::warn!(
            "{} messages were forwarded but not analysed: the pipeline queue was full (overflow = \"drop\"), or the proxy stopped while they waited for room.",
            report.dropped
        );
    }
    for ((plugin, name), value) in &report.counters {
        if *value > 0 && counts_lost_data(name) {
            tracing::warn!(plugin = %plugin, "Plugin counter {name} = {value}: data was lost.");
        } else {
            tracing::info!(plugin = %plugin, "Plugin counter {name} = {value}.");
        }
    }
    for stage in &report.stages {
        if stage.panicked {
            tracing::warn!(plugin = %stage.label, "Plugin was disabled after a panic and missed {} events.", stage.skipped);
        }
        if stage.errors > 0 {
            tracing::warn!(plugin = %stage.label, "Plugin reported {} errors.", stage.errors);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::counts_lost_data;

    #[test]
    fn counters_named_for_a_loss_are_warnings() {
        for name in ["write_errors", "errors", "rule.dropped", "lines-lost", "x.write_errors"] {
            assert!(counts_lost_data(name), "{name}");
        }
        for name in ["mwi-lamp.fired", "rule.succeeded", "errors_seen", "droppedness", "lost_and"] {
            assert!(!counts_lost_data(name), "{name}");
        }
    }
}
