//! The save plugin's settings and the files they name.

use std::path::PathBuf;

use ctiproxy_plugin_api::redact::Redact;
use ctiproxy_plugin_api::ConfigError;
use serde::Deserialize;

use crate::target::Target;

/// `[[pipeline]] plugin = "save"` and its keys.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `"classic"` (default) or `"jsonl"`.
    #[serde(default)]
    pub format: Format,
    /// Classic: the file for client → server messages.
    pub client_file: Option<PathBuf>,
    /// Classic: the file for server → client messages.
    pub server_file: Option<PathBuf>,
    /// JSON lines: the capture file.
    pub file: Option<PathBuf>,
    /// Add to existing files instead of truncating them.
    #[serde(default)]
    pub append: bool,
    /// Fields whose values are saved as `"***"` (default `["password"]`; `[]` keeps the
    /// capture byte-exact).
    #[serde(default)]
    pub redact: Redact,
    /// The permissions of files the plugin creates, in octal (default `"0600"`).
    #[serde(default)]
    pub mode: Mode,
}

/// `mode = "0640"`: permission bits for new capture files, never more than `0666`'s and never
/// world-readable unless written so.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct Mode(pub u32);

impl Default for Mode {
    fn default() -> Self {
        Mode(0o600)
    }
}

impl TryFrom<String> for Mode {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        u32::from_str_radix(&text, 8)
            .ok()
            .filter(|bits| *bits <= 0o777)
            .map(Mode)
            .ok_or_else(|| format!("{text:?} is not file permissions in octal such as \"0600\""))
    }
}

/// What the files look like.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// One file per direction, each message pretty-printed with sorted keys (for vimdiff).
    #[default]
    Classic,
    /// One capture file, one JSON object per event, replayable.
    Jsonl,
}

/// The files to open, checked.
#[derive(Debug)]
pub enum Targets {
    /// `client_file` and `server_file`.
    Classic {
        /// Where client → server messages go.
        client: Target,
        /// Where server → client messages go.
        server: Target,
    },
    /// `file`.
    Jsonl(Target),
}

impl Config {
    /// Checks that the keys fit the format and name usable, distinct files (nothing is opened).
    pub fn targets(&self) -> Result<Targets, ConfigError> {
        match self.format {
            Format::Classic => {
                unexpected(&self.file, "file", "jsonl")?;
                let client = self.required(&self.client_file, "client_file", "classic")?;
                let server = self.required(&self.server_file, "server_file", "classic")?;
                if client.identity == server.identity && !client.device {
                    return Err(ConfigError::at(
                        "server_file",
                        format!("{}: same file as client_file", server.path.display()),
                    ));
                }
                Ok(Targets::Classic { client, server })
            }
            Format::Jsonl => {
                unexpected(&self.client_file, "client_file", "classic")?;
                unexpected(&self.server_file, "server_file", "classic")?;
                Ok(Targets::Jsonl(self.required(&self.file, "file", "jsonl")?))
            }
        }
    }

    fn required(
        &self,
        path: &Option<PathBuf>,
        key: &'static str,
        format: &str,
    ) -> Result<Target, ConfigError> {
        let path = path
            .as_deref()
            .ok_or_else(|| ConfigError::at(key, format!("required with format = \"{format}\"")))?;
        Target::resolve(key, path, self.append, self.mode)
    }
}

fn unexpected(path: &Option<PathBuf>, key: &str, format: &str) -> Result<(), ConfigError> {
    match path {
        Some(_) => Err(ConfigError::at(key, format!("only used with format = \"{format}\""))),
        None => Ok(()),
    }
}
