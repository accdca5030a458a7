//! The reply decoders, reachable from the fuzz targets in `fuzz/` (they are crate-private
//! otherwise). Hidden from the documentation and not part of the API: exactly the functions the
//! transports call on bytes from the network, nothing else.

use serde_json::Value;

use crate::error::Error;
use crate::response::{self, Reply};
use crate::transport::{fifo, http, xmlrpc};

/// A JSON-RPC reply as mi_datagram delivers it: the reply's own id, whether it answers the
/// request `id`, and its result or MI error.
pub fn jsonrpc_reply(bytes: &[u8], id: u32) -> Result<(Value, bool, Result<Reply, Error>), Error> {
    let decoded = response::decode(bytes)?;
    let answers = decoded.answers(id);
    Ok((decoded.id().clone(), answers, decoded.into_result()))
}

/// A reply decoded for the request `id`, as mi_http and mi_datagram do.
pub fn jsonrpc_reply_for(bytes: &[u8], id: u32) -> Result<Reply, Error> {
    response::decode_for(bytes, id)
}

/// An mi_xmlrpc_ng `methodResponse`.
pub fn xmlrpc_reply(bytes: &[u8]) -> Result<Reply, Error> {
    xmlrpc::method_response(bytes)
}

/// The head at the start of an HTTP reply: `Some(head length)` once it is complete, a 200 and
/// its body framing understood; `None` while more bytes are needed.
pub fn http_head(bytes: &[u8]) -> Result<Option<usize>, Error> {
    match http::parse_head(bytes)? {
        Some((length, framing)) => framing.map(|_| Some(length)),
        None => Ok(None),
    }
}

/// What was read from a reply FIFO, decoded for the request `id`.
pub fn fifo_reply(bytes: &[u8], id: u32) -> Result<Reply, Error> {
    fifo::decode_reply(bytes, id)
}
