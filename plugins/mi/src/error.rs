//! The typed errors of every MI call, so callers (the plugin, the command line) can tell a
//! refused input from a dead server, a slow one, a garbled reply and an answer that says no.

use std::fmt;
use std::time::Duration;

/// An error answered by OpenSIPS itself: the JSON-RPC `error` member, or an XML-RPC fault.
///
/// `code` is any integer: negative JSON-RPC codes (`-32601 Method not found`), SIP-like codes
/// from the command (`400 From missing`, `481`, `500`), even positive parse codes over XML-RPC
/// (`32700`).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct MiError {
    /// The error code, as sent.
    pub code: i64,
    /// The error text, as sent.
    pub message: String,
    /// The optional detail (`"Too few or too many parameters"`); any JSON, usually a string.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<serde_json::Value>,
}

impl fmt::Display for MiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.code, self.message)?;
        match &self.data {
            Some(serde_json::Value::String(text)) => write!(f, " ({text})"),
            Some(other) => write!(f, " ({other})"),
            None => Ok(()),
        }
    }
}

/// Everything that can go wrong with one MI call.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The call was refused before anything was sent: a control character in a header, a URI
    /// or an event; a missing To/From; a request too big for the transport; a bad address.
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// The transport failed: connection refused, FIFO missing or without a reader, I/O error.
    #[error("transport failure: {context}: {source}")]
    Transport {
        /// What was being done (`"connect to 127.0.0.1:8888"`).
        context: String,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The HTTP server answered with a status other than 200; mi_http and mi_xmlrpc_ng answer
    /// every JSON-RPC or XML-RPC reply (errors included) with 200, so this is a transport fault.
    #[error("HTTP status {status} {reason}")]
    HttpStatus {
        /// The status code (`405`, `500`, `202`…).
        status: u16,
        /// The reason phrase as sent.
        reason: String,
    },
    /// No (complete) reply arrived within the call's timeout.
    #[error("no reply within {0:?}")]
    Timeout(Duration),
    /// A reply arrived but is not a valid answer to the request: plain text such as
    /// `400 Parse_error`, truncated JSON, another request's id, an XML body that is no
    /// `methodResponse`, an empty FIFO reply.
    #[error("malformed reply: {reason}")]
    MalformedReply {
        /// What is wrong with it.
        reason: String,
        /// The start of the reply as received (at most 200 bytes, lossily decoded).
        raw: String,
    },
    /// OpenSIPS answered with an error.
    #[error("MI error {0}")]
    Mi(MiError),
}

impl Error {
    /// A stable name for the kind of error, for machine-readable output: `invalid_input`,
    /// `transport`, `http_status`, `timeout`, `malformed_reply` or `mi`.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::InvalidInput(_) => "invalid_input",
            Error::Transport { .. } => "transport",
            Error::HttpStatus { .. } => "http_status",
            Error::Timeout(_) => "timeout",
            Error::MalformedReply { .. } => "malformed_reply",
            Error::Mi(_) => "mi",
        }
    }

    /// A transport error with its context.
    pub(crate) fn transport(context: impl Into<String>, source: std::io::Error) -> Error {
        Error::Transport { context: context.into(), source }
    }

    /// A malformed-reply error quoting the start of the reply.
    pub(crate) fn malformed(reason: impl Into<String>, raw: &[u8]) -> Error {
        let shown = &raw[..raw.len().min(200)];
        Error::MalformedReply {
            reason: reason.into(),
            raw: String::from_utf8_lossy(shown).into_owned(),
        }
    }

    /// Maps an I/O error from a read or write under a deadline: the platform reports a
    /// socket timeout as `WouldBlock` or `TimedOut`, which the caller must see as [`Error::Timeout`].
    pub(crate) fn from_io(
        context: impl Into<String>,
        source: std::io::Error,
        timeout: Duration,
    ) -> Error {
        match source.kind() {
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => {
                Error::Timeout(timeout)
            }
            _ => Error::transport(context, source),
        }
    }
}
