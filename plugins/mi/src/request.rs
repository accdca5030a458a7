//! JSON-RPC 2.0 requests as OpenSIPS's MI parses them: the parameters (none, positional or
//! named), the ids (always sent, kept within int32) and the compact wire form.

use std::sync::atomic::{AtomicU32, Ordering};

use serde::Serialize;
use serde_json::{Map, Value};

use crate::error::Error;

/// The parameters of an MI command.
///
/// OpenSIPS matches positional parameters to a command's signature by count only, and named
/// parameters by their exact declared names; some commands (`t_uac_dlg`) are named-only.
/// Positional values are never flattened: `get_statistics` takes ONE array, so it is
/// `Params::positional([json!(["rcv_requests", "used_size"])])`, not two strings.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Params {
    /// No `params` member at all.
    #[default]
    None,
    /// `"params":[...]`, in order.
    Positional(Vec<Value>),
    /// `"params":{...}`, in insertion order.
    Named(Map<String, Value>),
}

impl Params {
    /// Positional parameters from anything convertible to JSON values.
    pub fn positional<I, V>(values: I) -> Params
    where
        I: IntoIterator<Item = V>,
        V: Into<Value>,
    {
        Params::Positional(values.into_iter().map(Into::into).collect())
    }

    /// Named parameters from `(name, value)` pairs, kept in the given order.
    pub fn named<I, K, V>(pairs: I) -> Params
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<Value>,
    {
        Params::Named(pairs.into_iter().map(|(k, v)| (k.into(), v.into())).collect())
    }

    /// True when nothing would be sent: OpenSIPS treats `[]` and `{}` like no params.
    pub fn is_empty(&self) -> bool {
        match self {
            Params::None => true,
            Params::Positional(values) => values.is_empty(),
            Params::Named(map) => map.is_empty(),
        }
    }

    fn is_none(&self) -> bool {
        matches!(self, Params::None)
    }
}

impl From<Vec<Value>> for Params {
    fn from(values: Vec<Value>) -> Params {
        Params::Positional(values)
    }
}

impl From<Map<String, Value>> for Params {
    fn from(map: Map<String, Value>) -> Params {
        Params::Named(map)
    }
}

/// One MI command ready to send.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Request {
    #[serde(rename = "jsonrpc")]
    version: &'static str,
    /// The id the reply must echo.
    pub id: u32,
    /// The command name.
    pub method: String,
    /// The parameters.
    #[serde(skip_serializing_if = "Params::is_none")]
    pub params: Params,
}

impl Request {
    /// A request; the command name must be non-empty and free of control characters, since
    /// mi_fifo is line-based and a request without a string method crashes OpenSIPS 3.5.9's
    /// FIFO process.
    pub fn new(id: u32, method: &str, params: Params) -> Result<Request, Error> {
        if method.is_empty() || method.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err(Error::InvalidInput(format!(
                "command name {method:?} must be non-empty, without spaces or control characters"
            )));
        }
        Ok(Request { version: "2.0", id, method: method.to_owned(), params })
    }

    /// The compact JSON the server expects: `{"jsonrpc":"2.0","id":N,"method":"...","params":...}`.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a request of JSON values always serializes")
    }
}

/// Hands out request ids.
///
/// OpenSIPS echoes numeric ids as a C int (saturated to 2147483647), so ids stay in
/// `1..=i32::MAX`; they start at a random point so two clients talking to one server (or a
/// late datagram from an earlier run) are unlikely to collide.
#[derive(Debug)]
pub struct IdSource {
    next: AtomicU32,
}

impl IdSource {
    /// A source starting at a random id.
    pub fn new() -> IdSource {
        IdSource { next: AtomicU32::new(rand::random::<u32>()) }
    }

    /// The next id, always in `1..=i32::MAX`.
    pub fn next_id(&self) -> u32 {
        let raw = self.next.fetch_add(1, Ordering::Relaxed);
        raw % (i32::MAX as u32) + 1
    }
}

impl Default for IdSource {
    fn default() -> IdSource {
        IdSource::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn wire_form_matches_the_captures() {
        let uptime = Request::new(2, "uptime", Params::None).unwrap();
        assert_eq!(uptime.to_json(), r#"{"jsonrpc":"2.0","id":2,"method":"uptime"}"#);
        let nested = Params::positional([json!(["rcv_requests", "used_size"])]);
        let stats = Request::new(3, "get_statistics", nested).unwrap();
        assert_eq!(
            stats.to_json(),
            r#"{"jsonrpc":"2.0","id":3,"method":"get_statistics","params":[["rcv_requests","used_size"]]}"#
        );
        let named = Params::named([("statistics", json!(["rcv_requests", "used_size"]))]);
        let stats = Request::new(4, "get_statistics", named).unwrap();
        assert_eq!(
            stats.to_json(),
            r#"{"jsonrpc":"2.0","id":4,"method":"get_statistics","params":{"statistics":["rcv_requests","used_size"]}}"#
        );
    }

    #[test]
    fn ids_stay_within_int32() {
        let ids = IdSource { next: AtomicU32::new(u32::MAX - 2) };
        for _ in 0..6 {
            let id = ids.next_id();
            assert!((1..=i32::MAX as u32).contains(&id), "{id}");
        }
    }

    #[test]
    fn bad_command_names_are_refused() {
        for name in ["", "up time", "uptime\n", "a\u{0}"] {
            assert!(matches!(Request::new(1, name, Params::None), Err(Error::InvalidInput(_))));
        }
    }
}
