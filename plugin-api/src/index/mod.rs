//! Parse once: a compact index of a JSON line that every reader shares, and writers that print
//! from it.
//!
//! [`parse_into`] checks a line exactly as `serde_json::from_slice::<Value>` would and records
//! its tokens on a flat tape of `#[repr(C)]` [`Node`]s (kinds and byte offsets into the line, no
//! pointers), made to be lent across the plugin C ABI next to the line. An [`Index`] pairs the
//! two and hands out borrowed [`Value`]s: `get`, dotted `path`s, entries, items, text
//! comparison and number conversion, without building a serde `Value`. A [`Writer`] prints the
//! line again (sorted compact or pretty, as the spy and the save files show it; or compact in
//! the sender's order, minus some fields, as strip replaces it) into a reused buffer, keeping
//! every number's text as it came.
//!
//! ```
//! use ctiproxy_plugin_api::index::{Index, Writer};
//!
//! let line = br#"{"timenow": 1550844512.3439999, "class": "getlist", "status": {"new": "2"}}"#;
//! let mut nodes = Vec::new();
//! let index = Index::parse(line, &mut nodes).unwrap();
//! let root = index.root();
//! assert!(root.get("class").unwrap().text_equals("getlist"));
//! assert_eq!(root.path("status.new").unwrap().as_str().unwrap(), "2");
//!
//! let mut out = Vec::new();
//! Writer::new().sorted_compact(root, &mut out);
//! assert_eq!(
//!     out,
//!     br#"{"class": "getlist", "status": {"new": "2"}, "timenow": 1550844512.3439999}"#
//! );
//! ```

mod node;
mod number;
mod parse;
mod scan;
mod string;
mod view;
mod write;

pub use node::{
    Kind, Node, FLAG_ESCAPED, FLAG_FLOAT, KIND_ARRAY, KIND_FALSE, KIND_KEY, KIND_NULL, KIND_NUMBER,
    KIND_OBJECT, KIND_STRING, KIND_TRUE,
};
pub use parse::{parse_append, parse_into, ParseError, Reason};
pub use view::{Entries, Index, Items, Value};
pub(crate) use write::KeyName;
pub use write::Writer;
