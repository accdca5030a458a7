//! The published records: the save plugin's JSON-lines capture record (README: "The JSON-lines
//! capture") with the proxy's identity in front, `proxy` and `pbx`, so that records from many
//! proxies can be told apart in one stream.

use bytes::Bytes;
use serde::Serialize;

/// A capture record as published.
#[derive(Serialize)]
pub struct Exported<'a, R: Serialize> {
    /// Which proxy saw it.
    pub proxy: &'a str,
    /// Which PBX it came from or went to.
    pub pbx: &'a str,
    /// The capture record.
    #[serde(flatten)]
    pub record: R,
}

impl<R: Serialize> Exported<'_, R> {
    /// The record as JSON.
    pub fn to_bytes(&self) -> Bytes {
        // Serialising plain strings and numbers into a Vec cannot fail.
        Bytes::from(serde_json::to_vec(self).unwrap_or_default())
    }
}
