//! The SIP outcome of a `t_uac_dlg` call. The MI call succeeds whenever OpenSIPS ran the
//! transaction, so a phone that never answered is not an [`crate::Error`]: the reply's result
//! says `{"Status":"408 Request Timeout"}`. Scripts and rules read it here.

use crate::response::Reply;

/// A SIP final status: `408 Request Timeout` is code 408, text `Request Timeout`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SipStatus<'a> {
    /// The three-digit code.
    pub code: u16,
    /// The whole status as OpenSIPS reported it (`408 Request Timeout`).
    pub line: &'a str,
}

impl SipStatus<'_> {
    /// A 2xx final status: the request was accepted.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.code)
    }
}

impl Reply {
    /// The SIP final status of a `t_uac_dlg` reply (its result's `Status`), `None` for a reply
    /// without one (any other command).
    pub fn sip_status(&self) -> Option<SipStatus<'_>> {
        let line = self.value().get("Status")?.as_str()?;
        let code = line.split_whitespace().next()?.parse().ok()?;
        Some(SipStatus { code, line })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(json: &str) -> Option<(u16, bool)> {
        let reply = Reply::from_raw_json(json.into()).unwrap();
        reply.sip_status().map(|s| (s.code, s.is_success()))
    }

    #[test]
    fn reads_the_code_of_the_status() {
        assert_eq!(status(r#"{"Status":"200 OK","Message":"x"}"#), Some((200, true)));
        assert_eq!(status(r#"{"Status":"202 Accepted"}"#), Some((202, true)));
        assert_eq!(status(r#"{"Status":"408 Request Timeout"}"#), Some((408, false)));
        assert_eq!(status(r#"{"Up time":"x"}"#), None);
        assert_eq!(status(r#"{"Status":"weird"}"#), None);
    }
}
