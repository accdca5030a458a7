//! The strip plugin: removes fields so later plugins (spy, save) do not show them, e.g. the
//! `timenow` and `commandid` noise that makes two captures differ.

use ctiproxy_plugin_api::index::Writer;
use ctiproxy_plugin_api::{ConfigError, Host, Message, Plugin, Verdict};
use serde::Deserialize;

use crate::path::FieldPath;

/// `[[pipeline]] plugin = "strip"`, `fields = ["timenow", "status.new"]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StripConfig {
    /// Field names: top-level keys or dotted paths into nested objects.
    pub fields: Vec<String>,
}

/// Removes fields from JSON object messages.
///
/// A message that had at least one of the fields is replaced by its compact re-serialization,
/// the other keys in their original order. Anything else passes untouched, without being
/// re-serialized: messages without those fields, non-JSON lines, oversize lines and raw reads.
pub struct Strip {
    fields: Vec<FieldPath>,
    writer: Writer,
}

impl Plugin for Strip {
    const NAME: &'static str = "strip";
    const DESCRIPTION: &'static str = "Removes fields (top-level or dotted paths) from messages.";
    type Config = StripConfig;

    fn new(config: StripConfig, _host: Host) -> Result<Self, ConfigError> {
        if config.fields.is_empty() {
            return Err(ConfigError::at("fields", "expected at least one field"));
        }
        let fields = FieldPath::parse_all(&config.fields, "fields")?;
        Ok(Strip { fields, writer: Writer::new() })
    }

    fn on_message(&mut self, message: &Message<'_>) -> Verdict {
        let Some(root) = message.root() else {
            return Verdict::Pass;
        };
        // Most messages have none of the fields: nothing is written (or allocated) for them.
        let mut stripped = Vec::new();
        if self.writer.compact_without_any(root, &self.fields, &mut stripped) == 0 {
            return Verdict::Pass;
        }
        Verdict::Replace(stripped)
    }
}
