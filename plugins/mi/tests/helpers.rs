//! The `t_uac_dlg` helpers on every transport: the exact request bytes against the captures
//! (apart from ids and the random From tag), the NOTIFY the server decoded, and the refusal of
//! injected header lines with nothing sent.

mod support;

use ctiproxy_mi::test_server::{Kind, TestServer};
use ctiproxy_mi::{Error, MessageCounts, UacDlg};
use serde_json::json;
use support::{assert_request_matches, client, KINDS};

const PHONE: &str = "sip:alice@127.0.0.1:5070";

fn check_sync_case(kind: Kind) -> &'static str {
    match kind {
        Kind::XmlRpc => "t_uac_dlg NOTIFY check-sync, named struct, CR as &#13;",
        _ => "t_uac_dlg NOTIFY check-sync (named)",
    }
}

fn mwi_case(kind: Kind) -> &'static str {
    match kind {
        Kind::XmlRpc => "t_uac_dlg NOTIFY MWI with body, named struct",
        _ => "t_uac_dlg NOTIFY MWI with body (named)",
    }
}

#[test]
fn event_notify_sends_the_captured_bytes() {
    for kind in KINDS {
        let server = TestServer::start();
        let reply = client(&server, kind).event_notify(PHONE, "polycom_check_cfg", &[]).unwrap();
        assert_eq!(reply.value()["Status"], json!("200 OK"), "{kind:?}");
        assert_request_matches(&server, kind, check_sync_case(kind));
        let notify = &server.uac_requests()[0];
        assert!(
            notify.headers.starts_with(&format!("To: <{PHONE}>\r\nFrom: <{PHONE}>;tag=")),
            "{kind:?}: {notify:?}"
        );
        assert!(notify.headers.ends_with("\r\nEvent: check-sync\r\n\r\n"), "{kind:?}: {notify:?}");
    }
}

#[test]
fn event_notify_tags_are_random() {
    let server = TestServer::start();
    let client = client(&server, Kind::Datagram);
    client.event_notify(PHONE, "snom_reboot", &[]).unwrap();
    client.event_notify(PHONE, "snom_reboot", &[]).unwrap();
    let tags: Vec<String> =
        server.uac_requests().iter().map(|r| r.header("From", "f").unwrap().to_owned()).collect();
    assert_ne!(tags[0], tags[1]);
    assert_eq!(server.uac_requests()[0].header("Event", "o"), Some("check-sync;reboot=true"));
}

#[test]
fn mwi_update_sends_the_captured_bytes() {
    for kind in KINDS {
        let server = TestServer::start();
        let counts = MessageCounts { new: 5, ..MessageCounts::default() };
        client(&server, kind).mwi_update(PHONE, "sip:*97@127.0.0.1", &counts).unwrap();
        assert_request_matches(&server, kind, mwi_case(kind));
        let notify = &server.uac_requests()[0];
        assert_eq!(
            notify.body.as_deref(),
            Some("Messages-Waiting: yes\r\nMessage-Account: sip:*97@127.0.0.1\r\nVoice-Message: 5/0 (0/0)\r\n\r\n"),
            "{kind:?}"
        );
    }
}

#[test]
fn uac_dlg_sends_the_captured_bytes() {
    for kind in KINDS {
        let server = TestServer::start();
        let notify = UacDlg::new("NOTIFY", PHONE)
            .header("To", format!("<{PHONE}>"))
            .header("From", format!("<{PHONE}>;tag=843887163"))
            .header("Event", "check-sync");
        let reply = client(&server, kind).uac_dlg(&notify).unwrap();
        assert!(
            reply.value()["Message"].as_str().unwrap().contains("CSeq: 10 NOTIFY\r\n"),
            "{kind:?}"
        );
        assert_request_matches(&server, kind, check_sync_case(kind));
        // The tag is ours here, so the bytes must be identical apart from the id.
        let sent = support::only_request(&server, kind);
        assert!(String::from_utf8_lossy(&sent).contains("tag=843887163"));
    }
}

#[test]
fn uac_dlg_with_next_hop_socket_and_body() {
    let server = TestServer::start();
    let message = UacDlg::new("MESSAGE", PHONE)
        .header("to", format!("<{PHONE}>"))
        .header("FROM", "<sip:pbx@127.0.0.1>;tag=7")
        .header("Content-Type", "text/plain")
        .next_hop("sip:127.0.0.1:5070")
        .socket("udp:127.0.0.1:5060")
        .body("hello\r\n");
    client(&server, Kind::Fifo).uac_dlg(&message).unwrap();
    let sent = &server.uac_requests()[0];
    assert_eq!(
        (sent.next_hop.as_deref(), sent.socket.as_deref(), sent.body.as_deref()),
        (Some("sip:127.0.0.1:5070"), Some("udp:127.0.0.1:5060"), Some("hello\r\n"))
    );
    let wrong_socket = message.clone().socket("udp:10.9.9.9:5060");
    let result = client(&server, Kind::Fifo).uac_dlg(&wrong_socket);
    assert!(matches!(&result, Err(Error::Mi(e)) if e.code == 404), "{result:?}");
}

#[test]
fn injection_is_refused_before_anything_is_sent() {
    let server = TestServer::start();
    let evil = "<sip:alice@127.0.0.1:5070>\r\nEvent: reboot";
    for kind in KINDS {
        let client = client(&server, kind);
        let attempts = [
            client.event_notify("sip:alice@127.0.0.1:5070\r\nX-Evil: 1", "check-sync", &[]),
            client.event_notify(PHONE, "check-sync\nX-Evil: 1", &[]),
            client.event_notify(PHONE, "check-sync", &[("X-Info".into(), "a\u{0}b".into())]),
            client.mwi_update(PHONE, "sip:*97@pbx\r\nX-Evil: 1", &MessageCounts::default()),
            client.uac_dlg(
                &UacDlg::new("NOTIFY", PHONE).header("To", evil).header("From", "<sip:a@b>;tag=1"),
            ),
            client.uac_dlg(
                &UacDlg::new("NOTIFY", PHONE)
                    .header("To", "<sip:a@b>")
                    .header("From\r\nX", "<sip:a@b>"),
            ),
        ];
        for result in attempts {
            assert!(matches!(result, Err(Error::InvalidInput(_))), "{kind:?}: {result:?}");
        }
    }
    assert_eq!(server.request_count(), 0, "nothing may reach the server");
    assert!(server.uac_requests().is_empty());
}

#[test]
fn missing_to_or_from_and_body_without_content_type_are_refused_locally() {
    let server = TestServer::start();
    let client = client(&server, Kind::Datagram);
    let no_from = UacDlg::new("NOTIFY", PHONE).header("To", "<sip:a@b>");
    let bare_body = UacDlg::new("NOTIFY", PHONE)
        .header("To", "<sip:a@b>")
        .header("From", "<sip:a@b>;tag=1")
        .body("x");
    for request in [no_from, bare_body] {
        assert!(matches!(client.uac_dlg(&request), Err(Error::InvalidInput(_))));
    }
    assert_eq!(server.request_count(), 0);
}

#[test]
fn xmlrpc_carries_crlf_intact() {
    // A raw CR LF inside XML would reach OpenSIPS as LF; the client sends &#13;.
    let server = TestServer::start();
    client(&server, Kind::XmlRpc).event_notify(PHONE, "check-sync", &[]).unwrap();
    let headers = &server.uac_requests()[0].headers;
    assert_eq!(headers.matches("\r\n").count(), headers.matches('\n').count(), "{headers:?}");
}

#[test]
fn a_dead_phone_is_a_408_status_and_with_timeout_shortens_the_wait() {
    let server = TestServer::start();
    server.set_uac_delay(std::time::Duration::from_millis(50));
    let dead = "sip:dead@127.0.0.1:5070";
    let reply = client(&server, Kind::Datagram).event_notify(dead, "snom_reboot", &[]).unwrap();
    let status = reply.sip_status().unwrap();
    assert_eq!(
        (status.code, status.line, status.is_success()),
        (408, "408 Request Timeout", false)
    );
    // The library's timeout applies to t_uac_dlg as the command line's --timeout does.
    server.set_uac_delay(std::time::Duration::from_secs(5));
    let short = client(&server, Kind::Datagram).with_timeout(std::time::Duration::from_millis(200));
    let started = std::time::Instant::now();
    let result = short.event_notify(dead, "snom_reboot", &[]);
    assert!(matches!(result, Err(Error::Timeout(_))), "{result:?}");
    assert!(started.elapsed() < std::time::Duration::from_secs(3));
}
