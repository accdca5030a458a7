//! The ctiproxy plugin API: everything a plugin author needs, and the boundary the host loads
//! plugins through.
//!
//! A plugin is a `cdylib` crate that implements the safe [`Plugin`] trait and exports it with
//! [`export_plugin!`]. The proxy loads it at run time through a small, versioned C ABI
//! ([`abi`]), so the plugin and the proxy may be built by different compilers. Plugin authors
//! write no `unsafe`:
//!
//! ```
//! use ctiproxy_plugin_api::{export_plugin, ConfigError, Host, Message, Plugin, Verdict};
//! use serde::Deserialize;
//!
//! #[derive(Deserialize)]
//! #[serde(deny_unknown_fields)]
//! struct Config { class: String }
//!
//! /// Prints the direction of every message of one class.
//! struct Watch { class: String, host: Host }
//!
//! impl Plugin for Watch {
//!     const NAME: &'static str = "watch";
//!     const DESCRIPTION: &'static str = "Prints the direction of every message of one class.";
//!     type Config = Config;
//!     fn new(config: Config, host: Host) -> Result<Self, ConfigError> {
//!         Ok(Watch { class: config.class, host })
//!     }
//!     fn on_message(&mut self, m: &Message<'_>) -> Verdict {
//!         if m.class() == Some(self.class.as_str()) {
//!             self.host.print(format!("{}\n", m.direction().label()).as_bytes());
//!         }
//!         Verdict::Pass
//!     }
//! }
//!
//! export_plugin!(Watch);
//! ```
//!
//! Host side, the same crate provides the checks ([`Vtable`]), the safe calls ([`Instance`]) and
//! the host services table ([`HostServices`]), so the proxy's loader and the [`harness`] cross
//! the boundary through one piece of code.
//!
//! Trust: a native plugin runs with the full privileges of the proxy. The checks catch mistakes
//! (wrong ABI, incompatible build, `panic = "abort"`), not malice.
#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod abi;
pub mod body;
pub mod capture;
pub mod error;
mod export;
pub mod field_path;
pub mod file_kind;
pub mod harness;
pub mod host;
pub mod index;
pub mod instance;
pub mod matcher;
pub mod message;
pub mod plugin;
pub mod redact;
pub mod services;
mod settings;
pub mod sorted_json;
pub mod visible;
pub mod vtable;

pub use error::{ConfigError, CreateError, DescriptorError};
pub use file_kind::FileKind;
pub use host::{Host, Level};
pub use instance::{Instance, Outcome};
pub use message::{Direction, Message, SessionEnd, SessionStart};
pub use plugin::{Plugin, Verdict};
pub use services::HostServices;
pub use vtable::Vtable;

/// Re-exported so plugins need no direct dependency to name JSON values.
pub use serde_json;

#[doc(hidden)]
pub mod __private {
    pub use crate::export::{create, descriptor, destroy, free_buf, on_event};
}
