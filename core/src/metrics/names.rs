//! Every metric's name and help text, in one place: the README's table and the dashboards built
//! on it depend on these exact names, so they are never spelt out anywhere else.
//!
//! Counters are named without `_total`: the encoder appends it, as Prometheus conventions want.

/// One metric: its name (without `_total`) and its help text.
#[derive(Debug, Clone, Copy)]
pub struct Name {
    /// The name.
    pub name: &'static str,
    /// The `# HELP` text.
    pub help: &'static str,
}

const fn name(name: &'static str, help: &'static str) -> Name {
    Name { name, help }
}

/// Sessions being served (dialing the server or forwarding).
pub const SESSIONS_OPEN: Name = name("ctiproxy_sessions_open", "Sessions being served now");
/// Client connections accepted.
pub const SESSIONS: Name =
    name("ctiproxy_sessions", "Client connections accepted (refused ones included)");
/// Sessions ended, by reason.
pub const SESSIONS_ENDED: Name = name("ctiproxy_sessions_ended", "Sessions ended, by reason");
/// Bytes forwarded, by direction.
pub const FORWARDED_BYTES: Name =
    name("ctiproxy_forwarded_bytes", "Bytes forwarded unchanged, by direction");
/// Lines framed, by direction.
pub const MESSAGES: Name =
    name("ctiproxy_messages", "Messages (lines, or reads in raw mode) framed, by direction");
/// Lines longer than `max_line_bytes`, by direction.
pub const OVERSIZE_LINES: Name = name(
    "ctiproxy_oversize_lines",
    "Lines longer than max_line_bytes (forwarded, not analysed whole), by direction",
);
/// Messages the pipeline analysed, by class and direction.
pub const CLASS_MESSAGES: Name = name(
    "ctiproxy_class_messages",
    "Messages the pipeline analysed, by CTI class (\"other\" beyond 64 classes, \"none\" without one) and direction",
);
/// Message events waiting for the pipeline.
pub const QUEUE_EVENTS: Name =
    name("ctiproxy_queue_events", "Message events waiting in the pipeline queue");
/// Bytes those events pin.
pub const QUEUE_BYTES: Name =
    name("ctiproxy_queue_bytes", "Bytes the events waiting in the pipeline queue pin");
/// The queue's limit in events.
pub const QUEUE_LIMIT_EVENTS: Name =
    name("ctiproxy_queue_limit_events", "The pipeline queue's limit in events ([proxy] queue)");
/// The queue's limit in bytes.
pub const QUEUE_LIMIT_BYTES: Name =
    name("ctiproxy_queue_limit_bytes", "The pipeline queue's limit in bytes ([proxy] queue_bytes)");
/// Messages forwarded but never analysed.
pub const DROPPED_MESSAGES: Name = name(
    "ctiproxy_dropped_messages",
    "Messages forwarded but not analysed: the pipeline queue was full (overflow = \"drop\") or the proxy stopped",
);
/// Errors plugins returned.
pub const PLUGIN_ERRORS: Name =
    name("ctiproxy_plugin_errors", "Errors a plugin returned, by pipeline stage");
/// Plugin panics (a plugin is disabled after its first).
pub const PLUGIN_PANICS: Name =
    name("ctiproxy_plugin_panics", "Plugin panics (the plugin is disabled after one), by stage");
/// TLS handshakes.
pub const TLS_HANDSHAKES: Name = name(
    "ctiproxy_tls_handshakes",
    "TLS handshakes the proxy made, by side (client, server) and outcome",
);
/// Counters plugins publish through the host.
pub const PLUGIN_COUNTER: Name =
    name("ctiproxy_plugin_counter", "Counters plugins publish through the host, by stage and name");
/// The MI plugin's rule counters.
pub const MI_COMMANDS: Name = name(
    "ctiproxy_mi_commands",
    "MI rules: events matched, commands fired, succeeded, failed, suppressed, refused, abandoned",
);
