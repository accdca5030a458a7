//! The counters plugins publish through the host (`Host::counter_add`, reported at exit), read
//! from the host's table at each scrape, so a plugin's increment costs nothing more than before.
//!
//! The MI plugin's counters are named `RULE.OUTCOME` (`mwi-lamp.fired`); they are exposed as
//! `ctiproxy_mi_commands_total{plugin, rule, outcome}` so that queries can sum over rules or
//! outcomes. Every other counter is `ctiproxy_plugin_counter_total{plugin, name}`. Label sets
//! stay bounded as long as plugins name their counters from a bounded set (the MI plugin's rules
//! come from the configuration; its failure reasons are not part of the names).

use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::DescriptorEncoder;

use super::names;
use super::scraped::counters;
use crate::host::ProxyHost;

/// The MI plugin's outcomes (its `Tally` counts one of these per rule and event).
pub const MI_OUTCOMES: [&str; 7] =
    ["matched", "fired", "succeeded", "failed", "suppressed", "refused", "abandoned"];

/// Reads the host's counter table at each scrape.
pub struct PluginCounters {
    host: Arc<ProxyHost>,
}

impl std::fmt::Debug for PluginCounters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginCounters").finish_non_exhaustive()
    }
}

impl PluginCounters {
    /// Exposes `host`'s counters.
    pub fn new(host: Arc<ProxyHost>) -> PluginCounters {
        PluginCounters { host }
    }
}

/// `(rule, outcome)` when the counter `name` of the stage `plugin` is an MI rule's.
pub fn mi_command<'n>(plugin: &str, name: &'n str) -> Option<(&'n str, &'n str)> {
    let is_mi = plugin.split('#').next() == Some("mi");
    let (rule, outcome) = name.rsplit_once('.')?;
    (is_mi && MI_OUTCOMES.contains(&outcome)).then_some((rule, outcome))
}

type Series<'a, const N: usize> = Vec<([(&'static str, &'a str); N], u64)>;

impl Collector for PluginCounters {
    fn encode(&self, mut encoder: DescriptorEncoder) -> std::fmt::Result {
        let table = self.host.counters();
        let mut mi: Series<'_, 3> = Vec::new();
        let mut other: Series<'_, 2> = Vec::new();
        for ((plugin, name), value) in &table {
            match mi_command(plugin, name) {
                Some((rule, outcome)) => {
                    mi.push(([("plugin", plugin), ("rule", rule), ("outcome", outcome)], *value));
                }
                None => other.push(([("plugin", plugin), ("name", name)], *value)),
            }
        }
        counters(&mut encoder, names::MI_COMMANDS, &mi)?;
        counters(&mut encoder, names::PLUGIN_COUNTER, &other)
    }
}

#[cfg(test)]
mod tests {
    use super::mi_command;

    #[test]
    fn only_an_mi_stage_s_rule_outcomes_are_mi_commands() {
        assert_eq!(mi_command("mi", "mwi-lamp.fired"), Some(("mwi-lamp", "fired")));
        assert_eq!(mi_command("mi#3", "a.b.refused"), Some(("a.b", "refused")));
        assert_eq!(mi_command("mi", "fired"), None);
        assert_eq!(mi_command("mi", "lamp.exploded"), None);
        assert_eq!(mi_command("save", "lamp.fired"), None);
        assert_eq!(mi_command("mirror", "lamp.fired"), None);
    }
}
