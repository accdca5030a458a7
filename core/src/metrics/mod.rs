//! Live Prometheus metrics: what the proxy, the pipeline and the plugins are doing, served as
//! text exposition at `/metrics` when the configuration has a `[metrics]` section.
//!
//! Nothing here sits on the forwarding path beyond a few relaxed atomic additions per read:
//! sessions bump counters they were handed at start ([`sessions`]), the pipeline thread counts
//! classes (from the JSON tape it builds for the plugins) and plugin faults where it already
//! holds the message ([`pipeline`]), and what other
//! parts already keep (the queue's budget, the plugins' host counters) is read only when
//! Prometheus scrapes ([`queue`], [`plugin_counters`]). Without `[metrics]` none of it exists.

pub mod classes;
pub mod end_reason;
pub mod labels;
pub mod names;
pub mod pipeline;
pub mod plugin_counters;
pub mod queue;
pub mod registry;
pub mod scraped;
pub mod server;
pub mod sessions;
pub mod tls;

pub use end_reason::EndReason;
pub use registry::{Exposition, Metrics};
pub use sessions::SessionMetrics;
pub use tls::{TlsMetrics, TlsOutcome};
