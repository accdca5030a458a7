//! Replies no OpenSIPS would send, over the test server's real sockets and FIFOs: nesting
//! hundreds or thousands of levels deep, bodies and chunk lines without end. Each must come
//! back as a typed error, never as a panic, a stack overflow or unbounded buffering.

mod support;

use std::time::Duration;

use ctiproxy_mi::test_server::{Injection, Kind, TestServer};
use ctiproxy_mi::{Error, Params};
use support::{client, KINDS};

const JSON_KINDS: [Kind; 3] = [Kind::Datagram, Kind::Http, Kind::Fifo];

fn nested_json(levels: usize) -> String {
    format!("{}{}", "[".repeat(levels), "]".repeat(levels))
}

/// The reply as `kind` carries it: the datagram payload or FIFO content as is, in an HTTP 200
/// with a Content-Length for HTTP.
fn framed(kind: Kind, body: &[u8]) -> Vec<u8> {
    if !matches!(kind, Kind::Http | Kind::XmlRpc) {
        return body.to_vec();
    }
    let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len());
    [head.as_bytes(), body].concat()
}

fn reply_to_uptime(kind: Kind, reply: Vec<u8>) -> Result<ctiproxy_mi::Reply, Error> {
    let server = TestServer::start();
    server.inject(kind, Injection::Reply(reply));
    client(&server, kind).command("uptime", Params::None)
}

fn assert_malformed(result: Result<ctiproxy_mi::Reply, Error>, why: &str, case: &str) {
    match result {
        Err(Error::MalformedReply { reason, .. }) => {
            assert!(reason.contains(why), "{case}: reason {reason:?} lacks {why:?}")
        }
        other => panic!("{case}: expected a malformed reply ({why}), got {other:?}"),
    }
}

#[test]
fn a_json_rpc_id_nested_200_levels_deep_is_malformed() {
    for kind in JSON_KINDS {
        let body = format!(r#"{{"jsonrpc":"2.0","result":"OK","id":{}}}"#, nested_json(200));
        let result = reply_to_uptime(kind, framed(kind, body.as_bytes()));
        assert_malformed(result, "nested too deep", &format!("{kind:?}"));
    }
}

#[test]
fn a_json_rpc_result_or_error_nested_too_deep_is_malformed() {
    for kind in JSON_KINDS {
        for body in [
            format!(r#"{{"jsonrpc":"2.0","result":{},"id":1}}"#, nested_json(5000)),
            format!(
                r#"{{"jsonrpc":"2.0","error":{{"code":1,"message":"x","data":{}}},"id":1}}"#,
                nested_json(5000)
            ),
        ] {
            let result = reply_to_uptime(kind, framed(kind, body.as_bytes()));
            assert_malformed(result, "nested too deep", &format!("{kind:?}"));
        }
    }
}

#[test]
fn an_xml_rpc_reply_nested_16000_levels_deep_is_malformed() {
    let levels = 16_000;
    let body = format!(
        "<?xml version=\"1.0\"?>\n<methodResponse><params><param>{}<value><int>1</int></value>{}</param></params></methodResponse>",
        "<value><array><data>".repeat(levels),
        "</data></array></value>".repeat(levels)
    );
    let result = reply_to_uptime(Kind::XmlRpc, framed(Kind::XmlRpc, body.as_bytes()));
    assert_malformed(result, "nested too deep", "XML-RPC");
}

#[test]
fn a_moderately_nested_xml_rpc_reply_still_works() {
    let levels = 20;
    let body = format!(
        "<methodResponse><params><param>{}<value><int>1</int></value>{}</param></params></methodResponse>",
        "<value><array><data>".repeat(levels),
        "</data></array></value>".repeat(levels)
    );
    let reply = reply_to_uptime(Kind::XmlRpc, framed(Kind::XmlRpc, body.as_bytes())).unwrap();
    assert_eq!(reply.raw_json(), format!("{}1{}", "[".repeat(levels), "]".repeat(levels)));
}

#[test]
fn an_endless_chunk_size_line_is_malformed_before_the_timeout() {
    // The connection stays open after the injected bytes: without a bound the client would
    // buffer the extension until the (generous) deadline.
    let mut reply = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1;".to_vec();
    reply.extend(std::iter::repeat_n(b'x', 200_000));
    for kind in [Kind::Http, Kind::XmlRpc] {
        let server = TestServer::start();
        server.inject(kind, Injection::Reply(reply.clone()));
        let client = client(&server, kind).with_timeout(Duration::from_secs(600));
        assert_malformed(client.command("uptime", Params::None), "too long", &format!("{kind:?}"));
    }
}

#[test]
fn an_oversized_fifo_reply_is_refused() {
    let reply = vec![b' '; 17 * 1024 * 1024];
    assert_malformed(reply_to_uptime(Kind::Fifo, reply), "too large", "FIFO");
}

#[test]
fn a_huge_timeout_saturates_instead_of_panicking() {
    for kind in KINDS {
        let server = TestServer::start();
        let client = client(&server, kind).with_timeout(Duration::MAX);
        let reply = client.command("uptime", Params::None).unwrap();
        assert!(reply.value().get("Up time").is_some(), "{kind:?}");
    }
}

#[test]
fn an_http_head_without_end_or_with_too_many_headers_is_malformed() {
    let mut endless = b"HTTP/1.1 200 OK\r\nX-Pad: ".to_vec();
    endless.extend(std::iter::repeat_n(b'x', 200_000));
    let many = format!("HTTP/1.1 200 OK\r\n{}\r\n", "X-A: 1\r\n".repeat(1000)).into_bytes();
    for (reply, why) in [(endless, "HTTP header too long"), (many, "too many headers")] {
        for kind in [Kind::Http, Kind::XmlRpc] {
            let server = TestServer::start();
            server.inject(kind, Injection::Reply(reply.clone()));
            let client = client(&server, kind).with_timeout(Duration::from_secs(600));
            assert_malformed(client.command("uptime", Params::None), why, &format!("{kind:?}"));
        }
    }
}
