//! What an MI call's answer means for the rule that sent it.
//!
//! A `t_uac_dlg` call "succeeds" at the MI level as soon as OpenSIPS has a final SIP answer, even
//! `{"Status": "408 Request Timeout"}` from a phone that never answered: the outcome is the SIP
//! status, and only a 2xx is a success. Everything else is a failure with a short reason that
//! groups alike failures (the full error goes to the log).

use crate::error::Error;
use crate::response::Reply;
use crate::uac::T_UAC_DLG;

/// The outcome of one command: `Ok(detail)` or `Err(reason)`.
pub type Outcome = Result<String, String>;

/// Classifies the answer to `method`.
pub fn classify(method: &str, result: &Result<Reply, Error>) -> Outcome {
    match result {
        Ok(reply) if method == T_UAC_DLG => sip_status(reply),
        Ok(_) => Ok("OK".into()),
        Err(error) => Err(reason(error)),
    }
}

fn sip_status(reply: &Reply) -> Outcome {
    match reply.value().get("Status").and_then(|s| s.as_str()) {
        Some(status) if status.starts_with('2') => Ok(status.to_owned()),
        Some(status) => Err(format!("SIP {status}")),
        None => Err("no SIP status in the reply".into()),
    }
}

/// The short reason of an error, e.g. `timeout` or `MI error 500 Internal error`.
pub fn reason(error: &Error) -> String {
    match error {
        Error::InvalidInput(_) => "invalid".into(),
        Error::Transport { .. } => "transport error".into(),
        Error::HttpStatus { status, .. } => format!("HTTP {status}"),
        Error::Timeout(_) => "timeout".into(),
        Error::MalformedReply { .. } => "malformed reply".into(),
        Error::Mi(mi) => format!("MI error {} {}", mi.code, mi.message),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::MiError;
    use std::time::Duration;

    fn reply(json: &str) -> Result<Reply, Error> {
        Ok(Reply::from_raw_json(json.into()).unwrap())
    }

    #[test]
    fn the_sip_status_decides_for_t_uac_dlg() {
        let ok = reply(r#"{"Status":"200 OK","Message":"..."}"#);
        assert_eq!(classify(T_UAC_DLG, &ok), Ok("200 OK".into()));
        let timeout = reply(r#"{"Status":"408 Request Timeout"}"#);
        assert_eq!(classify(T_UAC_DLG, &timeout), Err("SIP 408 Request Timeout".into()));
        assert_eq!(
            classify(T_UAC_DLG, &reply(r#"{"Status":"481 Call Leg/Transaction Does Not Exist"}"#)),
            Err("SIP 481 Call Leg/Transaction Does Not Exist".into())
        );
        assert!(classify(T_UAC_DLG, &reply("{}")).is_err());
        assert_eq!(classify("uptime", &reply("{}")), Ok("OK".into()));
    }

    #[test]
    fn errors_group_by_kind() {
        let mi = Error::Mi(MiError { code: 500, message: "Internal error".into(), data: None });
        assert_eq!(classify("x", &Err(mi)), Err("MI error 500 Internal error".into()));
        let timeout = Error::Timeout(Duration::from_secs(1));
        assert_eq!(classify("x", &Err(timeout)), Err("timeout".into()));
    }
}
