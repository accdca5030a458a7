//! The stats plugin's settings.

use serde::Deserialize;

/// `[[pipeline]] plugin = "stats"` and its keys; every key is optional.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Which figures to report.
    pub show: Show,
    /// How reports look.
    pub format: OutputFormat,
    /// Report each session when it ends (totals then follow at shutdown when there was more than
    /// one session); `false` reports only the totals, at shutdown.
    pub per_session: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config { show: Show::All, format: OutputFormat::Text, per_session: true }
    }
}

/// `show = "all" | "msg" | "network"`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Show {
    /// Messages, network, and what the original tool lacked: rates, latency, oversize, dropped.
    #[default]
    All,
    /// Messages per class and direction (`ctistat --msg`).
    Msg,
    /// Running time, bytes, estimated packets and wire bytes, rates (`ctistat --network`).
    Network,
}

impl Show {
    /// Report the message table.
    pub fn messages(self) -> bool {
        self != Show::Network
    }

    /// Report the network figures.
    pub fn network(self) -> bool {
        self != Show::Msg
    }

    /// Report rates, latency, oversize and dropped counts.
    pub fn extras(self) -> bool {
        self == Show::All
    }
}

/// `format = "text" | "json" | "classic"`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OutputFormat {
    /// Aligned columns for people.
    #[default]
    Text,
    /// One JSON object per report, on one line, for programs.
    Json,
    /// The Python `ctistat`'s layout, line for line, for the scripts that read it.
    Classic,
}
