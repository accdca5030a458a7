//! The test MI server against the captures, through raw sockets: the requests the real
//! OpenSIPS 3.5.9 got are replayed byte for byte and the deterministic answers must match, so
//! the client tests run against a faithful server.

mod support;

use std::io::{Read, Write};
use std::net::{TcpStream, UdpSocket};
use std::time::Duration;

use ctiproxy_mi::test_server::{Kind, TestServer};
use support::capture;

const DETERMINISTIC: &[&str] = &[
    "which",
    "get_statistics positional (array inside array)",
    "get_statistics named, group:name form (no match)",
    "get_statistics positional flattened (2 strings)",
    "get_statistics positional single string",
    "unknown command",
    "bad params: uptime with positional param",
    "bad params: get_statistics without params",
    "bad params: get_statistics wrong param name",
    "bad params: log_level level not int",
    "log_level named int",
    "log_level positional string '3'",
    "missing jsonrpc member",
    "jsonrpc 1.0",
    "params is a string",
    "t_uac_dlg positional (method,ruri,next_hop,socket,headers)",
    "t_uac_dlg missing From header",
    "t_uac_dlg bad ruri",
    "t_uac_dlg body without Content-Type",
];

/// Cases whose reply varies (uptime) except for the echoed id.
const ID_ECHO: &[(&str, &str)] =
    &[("id big number 4294967296", r#""id":2147483647}"#), ("id float 1.5", r#""id":1}"#)];

fn datagram_exchange(server: &TestServer, request: &[u8]) -> Option<Vec<u8>> {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.set_read_timeout(Some(Duration::from_millis(300))).unwrap();
    socket.send_to(request, server.datagram_addr()).unwrap();
    let mut buffer = vec![0u8; 65536];
    let (n, from) = socket.recv_from(&mut buffer).ok()?;
    assert_eq!(from.to_string(), server.datagram_addr(), "replies come from the MI socket");
    Some(buffer[..n].to_vec())
}

#[test]
fn datagram_answers_like_the_captures() {
    let server = TestServer::start();
    let mut cases = DETERMINISTIC.to_vec();
    cases.extend([
        "missing method",
        "batch array",
        "malformed JSON",
        "not JSON at all",
        "id object (invalid)",
    ]);
    for case in cases {
        let captured = capture(Kind::Datagram, case);
        let answer = datagram_exchange(&server, &captured.request);
        assert_eq!(
            answer.map(String::from_utf8),
            captured.response.map(String::from_utf8),
            "{case}"
        );
    }
    for (case, id) in ID_ECHO {
        let answer = datagram_exchange(&server, &capture(Kind::Datagram, case).request).unwrap();
        assert!(String::from_utf8(answer).unwrap().ends_with(id), "{case}");
    }
    let notification = capture(Kind::Datagram, "id missing (notification)");
    assert_eq!(datagram_exchange(&server, &notification.request), None);
}

fn http_exchange(server: &TestServer, request: &[u8]) -> Vec<u8> {
    let mut stream = TcpStream::connect(server.http_addr()).unwrap();
    stream.set_read_timeout(Some(Duration::from_millis(500))).unwrap();
    stream.write_all(request).unwrap();
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    answer
}

fn without_date(response: &[u8]) -> String {
    String::from_utf8_lossy(response)
        .split("\r\n")
        .filter(|line| !line.starts_with("Date: "))
        .collect::<Vec<_>>()
        .join("\r\n")
}

#[test]
fn http_answers_like_the_captures() {
    let server = TestServer::start();
    let mut cases = DETERMINISTIC.to_vec();
    cases.extend([
        "malformed JSON",
        "not JSON at all",
        "batch array",
        "id missing (notification)",
        "id object (invalid)",
    ]);
    for case in cases {
        let captured = capture(Kind::Http, case);
        let request = String::from_utf8(captured.request.clone())
            .unwrap()
            .replace("127.0.0.1:8888", &server.http_addr().to_string());
        let answer = http_exchange(&server, request.as_bytes());
        assert_eq!(without_date(&answer), without_date(&captured.response.unwrap()), "{case}");
    }
    for (case, id) in ID_ECHO {
        let captured = capture(Kind::Http, case);
        let request = String::from_utf8(captured.request)
            .unwrap()
            .replace("127.0.0.1:8888", &server.http_addr().to_string());
        assert!(without_date(&http_exchange(&server, request.as_bytes())).ends_with(id), "{case}");
    }
}

#[test]
fn xmlrpc_answers_like_the_captures() {
    let server = TestServer::start();
    let cases = [
        "which (no params)",
        "get_statistics as the Ruby gem sends it (hash values flattened into positional strings)",
        "unknown command",
        "bad params: uptime with a param",
        "bad params: get_statistics without params",
        "log_level <int> positional",
        "log_level <i4> named",
        "untyped <value>3</value> (XML-RPC default string)",
        "<boolean> param",
        "empty <string></string> param",
        "malformed XML",
        "no methodName",
        "t_uac_dlg positional as the Ruby gem sends it (method, ruri, headers values)",
        "t_uac_dlg missing From (named)",
    ];
    for case in cases {
        let captured = capture(Kind::XmlRpc, case);
        let request = String::from_utf8(captured.request.clone())
            .unwrap()
            .replace("127.0.0.1:8888", &server.http_addr().to_string());
        let answer = http_exchange(&server, request.as_bytes());
        assert_eq!(without_date(&answer), without_date(&captured.response.unwrap()), "{case}");
    }
}

#[test]
fn xmlrpc_raw_crlf_reaches_the_command_as_lf() {
    let server = TestServer::start();
    let captured =
        capture(Kind::XmlRpc, "t_uac_dlg NOTIFY check-sync, named struct, literal CRLF inside XML");
    let request = String::from_utf8(captured.request)
        .unwrap()
        .replace("127.0.0.1:8888", &server.http_addr().to_string());
    http_exchange(&server, request.as_bytes());
    let headers = &server.uac_requests()[0].headers;
    assert!(headers.contains("Event: check-sync\n") && !headers.contains('\r'), "{headers:?}");
}

#[test]
fn fifo_drops_forbidden_names_and_long_lines() {
    let server = TestServer::start();
    let mut fifo = std::fs::OpenOptions::new().write(true).open(server.fifo_path()).unwrap();
    fifo.write_all(b":a.b:{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"uptime\"}\n").unwrap();
    let long = format!(
        ":x:{{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"uptime\",\"params\":[\"{}\"]}}\n",
        "a".repeat(4200)
    );
    fifo.write_all(long.as_bytes()).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while server.requests(Kind::Fifo).len() < 2 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(server.requests(Kind::Fifo).len(), 2);
    assert!(!server.reply_dir().join("x").exists() && !server.reply_dir().join("a.b").exists());
}
