//! Encoding figures that are read when Prometheus scrapes rather than kept as metrics: what
//! other parts of the proxy already count (the queue's budget, the plugins' host counters) is
//! not counted twice, and costs nothing between scrapes.

use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::{MetricType, TypedMetric};

use super::names::Name;

/// The help text as the registry writes it for the metrics it holds (with a final period), so
/// that every `# HELP` line reads alike.
fn help(name: Name) -> String {
    format!("{}.", name.help)
}

/// One gauge without labels.
pub fn gauge(encoder: &mut DescriptorEncoder, name: Name, value: i64) -> std::fmt::Result {
    let gauge = ConstGauge::new(value);
    gauge.encode(encoder.encode_descriptor(
        name.name,
        &help(name),
        None,
        ConstGauge::<i64>::TYPE,
    )?)
}

/// One counter without labels.
pub fn counter(encoder: &mut DescriptorEncoder, name: Name, value: u64) -> std::fmt::Result {
    let counter = ConstCounter::new(value);
    counter.encode(encoder.encode_descriptor(name.name, &help(name), None, MetricType::Counter)?)
}

/// A counter family: one series per label set.
pub fn counters<S: EncodeLabelSet>(
    encoder: &mut DescriptorEncoder,
    name: Name,
    series: &[(S, u64)],
) -> std::fmt::Result {
    let mut family =
        encoder.encode_descriptor(name.name, &help(name), None, MetricType::Counter)?;
    for (labels, value) in series {
        ConstCounter::new(*value).encode(family.encode_family(labels)?)?;
    }
    Ok(())
}
