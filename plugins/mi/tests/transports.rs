//! Each transport against the test MI server over real sockets and FIFOs: results, every error
//! shape, a 5 KB reply, timeouts and malformed replies, with the request bytes checked against
//! the captures of the real OpenSIPS 3.5.9.

mod support;

use ctiproxy_mi::test_server::{Injection, Kind, TestServer};
use ctiproxy_mi::{Error, Params};
use serde_json::json;
use support::{assert_request_matches, capture, client, impatient_client, KINDS};

#[test]
fn uptime_on_every_transport() {
    for kind in KINDS {
        let server = TestServer::start();
        let reply = client(&server, kind).command("uptime", Params::None).unwrap();
        assert_eq!(reply.value()["Up time"], json!("92 [sec]"), "{kind:?}");
        assert_request_matches(&server, kind, "uptime");
    }
}

#[test]
fn which_on_every_transport() {
    for kind in KINDS {
        let server = TestServer::start();
        let reply = client(&server, kind).command("which", Params::None).unwrap();
        let commands = reply.value().as_array().unwrap();
        assert_eq!(commands.len(), 43, "{kind:?}");
        assert!(commands.contains(&json!("t_uac_dlg")));
        assert_request_matches(
            &server,
            kind,
            if kind == Kind::XmlRpc { "which (no params)" } else { "which" },
        );
    }
}

#[test]
fn which_result_is_the_captured_one_over_json() {
    for kind in [Kind::Datagram, Kind::Http, Kind::Fifo] {
        let server = TestServer::start();
        let reply = client(&server, kind).command("which", Params::None).unwrap();
        let captured: serde_json::Value =
            serde_json::from_slice(&capture(Kind::Datagram, "which").response.unwrap()).unwrap();
        assert_eq!(reply.value(), &captured["result"], "{kind:?}");
    }
}

#[test]
fn get_statistics_positional_on_every_transport() {
    for kind in KINDS {
        let server = TestServer::start();
        let params = Params::positional([json!(["rcv_requests", "used_size"])]);
        let reply = client(&server, kind).command("get_statistics", params).unwrap();
        assert_eq!(
            reply.value(),
            &json!({"core:rcv_requests": 0, "shmem:used_size": 3503120}),
            "{kind:?}"
        );
        let case = match kind {
            Kind::XmlRpc => "get_statistics positional: one array param",
            _ => "get_statistics positional (array inside array)",
        };
        assert_request_matches(&server, kind, case);
    }
}

#[test]
fn get_statistics_named_on_every_transport() {
    for kind in KINDS {
        let server = TestServer::start();
        let params = Params::named([("statistics", json!(["rcv_requests", "used_size"]))]);
        let reply = client(&server, kind).command("get_statistics", params).unwrap();
        assert_eq!(
            reply.value(),
            &json!({"core:rcv_requests": 0, "shmem:used_size": 3503120}),
            "{kind:?}"
        );
        let case = if kind == Kind::XmlRpc {
            "get_statistics named: one struct param"
        } else {
            "get_statistics named"
        };
        assert_request_matches(&server, kind, case);
    }
}

#[test]
fn empty_object_and_duplicate_keys_on_every_transport() {
    for kind in KINDS {
        let server = TestServer::start();
        let client = client(&server, kind);
        let none = client
            .command("get_statistics", Params::named([("statistics", json!(["shmem:used_size"]))]))
            .unwrap();
        assert_eq!(none.value(), &json!({}), "{kind:?}");
        let twice = client
            .command(
                "get_statistics",
                Params::named([("statistics", json!(["shmem:", "used_size"]))]),
            )
            .unwrap();
        assert_eq!(twice.value().as_object().unwrap().len(), 6, "{kind:?}");
        assert_eq!(twice.raw_json().matches("\"shmem:used_size\"").count(), 2, "{kind:?}");
        assert_eq!(twice.to_pretty_json().matches("\"shmem:used_size\"").count(), 2, "{kind:?}");
    }
}

fn mi_error(result: Result<ctiproxy_mi::Reply, Error>) -> ctiproxy_mi::MiError {
    match result {
        Err(Error::Mi(error)) => error,
        other => panic!("expected an MI error, got {other:?}"),
    }
}

#[test]
fn unknown_command_on_every_transport() {
    for kind in KINDS {
        let server = TestServer::start();
        let error = mi_error(client(&server, kind).command("foo_bar", Params::None));
        assert_eq!(error.code, -32601, "{kind:?}");
        let expected = if kind == Kind::XmlRpc {
            "server error. requested method not found"
        } else {
            "Method not found"
        };
        assert_eq!(error.message, expected);
        assert_request_matches(&server, kind, "unknown command");
    }
}

#[test]
fn bad_params_on_every_transport() {
    for kind in KINDS {
        let server = TestServer::start();
        let client = client(&server, kind);
        let count = mi_error(client.command("uptime", Params::positional(["x"])));
        assert_eq!(count.code, -32602, "{kind:?}");
        let bad_type =
            mi_error(client.command("get_statistics", Params::positional(["rcv_requests"])));
        assert_eq!(bad_type.code, -32602, "{kind:?}");
        if kind != Kind::XmlRpc {
            assert_eq!(count.data, Some(json!("Too few or too many parameters")));
            assert_eq!(bad_type.data, Some(json!("Bad type for parameter 'statistics'")));
        }
        let from_missing = mi_error(client.command(
            "t_uac_dlg",
            Params::named([
                ("method", "NOTIFY"),
                ("ruri", "sip:alice@127.0.0.1:5070"),
                ("headers", "To: <sip:alice@127.0.0.1:5070>\r\n\r\n"),
            ]),
        ));
        assert_eq!(
            (from_missing.code, from_missing.message.as_str(), from_missing.data),
            (400, "From missing", None),
            "{kind:?}"
        );
    }
}

#[test]
fn five_kilobyte_reply_on_every_transport() {
    for kind in KINDS {
        let server = TestServer::start();
        let reply = client(&server, kind).command("list_statistics", Params::None).unwrap();
        assert!(reply.raw_json().len() > 4096, "{kind:?}: {} bytes", reply.raw_json().len());
        assert_eq!(reply.value()["tm:timeout_finalresponse_inv"], json!("incremental"), "{kind:?}");
    }
}

#[test]
fn timeout_on_every_transport() {
    for kind in KINDS {
        let server = TestServer::start();
        server.inject(kind, Injection::Silence);
        let result = impatient_client(&server, kind).command("uptime", Params::None);
        assert!(matches!(result, Err(Error::Timeout(_))), "{kind:?}: {result:?}");
    }
}

#[test]
fn uac_dlg_to_a_dead_phone_times_out_with_a_short_uac_timeout() {
    for kind in KINDS {
        let server = TestServer::start();
        let notify = ctiproxy_mi::UacDlg::new("NOTIFY", "sip:dead@127.0.0.1:5099")
            .header("To", "<sip:dead@127.0.0.1:5099>")
            .header("From", "<sip:dead@127.0.0.1:5099>;tag=1");
        let result = impatient_client(&server, kind).uac_dlg(&notify);
        assert!(matches!(result, Err(Error::Timeout(_))), "{kind:?}: {result:?}");
    }
}

#[test]
fn uac_dlg_outlives_the_call_timeout() {
    for kind in KINDS {
        let server = TestServer::start();
        server.set_uac_delay(std::time::Duration::from_millis(400));
        let client = client(&server, kind)
            .with_timeout(std::time::Duration::from_millis(100))
            .with_uac_dlg_timeout(std::time::Duration::from_secs(20));
        let reply = client.event_notify("sip:dead@127.0.0.1:5099", "check-sync", &[]).unwrap();
        assert_eq!(reply.value(), &json!({"Status": "408 Request Timeout"}), "{kind:?}");
    }
}

fn http_200(body: &[u8], content_type: &str) -> Vec<u8> {
    let head = format!("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n", body.len());
    [head.as_bytes(), body].concat()
}

#[test]
fn malformed_reply_on_every_transport() {
    let garbage: [(Kind, Vec<u8>); 6] = [
        (Kind::Datagram, capture(Kind::Datagram, "malformed JSON").response.unwrap()),
        (Kind::Datagram, capture(Kind::Datagram, "id object (invalid)").response.unwrap()),
        (Kind::Http, http_200(br#"{"jsonrpc":"2.0","resu"#, "application/json")),
        (Kind::XmlRpc, http_200(br#"{"jsonrpc":"2.0","result":{},"id":1}"#, "text/xml")),
        (Kind::Fifo, capture(Kind::Fifo, "id object (invalid)").response.unwrap()),
        (Kind::Fifo, Vec::new()),
    ];
    for (kind, bytes) in garbage {
        let server = TestServer::start();
        server.inject(kind, Injection::Reply(bytes.clone()));
        let result = client(&server, kind).command("uptime", Params::None);
        assert!(
            matches!(result, Err(Error::MalformedReply { .. })),
            "{kind:?} {bytes:?}: {result:?}"
        );
    }
}

#[test]
fn datagram_plain_text_parse_error_is_an_error() {
    let server = TestServer::start();
    server.inject(Kind::Datagram, Injection::Reply(b"400 Parse_error".to_vec()));
    let Err(Error::MalformedReply { raw, .. }) =
        client(&server, Kind::Datagram).command("uptime", Params::None)
    else {
        panic!("expected a malformed reply")
    };
    assert_eq!(raw, "400 Parse_error");
}

#[test]
fn http_error_without_body_is_reported_from_the_status_line() {
    // The captured 500 sends chunked headers and then nothing while keeping the connection:
    // with a generous timeout, only deciding on the status line returns at all.
    let endless = capture(Kind::Http, "id object (invalid)").response.unwrap();
    for kind in [Kind::Http, Kind::XmlRpc] {
        let server = TestServer::start();
        server.inject(kind, Injection::Reply(endless.clone()));
        let client = client(&server, kind).with_timeout(std::time::Duration::from_secs(60));
        let result = client.command("uptime", Params::None);
        assert!(
            matches!(result, Err(Error::HttpStatus { status: 500, .. })),
            "{kind:?}: {result:?}"
        );
    }
}

#[test]
fn xmlrpc_faults_are_mi_errors() {
    let server = TestServer::start();
    let client = client(&server, Kind::XmlRpc);
    let fault = mi_error(
        client.command("t_uac_dlg", Params::positional(["NOTIFY", "sip:a@b", "To: <sip:a@b>\r\n"])),
    );
    assert_eq!(
        (fault.code, fault.message.as_str()),
        (-32602, "server error. invalid method parameters")
    );
    let not_well_formed = capture(Kind::XmlRpc, "malformed XML").response.unwrap();
    server.inject(Kind::XmlRpc, Injection::Reply(not_well_formed));
    let fault = mi_error(client.command("uptime", Params::None));
    assert_eq!((fault.code, fault.message.as_str()), (32700, "parse error. not well formed"));
}

#[test]
fn nobody_listening_is_a_transport_failure() {
    let server = TestServer::start();
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let endpoints = [
        ctiproxy_mi::Endpoint::Http(format!("http://{closed}/mi")),
        ctiproxy_mi::Endpoint::Fifo {
            path: server.reply_dir().join("missing_fifo"),
            reply_dir: server.reply_dir().to_owned(),
        },
    ];
    for endpoint in endpoints {
        let result =
            ctiproxy_mi::Client::new(endpoint.clone()).unwrap().command("uptime", Params::None);
        assert!(matches!(result, Err(Error::Transport { .. })), "{endpoint:?}: {result:?}");
    }
}

#[test]
fn unknown_http_path_is_an_http_status() {
    let server = TestServer::start();
    let url = format!("http://{}/nope", server.http_addr());
    let result = ctiproxy_mi::Client::new(ctiproxy_mi::Endpoint::Http(url))
        .unwrap()
        .command("uptime", Params::None);
    assert!(matches!(result, Err(Error::HttpStatus { status: 400, .. })), "{result:?}");
}

#[test]
fn oversize_requests_are_refused_before_sending() {
    let server = TestServer::start();
    let long = "x".repeat(5000);
    let fifo =
        client(&server, Kind::Fifo).command("get_statistics", Params::positional([json!([long])]));
    assert!(matches!(fifo, Err(Error::InvalidInput(_))), "{fifo:?}");
    let huge = "x".repeat(70_000);
    let datagram = client(&server, Kind::Datagram)
        .command("get_statistics", Params::positional([json!([huge])]));
    assert!(matches!(datagram, Err(Error::InvalidInput(_))), "{datagram:?}");
    assert_eq!(server.request_count(), 0);
}

#[test]
fn a_fifo_request_just_under_4096_bytes_works() {
    let server = TestServer::start();
    let client = client(&server, Kind::Fifo);
    // The line is prefix + JSON + newline; find a statistic name length that lands at 4095.
    let probe = client.command("get_statistics", Params::positional([json!(["x"])])).unwrap();
    assert_eq!(probe.value(), &json!({}));
    let base = server.requests(Kind::Fifo)[0].len();
    let name = "y".repeat(4095 - base + 1);
    let reply = client.command("get_statistics", Params::positional([json!([name])])).unwrap();
    assert_eq!(reply.value(), &json!({}));
    assert_eq!(server.requests(Kind::Fifo)[1].len(), 4095);
}

#[test]
fn ids_are_sent_and_within_int32() {
    let server = TestServer::start();
    let client = client(&server, Kind::Datagram);
    for _ in 0..3 {
        client.command("uptime", Params::None).unwrap();
    }
    for request in server.requests(Kind::Datagram) {
        let request: serde_json::Value = serde_json::from_slice(&request).unwrap();
        let id = request["id"].as_i64().expect("an integer id");
        assert!((1..=i64::from(i32::MAX)).contains(&id), "{id}");
    }
}

type Seen = std::sync::Arc<std::sync::Mutex<Vec<(ctiproxy_mi::Direction, Vec<u8>)>>>;

#[test]
fn an_observer_sees_the_bytes_sent_and_received_on_every_transport() {
    for kind in KINDS {
        let server = TestServer::start();
        let seen = Seen::default();
        let log = Seen::clone(&seen);
        let client = client(&server, kind).with_observer(move |direction, bytes| {
            log.lock().unwrap().push((direction, bytes.to_vec()))
        });
        client.command("uptime", Params::None).unwrap();
        let seen = seen.lock().unwrap();
        let (sent, received): (Vec<_>, Vec<_>) =
            seen.iter().partition(|(direction, _)| *direction == ctiproxy_mi::Direction::Sent);
        assert_eq!(sent.len(), 1, "{kind:?}");
        assert_eq!(sent[0].1, server.requests(kind)[0], "{kind:?}: the request as sent");
        let received: Vec<u8> = received.iter().flat_map(|(_, bytes)| bytes.clone()).collect();
        let received = String::from_utf8_lossy(&received);
        assert!(received.contains("92 [sec]"), "{kind:?}: {received}");
        assert_eq!(received.starts_with("HTTP/1.1 200"), matches!(kind, Kind::Http | Kind::XmlRpc));
    }
}
