//! Filter plugins: change what the *later* plugins of the pipeline see (never the wire).
//!
//! - [`Strip`] (`plugin = "strip"`) removes fields: `fields = ["timenow", "status.new"]`.
//! - [`Include`] (`plugin = "include"`) keeps only the messages matching any condition:
//!   `match = ["class=getlist"]` or `match = { class = "getlist" }`. Non-JSON lines are dropped.
//! - [`Exclude`] (`plugin = "exclude"`) hides the messages matching any condition, same `match`
//!   syntax. Non-JSON lines pass.
//!
//! Field names are top-level keys or dotted paths into nested objects ([`path`]); values compare
//! as text ([`matcher`]). See this crate's README for the full rules.

mod exclude;
mod include;
pub use ctiproxy_plugin_api::field_path as path;
pub use ctiproxy_plugin_api::matcher;
mod strip;

use ctiproxy_plugin_api::export_plugin;

pub use exclude::Exclude;
pub use include::Include;
pub use strip::{Strip, StripConfig};

export_plugin!(Strip, Include, Exclude);
