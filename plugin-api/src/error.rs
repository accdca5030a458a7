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
    #[error("built for plugin ABI {found}, this host supports ABI {supported}")]
    AbiVersion {
        /// What the plugin declares.
        found: u32,
        /// What this host speaks.
        supported: u32,
    },
    /// The descriptor is shorter than this host's.
    #[error("descriptor is {found} bytes, this host needs at least {needed} (built against an older plugin-api)")]
    StructSize {
        /// What the plugin declares.
        found: u32,
        /// What this host needs.
        needed: u32,
    },
    /// The boundary structs differ.
    #[error("layout hash {found:#018x} differs from this host's {expected:#018x} (built against an incompatible plugin-api; rebuild it against this one)")]
    LayoutHash {
        /// What the plugin declares.
        found: u64,
        /// This host's.
        expected: u64,
    },
    /// A required function pointer is null.
    #[error("required function `{0}` is missing (null)")]
    MissingFunction(&'static str),
    /// A name or version is not UTF-8.
    #[error("descriptor field `{0}` is not valid UTF-8")]
    InvalidUtf8(&'static str),
    /// Built with `panic = "abort"`.
    #[error("built with panic = \"abort\": a panic would kill the proxy; rebuild it with panic = \"unwind\"")]
    PanicAbort,
}
