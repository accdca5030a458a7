//! `t_uac_dlg` requests: the builder behind the `uac_dlg` helper, and the checks that keep a
//! caller's text from smuggling extra SIP headers into the request OpenSIPS sends.
//!
//! `t_uac_dlg` is named-only (`method`, `ruri`, `headers`, optional `next_hop`, `socket`,
//! `body`); `headers` is one string of `Name: value` lines ended by CR LF, plus a blank line.
//! OpenSIPS requires To and From (`400 From missing`), requires a Content-Type with a body
//! (`400 Content-Type missing`) and computes Content-Length itself.

use serde_json::{Map, Value};

use crate::error::Error;
use crate::request::Params;

/// The MI command the helpers use.
pub const T_UAC_DLG: &str = "t_uac_dlg";

/// A SIP request for OpenSIPS to send with `t_uac_dlg`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UacDlg {
    method: String,
    ruri: String,
    headers: Vec<(String, String)>,
    next_hop: Option<String>,
    socket: Option<String>,
    body: Option<String>,
}

impl UacDlg {
    /// A request for `method` (e.g. `NOTIFY`) to `ruri` (e.g. `sip:alice@10.0.0.5:5060`).
    pub fn new(method: impl Into<String>, ruri: impl Into<String>) -> UacDlg {
        UacDlg {
            method: method.into(),
            ruri: ruri.into(),
            headers: Vec::new(),
            next_hop: None,
            socket: None,
            body: None,
        }
    }

    /// Adds a header; To and From are required, names match case-insensitively.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> UacDlg {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Adds headers in order.
    pub fn headers<I, N, V>(mut self, headers: I) -> UacDlg
    where
        I: IntoIterator<Item = (N, V)>,
        N: Into<String>,
        V: Into<String>,
    {
        self.headers.extend(headers.into_iter().map(|(n, v)| (n.into(), v.into())));
        self
    }

    /// The outbound proxy to send through (e.g. `sip:10.0.0.1:5060`).
    pub fn next_hop(mut self, uri: impl Into<String>) -> UacDlg {
        self.next_hop = Some(uri.into());
        self
    }

    /// The local socket to send from (e.g. `udp:10.0.0.2:5060`).
    pub fn socket(mut self, socket: impl Into<String>) -> UacDlg {
        self.socket = Some(socket.into());
        self
    }

    /// The body, sent verbatim; requires a Content-Type header.
    pub fn body(mut self, body: impl Into<String>) -> UacDlg {
        self.body = Some(body.into());
        self
    }

    /// The request URI.
    pub fn ruri(&self) -> &str {
        &self.ruri
    }

    /// The headers added so far, in order.
    pub fn header_list(&self) -> &[(String, String)] {
        &self.headers
    }

    /// Checks everything and returns the named `t_uac_dlg` parameters, in the order
    /// `method, ruri, headers, next_hop, socket, body`.
    pub fn to_params(&self) -> Result<Params, Error> {
        check_token("method", &self.method)?;
        check_text("request URI", &self.ruri)?;
        self.check_headers()?;
        let mut params = Map::new();
        params.insert("method".into(), Value::from(self.method.as_str()));
        params.insert("ruri".into(), Value::from(self.ruri.as_str()));
        params.insert("headers".into(), Value::from(self.header_block()));
        for (name, value) in [("next_hop", &self.next_hop), ("socket", &self.socket)] {
            if let Some(value) = value {
                check_text(name, value)?;
                params.insert(name.into(), Value::from(value.as_str()));
            }
        }
        if let Some(body) = &self.body {
            params.insert("body".into(), Value::from(body.as_str()));
        }
        Ok(Params::Named(params))
    }

    fn check_headers(&self) -> Result<(), Error> {
        for (name, value) in &self.headers {
            check_token("header name", name)?;
            check_text(&format!("header {name}"), value)?;
        }
        for required in [HeaderName::To, HeaderName::From] {
            if !self.has(required) {
                return Err(Error::InvalidInput(format!(
                    "a {} header is required",
                    required.canonical()
                )));
            }
        }
        if self.body.is_some() && !self.has(HeaderName::ContentType) {
            return Err(Error::InvalidInput("a body requires a Content-Type header".into()));
        }
        if self.has(HeaderName::ContentLength) {
            return Err(Error::InvalidInput(
                "do not set Content-Length: OpenSIPS computes it from the body".into(),
            ));
        }
        Ok(())
    }

    fn has(&self, wanted: HeaderName) -> bool {
        self.headers.iter().any(|(name, _)| wanted.matches(name))
    }

    fn header_block(&self) -> String {
        let mut block: String = self.headers.iter().map(|(n, v)| format!("{n}: {v}\r\n")).collect();
        block.push_str("\r\n");
        block
    }
}

/// The headers the checks look for, with their SIP compact forms (RFC 3261 §7.3.3), which
/// OpenSIPS understands as well.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HeaderName {
    To,
    From,
    Event,
    ContentType,
    ContentLength,
}

impl HeaderName {
    pub(crate) fn canonical(self) -> &'static str {
        match self {
            HeaderName::To => "To",
            HeaderName::From => "From",
            HeaderName::Event => "Event",
            HeaderName::ContentType => "Content-Type",
            HeaderName::ContentLength => "Content-Length",
        }
    }

    fn compact(self) -> &'static str {
        match self {
            HeaderName::To => "t",
            HeaderName::From => "f",
            HeaderName::Event => "o",
            HeaderName::ContentType => "c",
            HeaderName::ContentLength => "l",
        }
    }

    /// Whether `name` is this header, in any case or compact form.
    pub(crate) fn matches(self, name: &str) -> bool {
        name.eq_ignore_ascii_case(self.canonical()) || name.eq_ignore_ascii_case(self.compact())
    }
}

/// Refuses text that could end a header line early: CR, LF, or any other control character
/// (tab included; header values, URIs and events never need one).
pub fn check_text(what: &str, text: &str) -> Result<(), Error> {
    if text.is_empty() {
        return Err(Error::InvalidInput(format!("{what} is empty")));
    }
    if let Some(bad) = text.chars().find(|c| c.is_control()) {
        return Err(Error::InvalidInput(format!("{what} contains the control character {bad:?}")));
    }
    Ok(())
}

// SIP tokens (RFC 3261 §25.1): method and header names.
fn check_token(what: &str, token: &str) -> Result<(), Error> {
    check_text(what, token)?;
    let is_token_char = |c: char| c.is_ascii_alphanumeric() || "-.!%*_+`'~".contains(c);
    if let Some(bad) = token.chars().find(|c| !is_token_char(*c)) {
        return Err(Error::InvalidInput(format!("{what} {token:?} contains {bad:?}")));
    }
    Ok(())
}

/// A fresh From tag: 64 random bits in hex (RFC 3261 asks for at least 32).
pub fn random_tag() -> String {
    format!("{:016x}", rand::random::<u64>())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn notify() -> UacDlg {
        UacDlg::new("NOTIFY", "sip:alice@127.0.0.1:5070")
            .header("To", "<sip:alice@127.0.0.1:5070>")
            .header("From", "<sip:alice@127.0.0.1:5070>;tag=843887163")
            .header("Event", "check-sync")
    }

    #[test]
    fn params_match_the_capture() {
        let Params::Named(params) = notify().to_params().unwrap() else { panic!() };
        assert_eq!(
            Value::Object(params),
            json!({"method":"NOTIFY","ruri":"sip:alice@127.0.0.1:5070","headers":"To: <sip:alice@127.0.0.1:5070>\r\nFrom: <sip:alice@127.0.0.1:5070>;tag=843887163\r\nEvent: check-sync\r\n\r\n"})
        );
    }

    #[test]
    fn to_and_from_are_required_in_any_case() {
        let lower = UacDlg::new("NOTIFY", "sip:a@b")
            .header("to", "<sip:a@b>")
            .header("FROM", "<sip:a@b>;tag=1");
        assert!(lower.to_params().is_ok());
        let compact = UacDlg::new("NOTIFY", "sip:a@b")
            .header("t", "<sip:a@b>")
            .header("f", "<sip:a@b>;tag=1");
        assert!(compact.to_params().is_ok());
        let no_from = UacDlg::new("NOTIFY", "sip:a@b").header("To", "<sip:a@b>");
        assert!(matches!(no_from.to_params(), Err(Error::InvalidInput(m)) if m.contains("From")));
    }

    #[test]
    fn body_needs_content_type_and_no_content_length() {
        assert!(notify().body("hello\r\n").to_params().is_err());
        assert!(notify()
            .header("content-type", "text/plain")
            .body("hello\r\n")
            .to_params()
            .is_ok());
        assert!(notify().header("Content-Length", "7").to_params().is_err());
    }

    #[test]
    fn injection_is_refused() {
        for bad in [
            notify().header("Subject", "x\r\nEvent: reboot"),
            notify().header("X-A\nB", "x"),
            notify().header("Bad Name", "x"),
            UacDlg::new("NOTIFY", "sip:a@b\r\nX: y")
                .header("To", "<sip:a@b>")
                .header("From", "<sip:a@b>"),
            notify().next_hop("sip:p\n"),
            notify().socket("udp:1.2.3.4:5060\u{7}"),
            notify().header("Subject", "tab\there"),
        ] {
            assert!(matches!(bad.to_params(), Err(Error::InvalidInput(_))), "{bad:?}");
        }
    }
}
