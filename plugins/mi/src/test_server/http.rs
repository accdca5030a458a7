//! The test server's HTTP side, shared like OpenSIPS's httpd by mi_http (`/mi`) and
//! mi_xmlrpc_ng (`/RPC2`): every JSON-RPC or XML-RPC answer is `200` with a Content-Length;
//! `202` (notification), `500` (unprintable id), `405` (GET) and `400` (empty body) send
//! chunked headers and then nothing, keeping the connection open; an unknown path is a
//! terminated `400` HTML page; an unsupported Content-Type or an oversize body is dropped.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::thread;
use std::time::Duration;

use super::engine::Answer;
use super::{xmlrpc, Injection, Kind, Shared};

// httpd's input buffer: larger bodies get the connection closed without a reply.
const MAX_BODY: usize = 16267;
const HOLD: Duration = Duration::from_secs(60);
const DATE: &str = "Date: Sun, 22 Nov 2026 21:22:28 GMT";

pub(crate) fn start(shared: Shared) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind the test HTTP listener");
    let addr = listener.local_addr().expect("local address");
    thread::spawn(move || {
        for stream in listener.incoming() {
            if shared.stopping() {
                return;
            }
            let shared = shared.clone();
            if let Ok(stream) = stream {
                thread::spawn(move || serve(stream, &shared));
            }
        }
    });
    addr
}

pub(crate) fn wake(addr: SocketAddr) {
    let _ = TcpStream::connect_timeout(&addr, Duration::from_secs(1));
}

struct Request {
    method: String,
    path: String,
    content_type: Option<String>,
    body: Vec<u8>,
    oversize: bool,
    raw: Vec<u8>,
}

enum Response {
    Complete { status: &'static str, content_type: &'static str, body: Vec<u8>, delay: Duration },
    Endless(&'static str),
    Close,
}

fn serve(mut stream: TcpStream, shared: &Shared) {
    let _ = stream.set_read_timeout(Some(HOLD));
    let Some(request) = read_request(&mut stream) else { return };
    let kind = if under(&request.path, "/RPC2") { Kind::XmlRpc } else { Kind::Http };
    shared.record(kind, &request.raw);
    match shared.take_injection(kind) {
        Some(Injection::Reply(bytes)) => {
            let _ = stream.write_all(&bytes);
            return hold(stream);
        }
        Some(Injection::Silence) => return hold(stream),
        None => {}
    }
    match respond(&request, shared, kind) {
        Response::Complete { status, content_type, body, delay } => {
            thread::sleep(delay);
            let head = format!(
                "HTTP/1.1 {status}\r\n{DATE}\r\nConnection: close\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(&[head.as_bytes(), &body].concat());
        }
        Response::Endless(status) => {
            let head = format!(
                "HTTP/1.1 {status}\r\n{DATE}\r\nConnection: close\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
            );
            let _ = stream.write_all(head.as_bytes());
            hold(stream);
        }
        Response::Close => {}
    }
}

// Like httpd: the headers went out, the body never comes; wait for the client to give up.
fn hold(mut stream: TcpStream) {
    let mut sink = [0u8; 1024];
    while matches!(stream.read(&mut sink), Ok(n) if n > 0) {}
}

fn under(path: &str, root: &str) -> bool {
    path == root || path.starts_with(&format!("{root}/"))
}

fn respond(request: &Request, shared: &Shared, kind: Kind) -> Response {
    let page = |status, text: &str| Response::Complete {
        status,
        content_type: "text/html",
        body: format!("<html><body>{text}</body></html>").into_bytes(),
        delay: Duration::ZERO,
    };
    match request.method.as_str() {
        "POST" => {}
        "PUT" => return page("406 Not Acceptable", "Unsupported HTTP request!"),
        _ => return Response::Endless("405 Method Not Allowed"),
    }
    if !under(&request.path, "/mi") && kind == Kind::Http {
        return page("400 Bad Request", "Unable to parse URL!");
    }
    let media = request
        .content_type
        .as_deref()
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match media.as_str() {
        "application/json" | "text/xml" => {}
        "application/x-www-form-urlencoded" => return Response::Endless("400 Bad Request"),
        _ => return Response::Close,
    }
    if request.oversize {
        return Response::Close;
    }
    if request.body.is_empty() {
        return Response::Endless("400 Bad Request");
    }
    if kind == Kind::XmlRpc {
        let (xml, delay) = xmlrpc::answer(&shared.engine, &request.body);
        return Response::Complete {
            status: "200 OK",
            content_type: "text/xml; charset=utf-8",
            body: xml.into_bytes(),
            delay,
        };
    }
    json_response(shared.engine.answer(&request.body))
}

fn json_response(answer: Answer) -> Response {
    let ok = |json: String, delay| Response::Complete {
        status: "200 OK",
        content_type: "application/json",
        body: json.into_bytes(),
        delay,
    };
    match answer {
        Answer::ParseError => ok(
            r#"{"jsonrpc":"2.0","error":{"code":-32700,"message":"Parse error"},"id":null}"#.into(),
            Duration::ZERO,
        ),
        Answer::Reply { json, delay } => ok(json, delay),
        Answer::Notification => Response::Endless("202 Accepted"),
        Answer::Unprintable => Response::Endless("500 Internal Server Error"),
    }
}

fn read_request(stream: &mut TcpStream) -> Option<Request> {
    let mut raw = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        let n = stream.read(&mut chunk).ok()?;
        if n == 0 {
            return None;
        }
        raw.extend_from_slice(&chunk[..n]);
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut parsed = httparse::Request::new(&mut headers);
        let Ok(httparse::Status::Complete(head_len)) = parsed.parse(&raw) else { continue };
        let header = |name: &str| {
            parsed
                .headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case(name))
                .map(|h| String::from_utf8_lossy(h.value).into_owned())
        };
        let length: usize =
            header("content-length").and_then(|v| v.trim().parse().ok()).unwrap_or(0);
        let mut request = Request {
            method: parsed.method.unwrap_or_default().to_owned(),
            path: parsed.path.unwrap_or_default().to_owned(),
            content_type: header("content-type"),
            body: Vec::new(),
            oversize: length > MAX_BODY,
            raw: Vec::new(),
        };
        if !request.oversize {
            while raw.len() < head_len + length {
                let n = stream.read(&mut chunk).ok()?;
                if n == 0 {
                    return None;
                }
                raw.extend_from_slice(&chunk[..n]);
            }
            request.body = raw[head_len..head_len + length].to_vec();
        }
        request.raw = raw;
        return Some(request);
    }
}
