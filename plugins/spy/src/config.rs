//! The spy's settings: the keys of its `[[pipeline]]` table.

use ctiproxy_plugin_api::redact::Redact;
use serde::Deserialize;

/// `[[pipeline]] plugin = "spy"` and its keys; every key is optional.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Indent JSON by 4 spaces, one key per line (`--pretty-print`).
    pub pretty: bool,
    /// Print every message's bytes as they came, without decoding (`--raw`).
    pub raw: bool,
    /// Show client → server messages (`--no-client` turns it off).
    pub client: bool,
    /// Show server → client messages (`--no-server` turns it off).
    pub server: bool,
    /// When to colour the direction headers.
    pub color: ColorMode,
    /// Fields whose values are printed as `"***"` (default `["password"]`; `[]` for none).
    pub redact: Redact,
    /// Fields left out of the JSON printed (top-level names or dotted paths), exactly as a
    /// `strip` entry before the spy removes them, at a fraction of the cost: the message is
    /// not rewritten and indexed again first. Only what is printed changes; later plugins
    /// still see the whole message. `ctispy --strip` uses it when it can (see `classic::spy`).
    /// Refused with `raw`, which prints the bytes as they came.
    pub strip: Vec<String>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            pretty: false,
            raw: false,
            client: true,
            server: true,
            color: ColorMode::Auto,
            redact: Redact::default(),
            strip: Vec::new(),
        }
    }
}

/// `color = "auto" | "always" | "never"`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ColorMode {
    /// Colour only when the output is a terminal.
    #[default]
    Auto,
    /// Always colour, e.g. when piping into `less -R`.
    Always,
    /// Never colour.
    Never,
}

impl ColorMode {
    /// Whether to colour, given whether the output is a terminal.
    pub fn enabled(self, output_is_terminal: bool) -> bool {
        match self {
            ColorMode::Auto => output_is_terminal,
            ColorMode::Always => true,
            ColorMode::Never => false,
        }
    }
}
