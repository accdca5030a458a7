//! Phone-vendor NOTIFY events (from Asterisk's sip_notify.conf, as the opensips-mi gem has them)
//! and the `event_notify` request that makes a phone re-read its configuration or reboot.

use crate::error::Error;
use crate::uac::{check_text, random_tag, HeaderName, UacDlg};

/// The vendor event names and the `Event` header value each sends.
pub const VENDOR_EVENTS: &[(&str, &str)] = &[
    ("aastra_check_cfg", "check-sync"),
    ("aastra_xml", "aastra-xml"),
    ("digium_check_cfg", "check-sync"),
    ("linksys_cold_restart", "reboot_now"),
    ("linksys_warm_restart", "restart_now"),
    ("polycom_check_cfg", "check-sync"),
    ("sipura_check_cfg", "resync"),
    ("sipura_get_report", "report"),
    ("snom_check_cfg", "check-sync;reboot=false"),
    ("snom_reboot", "check-sync;reboot=true"),
    ("cisco_check_cfg", "check-sync"),
    ("avaya_check_cfg", "check-sync"),
];

/// The `Event` header value for a vendor event name, or the name itself as a literal event
/// (`check-sync;reboot=true`).
pub fn resolve_event(event: &str) -> &str {
    VENDOR_EVENTS.iter().find(|(name, _)| *name == event).map_or(event, |(_, value)| value)
}

/// The NOTIFY for `event` to `uri`: `To: <uri>`, `From: <uri>;tag=<random>` (unless
/// `extra_headers` brings its own To or From), `Event`, then the other extra headers.
pub fn event_notify(
    uri: &str,
    event: &str,
    extra_headers: &[(String, String)],
) -> Result<UacDlg, Error> {
    check_text("URI", uri)?;
    let event = resolve_event(event);
    check_text("event", event)?;
    if extra_headers.iter().any(|(name, _)| HeaderName::Event.matches(name)) {
        return Err(Error::InvalidInput("the Event header comes from the EVENT argument".into()));
    }
    let given = |wanted: HeaderName| extra_headers.iter().find(|(name, _)| wanted.matches(name));
    let to = given(HeaderName::To).cloned().unwrap_or(("To".into(), format!("<{uri}>")));
    let from = given(HeaderName::From)
        .cloned()
        .unwrap_or(("From".into(), format!("<{uri}>;tag={}", random_tag())));
    let rest = extra_headers
        .iter()
        .filter(|(name, _)| !HeaderName::To.matches(name) && !HeaderName::From.matches(name))
        .cloned();
    Ok(UacDlg::new("NOTIFY", uri)
        .headers([to, from, ("Event".into(), event.to_owned())])
        .headers(rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vendor_names_and_literals() {
        assert_eq!(resolve_event("snom_reboot"), "check-sync;reboot=true");
        assert_eq!(resolve_event("polycom_check_cfg"), "check-sync");
        assert_eq!(resolve_event("my-event"), "my-event");
        assert_eq!(VENDOR_EVENTS.len(), 12);
    }

    #[test]
    fn extra_to_replaces_the_generated_one() {
        let extra =
            [("to".to_owned(), "<sip:bob@b>".to_owned()), ("X-A".to_owned(), "1".to_owned())];
        let dlg = event_notify("sip:a@b", "aastra_xml", &extra).unwrap();
        let names: Vec<_> = dlg.header_list().iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["to", "From", "Event", "X-A"]);
        assert_eq!(dlg.header_list()[2].1, "aastra-xml");
    }

    #[test]
    fn injection_is_refused() {
        assert!(event_notify("sip:a@b\r\n", "check-sync", &[]).is_err());
        assert!(event_notify("sip:a@b", "check-sync\r\nX: 1", &[]).is_err());
        assert!(event_notify("sip:a@b", "check-sync", &[("Event".into(), "x".into())]).is_err());
    }
}
