//! Errors that cross the boundary as data: a plugin's configuration error (with the key path the
//! host maps back to a file and line) and the ways creating an instance can fail.

use serde::{Deserialize, Serialize};

/// A rejected configuration: which key (dotted path, empty for the whole table) and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{}{message}", if path.is_empty() { String::new() } else { format!("{path}: ") })]
pub struct ConfigError {
    /// Dotted key path inside the plugin's table, e.g. `match.class`; empty for the table itself.
    pub path: String,
    /// What is wrong, for a human.
    pub message: String,
}

impl ConfigError {
    /// An error about one key.
    pub fn at(path: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigError { path: path.into(), message: message.into() }
    }
}

impl From<String> for ConfigError {
    fn from(message: String) -> Self {
        ConfigError::at("", message)
    }
}

impl From<&str> for ConfigError {
    fn from(message: &str) -> Self {
        ConfigError::at("", message)
    }
}

/// Why an instance could not be created.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CreateError {
    /// The plugin rejected its configuration.
    #[error("config rejected: {0}")]
    Config(ConfigError),
    /// The plugin failed for another reason.
    #[error("create failed: {0}")]
    Failed(String),
    /// The plugin panicked while being created.
    #[error("panicked in create: {0}")]
    Panicked(String),
}

/// Why a descriptor cannot be used; checked in this order before anything is called.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DescriptorError {
    /// Built for another ABI major.
    #[error(
        "built for plugin ABI {found}{}, this host supports ABI {supported} (plugin-api {})",
        built_with(plugin_api),
        crate::abi::PLUGIN_API_VERSION
    )]
    AbiVersion {
        /// What the plugin declares.
        found: u32,
        /// What this host speaks.
        supported: u32,
        /// The plugin-api the plugin names, when readable.
        plugin_api: Option<String>,
    },
    /// The descriptor's size is not this host's.
    #[error("descriptor is {found} bytes, this host's is {needed}: {}", rebuild(plugin_api))]
    StructSize {
        /// What the plugin declares.
        found: u32,
        /// This host's.
        needed: u32,
        /// The plugin-api the plugin names, when readable.
        plugin_api: Option<String>,
    },
    /// The boundary structs differ.
    #[error(
        "layout hash {found:#018x} differs from this host's {expected:#018x}: {}",
        rebuild(plugin_api)
    )]
    LayoutHash {
        /// What the plugin declares.
        found: u64,
        /// This host's.
        expected: u64,
        /// The plugin-api the plugin names, when readable.
        plugin_api: Option<String>,
    },
    /// A required function pointer is null.
    #[error("required function `{0}` is missing (null)")]
    MissingFunction(&'static str),
    /// A name or version is not UTF-8.
    #[error("descriptor field `{0}` is not valid UTF-8")]
    InvalidUtf8(&'static str),
    /// The name is not lowercase letters, digits and `-`.
    #[error("plugin name {0:?} is invalid: use lowercase ASCII letters, digits and `-`, starting with a letter (it is written in configurations and in the library's file name)")]
    InvalidName(String),
    /// Built with `panic = "abort"`.
    #[error("built with panic = \"abort\": a panic would kill the proxy; rebuild it with panic = \"unwind\"")]
    PanicAbort,
}

/// Which plugin-api the plugin used and which one it needs.
fn rebuild(plugin_api: &Option<String>) -> String {
    let host = crate::abi::PLUGIN_API_VERSION;
    let built = match plugin_api {
        Some(v) if v == host => format!("built against another revision of plugin-api {v}"),
        Some(v) => format!("built against plugin-api {v}"),
        None => "built against another plugin-api".to_owned(),
    };
    format!(
        "{built}, this host uses plugin-api {host}; rebuild the plugin against plugin-api {host}"
    )
}

/// ` with plugin-api X` when the plugin named its plugin-api, else nothing.
fn built_with(plugin_api: &Option<String>) -> String {
    plugin_api.as_ref().map(|v| format!(" with plugin-api {v}")).unwrap_or_default()
}
