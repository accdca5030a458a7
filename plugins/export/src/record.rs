//! The published records: the save plugin's JSON-lines capture record (README: "The JSON-lines
//! capture") followed by the proxy's identity, `proxy` and `pbx`, so that records from many
//! proxies can be told apart in one stream.

use bytes::Bytes;
use serde::Serialize;

/// A capture record as published: the identity comes last, so that a record still starts with
/// `ts` and `ctiproxy replay` takes the records a consumer writes to a file as a capture.
#[derive(Serialize)]
pub struct Exported<'a, R: Serialize> {
    /// The capture record.
    #[serde(flatten)]
    pub record: R,
    /// Which proxy saw it.
    pub proxy: &'a str,
    /// Which PBX it came from or went to.
    pub pbx: &'a str,
}

impl<R: Serialize> Exported<'_, R> {
    /// The record as JSON.
    pub fn to_bytes(&self) -> Bytes {
        // Serialising plain strings and numbers into a Vec cannot fail.
        Bytes::from(serde_json::to_vec(self).unwrap_or_default())
    }
}
