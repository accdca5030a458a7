//! Test fixture: correctly built plugins that misbehave at run time, to prove the host contains
//! them: `panic-create` panics while being created, `panic-message` panics on its first message,
//! `reject-config` refuses any `mode` but "ok", and `stall` sleeps on every message (to fill the
//! pipeline queue).
use std::time::Duration;

use ctiproxy_plugin_api::{export_plugin, ConfigError, Host, Message, Plugin, Verdict};
use serde::Deserialize;

/// Panics in `new`.
pub struct PanicCreate;

impl Plugin for PanicCreate {
    const NAME: &'static str = "panic-create";
    const DESCRIPTION: &'static str = "Test fixture: panics while being created.";
    type Config = ctiproxy_plugin_api::serde_json::Value;
    fn new(_: Self::Config, _: Host) -> Result<Self, ConfigError> {
        panic!("deliberate panic in create")
    }
}

/// Panics on its first message.
pub struct PanicMessage;

impl Plugin for PanicMessage {
    const NAME: &'static str = "panic-message";
    const DESCRIPTION: &'static str = "Test fixture: panics on its first message.";
    type Config = ctiproxy_plugin_api::serde_json::Value;
    fn new(_: Self::Config, _: Host) -> Result<Self, ConfigError> {
        Ok(PanicMessage)
    }
    fn on_message(&mut self, _: &Message<'_>) -> Verdict {
        panic!("deliberate panic in on_message")
    }
}

/// Settings of [`RejectConfig`].
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RejectSettings {
    mode: String,
}

/// Rejects its configuration unless `mode = "ok"`.
pub struct RejectConfig;

impl Plugin for RejectConfig {
    const NAME: &'static str = "reject-config";
    const DESCRIPTION: &'static str = "Test fixture: rejects mode values other than \"ok\".";
    type Config = RejectSettings;
    fn new(config: RejectSettings, _: Host) -> Result<Self, ConfigError> {
        match config.mode.as_str() {
            "ok" => Ok(RejectConfig),
            other => Err(ConfigError::at("mode", format!("{other:?} is not a mode; use \"ok\""))),
        }
    }
}

/// Settings of [`Stall`].
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StallSettings {
    millis: u64,
}

/// Sleeps on every message.
pub struct Stall(Duration);

impl Plugin for Stall {
    const NAME: &'static str = "stall";
    const DESCRIPTION: &'static str = "Test fixture: sleeps `millis` on every message.";
    type Config = StallSettings;
    fn new(config: StallSettings, _: Host) -> Result<Self, ConfigError> {
        Ok(Stall(Duration::from_millis(config.millis)))
    }
    fn on_message(&mut self, _: &Message<'_>) -> Verdict {
        std::thread::sleep(self.0);
        Verdict::Pass
    }
}

export_plugin!(PanicCreate, PanicMessage, RejectConfig, Stall);
