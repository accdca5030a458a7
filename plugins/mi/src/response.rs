//! MI replies: the successful result (kept both parsed and as the exact JSON text, so duplicate
//! keys survive), and the decoding of a JSON-RPC reply into a result or an [`MiError`].

use std::collections::HashMap;

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;

use crate::depth;
use crate::error::{Error, MiError};

/// A successful MI reply: the `result` member, whatever its JSON type (`{}`, `[]`, `"OK"`…).
///
/// OpenSIPS may repeat a key inside one object (`get_statistics` with `["shmem:","used_size"]`
/// returns `"shmem:used_size"` twice). [`Reply::value`] is parsed with serde_json, where the
/// LAST duplicate wins, at the position of the FIRST; [`Reply::raw_json`] keeps the text as
/// received (for XML-RPC: transcribed member by member), and [`Reply::to_pretty_json`] and
/// [`Reply::to_compact_json`] re-print that text without losing any member.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    value: Value,
    raw: String,
}

impl Reply {
    /// A reply from the JSON text of a result; text nested deeper than serde_json can parse
    /// (or than printing it back can afford) is [`Error::MalformedReply`].
    pub fn from_raw_json(raw: String) -> Result<Reply, Error> {
        depth::check_json(raw.as_bytes()).map_err(|why| Error::malformed(why, raw.as_bytes()))?;
        let value = serde_json::from_str(&raw)
            .map_err(|e| Error::malformed(format!("result is not JSON: {e}"), raw.as_bytes()))?;
        Ok(Reply { value, raw })
    }

    /// The parsed result (duplicate keys: the last value wins).
    pub fn value(&self) -> &Value {
        &self.value
    }

    /// The parsed result, owned.
    pub fn into_value(self) -> Value {
        self.value
    }

    /// The result's JSON text as received, duplicate keys included.
    pub fn raw_json(&self) -> &str {
        &self.raw
    }

    /// The result indented for people, every duplicate member kept.
    pub fn to_pretty_json(&self) -> String {
        self.reprint(serde_json::Serializer::pretty(Vec::new()))
    }

    /// The result on one line, every duplicate member kept.
    pub fn to_compact_json(&self) -> String {
        self.reprint(serde_json::Serializer::new(Vec::new()))
    }

    // Transcoding streams token by token, so it never builds a map that would merge duplicates.
    // It cannot fail: `raw` parsed as JSON within the depth serde_json accepts.
    fn reprint<F: serde_json::ser::Formatter>(
        &self,
        mut out: serde_json::Serializer<Vec<u8>, F>,
    ) -> String {
        let mut input = serde_json::Deserializer::from_str(&self.raw);
        serde_transcode::transcode(&mut input, &mut out).expect("raw was validated as JSON");
        String::from_utf8(out.into_inner()).expect("serde_json writes UTF-8")
    }
}

#[derive(Deserialize)]
struct WireError {
    code: i64,
    message: String,
    #[serde(default)]
    data: Option<Value>,
}

/// A decoded JSON-RPC reply, not yet matched to its request.
#[derive(Debug)]
pub(crate) struct Decoded {
    id: Value,
    outcome: Result<Reply, MiError>,
}

impl Decoded {
    /// Whether this reply answers the request with `id`. A `null` id with an error is the
    /// server's answer to a request it could not read the id of (`-32700 Parse error`).
    pub(crate) fn answers(&self, id: u32) -> bool {
        self.id == id || (self.id.is_null() && self.outcome.is_err())
    }

    /// The reply's `id` member (`null` when it has none).
    pub(crate) fn id(&self) -> &Value {
        &self.id
    }

    /// The result, or the MI error as an [`Error::Mi`].
    pub(crate) fn into_result(self) -> Result<Reply, Error> {
        self.outcome.map_err(Error::Mi)
    }
}

/// Decodes a JSON-RPC reply. Success is decided by the presence of `result` (which may be
/// `{}`, `[]`, `null`), never by its truthiness; anything that is not a JSON-RPC reply, such
/// as mi_datagram's plain-text `400 Parse_error`, is an [`Error::MalformedReply`].
pub(crate) fn decode(bytes: &[u8]) -> Result<Decoded, Error> {
    let text =
        std::str::from_utf8(bytes).map_err(|_| Error::malformed("reply is not UTF-8", bytes))?;
    // Before any parsing: the members are skipped as raw text, which has no depth limit, and
    // parsed again one by one, which has.
    depth::check_json(bytes).map_err(|why| Error::malformed(why, bytes))?;
    if !text.trim_start().starts_with('{') {
        let reason = if text.is_empty() {
            "empty reply"
        } else {
            "the server answered plain text, not JSON-RPC"
        };
        return Err(Error::malformed(reason, bytes));
    }
    let members: HashMap<String, Box<RawValue>> = serde_json::from_str(text)
        .map_err(|e| Error::malformed(format!("invalid JSON: {e}"), bytes))?;
    let id = match members.get("id") {
        Some(raw) => serde_json::from_str(raw.get())
            .map_err(|e| Error::malformed(format!("invalid id: {e}"), bytes))?,
        None => Value::Null,
    };
    let outcome = match (members.get("result"), members.get("error")) {
        (Some(result), None) => Ok(Reply::from_raw_json(result.get().to_owned())?),
        (None, Some(error)) => Err(mi_error(error.get(), bytes)?),
        _ => {
            return Err(Error::malformed(
                "reply has neither exactly one of result and error",
                bytes,
            ))
        }
    };
    Ok(Decoded { id, outcome })
}

fn mi_error(raw: &str, reply: &[u8]) -> Result<MiError, Error> {
    let wire: WireError = serde_json::from_str(raw).map_err(|e| {
        Error::malformed(format!("error member is not {{code, message, data?}}: {e}"), reply)
    })?;
    Ok(MiError { code: wire.code, message: wire.message, data: wire.data })
}

/// Decodes a reply that must answer the request with `id` (HTTP and FIFO carry one reply per
/// request, so another id means a confused server, not a stale reply).
pub(crate) fn decode_for(bytes: &[u8], id: u32) -> Result<Reply, Error> {
    let decoded = decode(bytes)?;
    if !decoded.answers(id) {
        return Err(Error::malformed(
            format!("reply id {} does not match request id {id}", decoded.id),
            bytes,
        ));
    }
    decoded.into_result()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn empty_object_is_a_result() {
        let reply = decode_for(br#"{"jsonrpc":"2.0","result":{},"id":40}"#, 40).unwrap();
        assert_eq!(reply.value(), &json!({}));
    }

    #[test]
    fn duplicate_keys_are_kept_in_the_raw_text() {
        let bytes = br#"{"jsonrpc":"2.0","result":{"shmem:used_size":1,"shmem:fragments":408,"shmem:used_size":2},"id":41}"#;
        let reply = decode_for(bytes, 41).unwrap();
        assert_eq!(reply.value(), &json!({"shmem:used_size": 2, "shmem:fragments": 408}));
        assert_eq!(
            reply.raw_json(),
            r#"{"shmem:used_size":1,"shmem:fragments":408,"shmem:used_size":2}"#
        );
        assert_eq!(reply.to_compact_json(), reply.raw_json());
        assert_eq!(reply.to_pretty_json().matches("shmem:used_size").count(), 2);
    }

    #[test]
    fn errors_keep_code_message_and_optional_data() {
        let bytes = br#"{"jsonrpc":"2.0","error":{"code":-32602,"message":"Invalid params","data":"Too few or too many parameters"},"id":9}"#;
        let Err(Error::Mi(error)) = decode_for(bytes, 9) else { panic!() };
        assert_eq!(error.code, -32602);
        assert_eq!(error.data, Some(json!("Too few or too many parameters")));
        let bytes = br#"{"jsonrpc":"2.0","error":{"code":400,"message":"From missing"},"id":33}"#;
        let Err(Error::Mi(error)) = decode_for(bytes, 33) else { panic!() };
        assert_eq!((error.code, error.data), (400, None));
    }

    #[test]
    fn parse_error_with_null_id_is_an_answer() {
        let bytes =
            br#"{"jsonrpc":"2.0","error":{"code":-32700,"message":"Parse error"},"id":null}"#;
        assert!(matches!(decode_for(bytes, 7), Err(Error::Mi(e)) if e.code == -32700));
    }

    fn nested(levels: usize) -> String {
        format!("{}{}", "[".repeat(levels), "]".repeat(levels))
    }

    #[test]
    fn ids_and_results_nested_too_deep_are_malformed() {
        let id = format!(r#"{{"jsonrpc":"2.0","result":"OK","id":{}}}"#, nested(128));
        let result = format!(r#"{{"jsonrpc":"2.0","result":{},"id":1}}"#, nested(5000));
        for bytes in [id, result] {
            let Err(Error::MalformedReply { reason, .. }) = decode_for(bytes.as_bytes(), 1) else {
                panic!("{bytes}")
            };
            assert!(reason.contains("nested too deep"), "{reason}");
        }
        let Err(Error::MalformedReply { reason, .. }) = Reply::from_raw_json(nested(200)) else {
            panic!()
        };
        assert!(reason.contains("nested too deep"), "{reason}");
    }

    #[test]
    fn brackets_inside_strings_are_not_nesting() {
        let bytes = format!(r#"{{"jsonrpc":"2.0","result":"{}","id":1}}"#, "[{".repeat(500));
        assert_eq!(decode_for(bytes.as_bytes(), 1).unwrap().value().as_str().unwrap().len(), 1000);
    }

    #[test]
    fn plain_text_and_wrong_ids_are_malformed() {
        for bytes in [
            &b"400 Parse_error"[..],
            b"500 Internal error",
            b"failed to print response",
            b"",
            b"{\"jsonrpc\":",
        ] {
            assert!(matches!(decode_for(bytes, 1), Err(Error::MalformedReply { .. })), "{bytes:?}");
        }
        let other = br#"{"jsonrpc":"2.0","result":"OK","id":2}"#;
        assert!(matches!(decode_for(other, 1), Err(Error::MalformedReply { .. })));
    }
}
