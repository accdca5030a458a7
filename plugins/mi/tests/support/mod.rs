//! Shared helpers for the integration tests: the captures of the real OpenSIPS 3.5.9 (copied
//! into `tests/fixtures/`), a client per transport against the test server, and the masking
//! of the values the captures say vary (ids, tags, reply FIFO names, ports, lengths).

#![allow(dead_code)]

use std::path::PathBuf;
use std::time::Duration;

use ctiproxy_mi::test_server::{Kind, TestServer};
use ctiproxy_mi::{Client, Endpoint};

/// Every transport, for tests that run one case on each.
pub const KINDS: [Kind; 4] = [Kind::Datagram, Kind::Http, Kind::XmlRpc, Kind::Fifo];

/// A client of `server` over `kind`.
pub fn client(server: &TestServer, kind: Kind) -> Client {
    Client::new(endpoint(server, kind)).expect("valid endpoint")
}

/// A client with a short timeout, for the cases that must time out.
pub fn impatient_client(server: &TestServer, kind: Kind) -> Client {
    let short = Duration::from_millis(200);
    client(server, kind).with_timeout(short).with_uac_dlg_timeout(short)
}

/// The endpoint of `server` for `kind`.
pub fn endpoint(server: &TestServer, kind: Kind) -> Endpoint {
    match kind {
        Kind::Datagram => Endpoint::Datagram(server.datagram_addr()),
        Kind::Http => Endpoint::Http(server.http_url()),
        Kind::XmlRpc => Endpoint::XmlRpc(server.xmlrpc_url()),
        Kind::Fifo => Endpoint::Fifo {
            path: server.fifo_path().to_owned(),
            reply_dir: server.reply_dir().to_owned(),
        },
    }
}

/// The capture file for a transport.
pub fn capture_file(kind: Kind) -> &'static str {
    match kind {
        Kind::Datagram => "datagram.txt",
        Kind::Http => "http-jsonrpc.txt",
        Kind::XmlRpc => "xmlrpc.txt",
        Kind::Fifo => "fifo.txt",
    }
}

/// One captured exchange.
#[derive(Debug)]
pub struct Capture {
    pub request: Vec<u8>,
    pub response: Option<Vec<u8>>,
}

/// The capture named `case` in `kind`'s file.
pub fn capture(kind: Kind, case: &str) -> Capture {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(capture_file(kind));
    let text = std::fs::read(&path).expect("read capture");
    let marker = format!("CASE: {case}\n");
    let start = find(&text, marker.as_bytes())
        .unwrap_or_else(|| panic!("no case {case:?} in {path:?}"))
        + marker.len();
    let section = &text[start..];
    let request = block_after(section, b"REQ", kind).expect("a REQ");
    let response = block_after(section, b"RESP", kind);
    Capture { request, response }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

// The XML-RPC file holds raw bytes counted by "(N bytes"; the others one repr-escaped line.
fn block_after(section: &[u8], label: &[u8], kind: Kind) -> Option<Vec<u8>> {
    let end = find(section, b"\n=====").unwrap_or(section.len());
    let section = &section[..end];
    let at = section.split(|b| *b == b'\n').position(|line| line.starts_with(label))?;
    let mut lines = section.split(|b| *b == b'\n').skip(at);
    let head = lines.next()?;
    if kind == Kind::XmlRpc {
        let count: usize =
            std::str::from_utf8(head).ok()?.split('(').nth(1)?.split(' ').next()?.parse().ok()?;
        let offset = find(section, head)? + head.len() + 1;
        return Some(section[offset..offset + count].to_vec());
    }
    let line = lines.next()?;
    (!line.starts_with(b"<")).then(|| unrepr(line))
}

/// Undoes the Python-bytes-repr notation of the captures (`\r\n` CR LF, `\\` backslash, `\'`).
pub fn unrepr(line: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut bytes = line.iter();
    while let Some(&b) = bytes.next() {
        if b != b'\\' {
            out.push(b);
            continue;
        }
        match bytes.next() {
            Some(b'r') => out.push(b'\r'),
            Some(b'n') => out.push(b'\n'),
            Some(b't') => out.push(b'\t'),
            Some(&other) => out.push(other),
            None => out.push(b'\\'),
        }
    }
    out
}

/// Masks what varies between runs: JSON ids, SIP tags, FIFO reply names, the HTTP port and
/// Content-Length (checked separately by [`assert_content_length`]).
pub fn masked(bytes: &[u8]) -> String {
    let mut text = String::from_utf8_lossy(bytes).into_owned();
    text = mask(&text, "\"id\":", |c| c.is_ascii_digit());
    text = mask(&text, "tag=", |c| c.is_ascii_alphanumeric());
    text = mask(&text, "Host: 127.0.0.1:", |c| c.is_ascii_digit());
    text = mask(&text, "Content-Length: ", |c| c.is_ascii_digit());
    if text.starts_with(':') {
        if let Some(end) = text[1..].find(':') {
            text = format!(":NAME{}", &text[end + 1..]);
        }
    }
    text
}

fn mask(text: &str, prefix: &str, varies: impl Fn(char) -> bool) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find(prefix) {
        out.push_str(&rest[..at + prefix.len()]);
        rest = &rest[at + prefix.len()..];
        let run = rest.find(|c: char| !varies(c)).unwrap_or(rest.len());
        if run > 0 {
            out.push('X');
        }
        rest = &rest[run..];
    }
    out.push_str(rest);
    out
}

/// Checks an HTTP request's Content-Length against its body.
pub fn assert_content_length(request: &[u8]) {
    let text = String::from_utf8_lossy(request);
    let (head, body) = text.split_once("\r\n\r\n").expect("an HTTP request");
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("Content-Length: "))
        .expect("a Content-Length")
        .parse()
        .unwrap();
    assert_eq!(length, body.len(), "Content-Length of {text}");
}

/// The only request the server received on `kind`.
pub fn only_request(server: &TestServer, kind: Kind) -> Vec<u8> {
    let requests = server.requests(kind);
    assert_eq!(requests.len(), 1, "requests on {kind:?}: {requests:?}");
    requests.into_iter().next().unwrap()
}

/// Checks that the one request received on `kind` is the captured one, apart from what varies.
pub fn assert_request_matches(server: &TestServer, kind: Kind, case: &str) {
    let sent = only_request(server, kind);
    if matches!(kind, Kind::Http | Kind::XmlRpc) {
        assert_content_length(&sent);
    }
    assert_eq!(masked(&sent), masked(&capture(kind, case).request), "{kind:?} {case}");
}
