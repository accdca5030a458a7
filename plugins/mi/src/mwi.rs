//! Message-waiting updates: the `message-summary` NOTIFY (RFC 3842) that lights or clears a
//! phone's voicemail lamp.

use crate::error::Error;
use crate::uac::{check_text, random_tag, UacDlg};

/// The `application/simple-message-summary` content type.
pub const MESSAGE_SUMMARY: &str = "application/simple-message-summary";

/// Voicemail counts for one account.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MessageCounts {
    /// New messages; above 0 the lamp lights (`Messages-Waiting: yes`).
    pub new: u32,
    /// Old (heard) messages.
    pub old: u32,
    /// New urgent messages.
    pub urgent_new: u32,
    /// Old urgent messages.
    pub urgent_old: u32,
}

/// The message-summary body: `Messages-Waiting`, `Message-Account`, `Voice-Message`, each line
/// ended by CR LF, and a blank line, as OpenSIPS forwarded it in the captures.
pub fn message_summary_body(account: &str, counts: &MessageCounts) -> String {
    let waiting = if counts.new > 0 { "yes" } else { "no" };
    format!(
        "Messages-Waiting: {waiting}\r\nMessage-Account: {account}\r\nVoice-Message: {}/{} ({}/{})\r\n\r\n",
        counts.new, counts.old, counts.urgent_new, counts.urgent_old
    )
}

/// The NOTIFY updating `uri`'s lamp for voicemail `account` (e.g. `sip:*97@pbx`).
pub fn mwi_update(uri: &str, account: &str, counts: &MessageCounts) -> Result<UacDlg, Error> {
    check_text("URI", uri)?;
    check_text("message account", account)?;
    Ok(UacDlg::new("NOTIFY", uri)
        .header("To", format!("<{uri}>"))
        .header("From", format!("<{uri}>;tag={}", random_tag()))
        .header("Event", "message-summary")
        .header("Subscription-State", "active")
        .header("Content-Type", MESSAGE_SUMMARY)
        .body(message_summary_body(account, counts)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_matches_the_capture() {
        let counts = MessageCounts { new: 5, ..MessageCounts::default() };
        assert_eq!(
            message_summary_body("sip:*97@127.0.0.1", &counts),
            "Messages-Waiting: yes\r\nMessage-Account: sip:*97@127.0.0.1\r\nVoice-Message: 5/0 (0/0)\r\n\r\n"
        );
        let cleared = MessageCounts { old: 2, urgent_old: 1, ..MessageCounts::default() };
        assert!(
            message_summary_body("sip:*97@pbx", &cleared).starts_with("Messages-Waiting: no\r\n")
        );
    }

    #[test]
    fn injection_is_refused() {
        assert!(mwi_update("sip:a@b", "sip:*97@b\r\nX: 1", &MessageCounts::default()).is_err());
        assert!(mwi_update("sip:a@b\n", "sip:*97@b", &MessageCounts::default()).is_err());
    }
}
