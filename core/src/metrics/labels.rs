//! The label sets of the metric families, and label values that are words of a fixed
//! vocabulary (a direction is `client_to_server`, never `ClientToServer`).

use ctiproxy_plugin_api::Direction;
use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};

/// A direction as a label value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DirectionLabel(pub Direction);

impl DirectionLabel {
    /// Both directions, in the order [`index`] numbers them.
    pub const BOTH: [Direction; 2] = [Direction::ClientToServer, Direction::ServerToClient];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self.0 {
            Direction::ClientToServer => "client_to_server",
            Direction::ServerToClient => "server_to_client",
        }
    }
}

/// A direction as an index into per-direction arrays.
pub fn index(direction: Direction) -> usize {
    match direction {
        Direction::ClientToServer => 0,
        Direction::ServerToClient => 1,
    }
}

impl EncodeLabelValue for DirectionLabel {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> std::fmt::Result {
        std::fmt::Write::write_str(encoder, self.as_str())
    }
}

/// `{direction}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct DirectionLabels {
    /// `client_to_server` or `server_to_client`.
    pub direction: DirectionLabel,
}

/// `{reason}` of an ended session.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct ReasonLabels {
    /// One of [`crate::metrics::EndReason`]'s words.
    pub reason: &'static str,
}

/// `{class, direction}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct ClassLabels {
    /// The CTI class, `other` or `none`.
    pub class: String,
    /// The direction.
    pub direction: DirectionLabel,
}

/// `{plugin}`: a pipeline stage's label (`save`, or `save#6` when a plugin is used twice).
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct PluginLabels {
    /// The stage's label.
    pub plugin: String,
}

/// `{side, outcome}` of a TLS handshake.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct TlsLabels {
    /// `client` (the proxy as TLS server) or `server` (the proxy as TLS client).
    pub side: &'static str,
    /// `ok`, `failed` or `timeout`.
    pub outcome: &'static str,
}
