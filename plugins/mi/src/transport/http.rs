//! mi_http: JSON-RPC in an HTTP/1.1 POST, and the small HTTP client that mi_xmlrpc_ng shares.
//!
//! Why not an HTTP crate: OpenSIPS's httpd answers every non-200 (`202`, `400`, `405`, `500`)
//! with `Transfer-Encoding: chunked` headers and then never sends the body nor closes the
//! connection, so the client must decide on the status line alone, inside one deadline for the
//! whole exchange. Generic clients read or drain bodies, add headers of their own and apply
//! timeouts per phase; the few lines below send exactly the bytes the captures show, stop
//! reading at the status of a non-200, and leave header parsing to `httparse`.

use std::io::{Read, Write};
use std::net::TcpStream;

use super::{parse_port, resolve, Deadline, MAX_REPLY};
use crate::error::Error;
use crate::request::Request;
use crate::response::{decode_for, Reply};
use crate::wiretap::Wiretap;

const MAX_BODY: usize = MAX_REPLY;
const MAX_HEAD: usize = 64 * 1024;
// A chunk-size line is a few hex digits; extensions are allowed but never this long.
const MAX_CHUNK_LINE: usize = 4096;
const MAX_HEADERS: usize = 64;

/// A parsed `http://host[:port]/path` URL.
#[derive(Debug, Clone)]
pub(crate) struct HttpTarget {
    authority: String,
    host_port: String,
    path: String,
}

impl HttpTarget {
    /// Parses an `http://` URL; `https` is refused, OpenSIPS's httpd speaks plain HTTP.
    pub(crate) fn parse(url: &str) -> Result<HttpTarget, Error> {
        let invalid = |why: &str| Error::InvalidInput(format!("URL {url:?}: {why}"));
        let uri: http::Uri = url.parse().map_err(|e| invalid(&format!("{e}")))?;
        if uri.scheme_str() != Some("http") {
            return Err(invalid("only http:// is supported"));
        }
        let authority = uri.authority().ok_or_else(|| invalid("no host"))?;
        let host = authority.host();
        // `http::Uri` takes any port text (`:abc`, `:99999`) and then reports no port at all,
        // which must not quietly become port 80: read the port text after the host.
        let after_userinfo =
            authority.as_str().rsplit_once('@').map_or(authority.as_str(), |(_, h)| h);
        let port = match after_userinfo.strip_prefix(host).and_then(|rest| rest.strip_prefix(':')) {
            None => 80,
            Some(port) => parse_port(port).ok_or_else(|| invalid("the port must be 1 to 65535"))?,
        };
        let path = uri.path_and_query().map_or("/", |p| p.as_str());
        Ok(HttpTarget {
            authority: authority.as_str().to_owned(),
            host_port: format!("{host}:{port}"),
            path: if path.is_empty() { "/".to_owned() } else { path.to_owned() },
        })
    }

    /// POSTs `body` and returns the body of a `200` reply; any other status is
    /// [`Error::HttpStatus`], reported without waiting for a body.
    pub(crate) fn post(
        &self,
        content_type: &str,
        body: &[u8],
        deadline: &Deadline,
        wiretap: &Wiretap,
    ) -> Result<Vec<u8>, Error> {
        let mut stream = self.connect(deadline)?;
        let mut message = format!(
            "POST {} HTTP/1.1\r\nHost: {}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            self.path,
            self.authority,
            body.len()
        )
        .into_bytes();
        message.extend_from_slice(body);
        stream
            .set_write_timeout(Some(deadline.remaining()?))
            .map_err(|e| Error::transport("set write timeout", e))?;
        wiretap.sent(&message);
        stream
            .write_all(&message)
            .map_err(|e| deadline.io_error(format!("send to {}", self.host_port), e))?;
        Reader::new(stream, deadline, wiretap).read_reply()
    }

    fn connect(&self, deadline: &Deadline) -> Result<TcpStream, Error> {
        let addrs = resolve(&self.host_port)?;
        let mut last = None;
        for addr in addrs {
            match TcpStream::connect_timeout(&addr, deadline.remaining()?) {
                Ok(stream) => return Ok(stream),
                Err(e) => last = Some(deadline.io_error(format!("connect to {addr}"), e)),
            }
        }
        Err(last.expect("resolve returns at least one address"))
    }
}

/// How the body of a 200 reply ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    /// After this many bytes (`Content-Length`).
    Length(usize),
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// When the server closes the connection.
    UntilClose,
}

/// Reads one HTTP reply under the call's deadline.
struct Reader<'a> {
    stream: TcpStream,
    buffer: Vec<u8>,
    deadline: &'a Deadline,
    wiretap: &'a Wiretap,
}

impl<'a> Reader<'a> {
    fn new(stream: TcpStream, deadline: &'a Deadline, wiretap: &'a Wiretap) -> Reader<'a> {
        Reader { stream, buffer: Vec::with_capacity(4096), deadline, wiretap }
    }

    /// Reads more bytes into the buffer; 0 means the server closed the connection.
    fn fill(&mut self) -> Result<usize, Error> {
        let left = self.deadline.remaining()?;
        self.stream
            .set_read_timeout(Some(left))
            .map_err(|e| Error::transport("set read timeout", e))?;
        let mut chunk = [0u8; 8192];
        let n = self
            .stream
            .read(&mut chunk)
            .map_err(|e| self.deadline.io_error("read the HTTP reply", e))?;
        self.buffer.extend_from_slice(&chunk[..n]);
        Ok(n)
    }

    fn read_reply(mut self) -> Result<Vec<u8>, Error> {
        let (head_len, framing) = self.read_head()?;
        self.buffer.drain(..head_len);
        let wiretap = self.wiretap;
        let body = match framing {
            Framing::Length(length) => self.read_length(length),
            Framing::Chunked => self.read_chunked(),
            Framing::UntilClose => self.read_to_close(),
        }?;
        wiretap.received(&body);
        Ok(body)
    }

    fn read_head(&mut self) -> Result<(usize, Framing), Error> {
        loop {
            if let Some(head) = self.parse_head()? {
                return Ok(head);
            }
            if self.buffer.len() > MAX_HEAD {
                return Err(Error::malformed("HTTP header too long", &self.buffer));
            }
            if self.fill()? == 0 {
                return Err(self.closed_in_head());
            }
        }
    }

    fn closed_in_head(&self) -> Error {
        if self.buffer.is_empty() {
            // httpd drops requests it will not serve (no or unsupported Content-Type, a body
            // over its ~16 KiB buffer) by closing without a word.
            let eof = std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "closed without a response (request too large or Content-Type refused?)",
            );
            return Error::transport("read the HTTP reply", eof);
        }
        Error::malformed("connection closed inside the HTTP header", &self.buffer)
    }

    fn parse_head(&self) -> Result<Option<(usize, Framing)>, Error> {
        let Some((head_len, framing)) = parse_head(&self.buffer)? else { return Ok(None) };
        self.wiretap.received(&self.buffer[..head_len]);
        Ok(Some((head_len, framing?)))
    }

    fn read_length(mut self, length: usize) -> Result<Vec<u8>, Error> {
        if length > MAX_BODY {
            return Err(Error::malformed(format!("body of {length} bytes is too large"), &[]));
        }
        while self.buffer.len() < length {
            if self.fill()? == 0 {
                return Err(Error::malformed(
                    "connection closed before the end of the body",
                    &self.buffer,
                ));
            }
        }
        self.buffer.truncate(length);
        Ok(self.buffer)
    }

    fn read_to_close(mut self) -> Result<Vec<u8>, Error> {
        while self.fill()? != 0 {
            if self.buffer.len() > MAX_BODY {
                return Err(Error::malformed("body too large", &[]));
            }
        }
        Ok(self.buffer)
    }

    // Only used if a proxy re-frames a 200; OpenSIPS itself sends Content-Length.
    fn read_chunked(mut self) -> Result<Vec<u8>, Error> {
        let mut body = Vec::new();
        let mut at = 0;
        loop {
            match httparse::parse_chunk_size(&self.buffer[at..]) {
                Ok(httparse::Status::Complete((len, size))) => {
                    let size = usize::try_from(size).unwrap_or(usize::MAX);
                    if size == 0 {
                        return Ok(body);
                    }
                    if body.len().saturating_add(size) > MAX_BODY {
                        return Err(Error::malformed("body too large", &[]));
                    }
                    // the chunk's data and its CRLF
                    while self.buffer.len() < at + len + size + 2 {
                        self.fill_or_truncated()?;
                    }
                    body.extend_from_slice(&self.buffer[at + len..at + len + size]);
                    at += len + size + 2;
                }
                Ok(httparse::Status::Partial) if self.buffer.len() - at > MAX_CHUNK_LINE => {
                    return Err(Error::malformed("chunk size line too long", &self.buffer[at..]))
                }
                Ok(httparse::Status::Partial) => self.fill_or_truncated()?,
                Err(_) => return Err(Error::malformed("bad chunk size", &self.buffer[at..])),
            }
        }
    }

    fn fill_or_truncated(&mut self) -> Result<(), Error> {
        match self.fill()? {
            0 => Err(Error::malformed("connection closed inside a chunked body", &self.buffer)),
            _ => Ok(()),
        }
    }
}

/// A complete head: its length, and the body's framing or why the reply is refused.
pub(crate) type Head = (usize, Result<Framing, Error>);

/// Parses the head at the start of `buffer`: `None` while it is incomplete; once complete, its
/// length and how the body is framed, or why the reply is refused (a status other than 200, a
/// framing that makes no sense), so the caller can still show the head it refuses.
pub(crate) fn parse_head(buffer: &[u8]) -> Result<Option<Head>, Error> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut response = httparse::Response::new(&mut headers);
    let head_len = match response.parse(buffer) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(Error::malformed(format!("bad HTTP reply: {e}"), buffer)),
    };
    let status = response.code.unwrap_or_default();
    if status != 200 {
        let reason = response.reason.unwrap_or_default().to_owned();
        return Ok(Some((head_len, Err(Error::HttpStatus { status, reason }))));
    }
    Ok(Some((head_len, framing(response.headers, buffer))))
}

fn framing(headers: &[httparse::Header<'_>], raw: &[u8]) -> Result<Framing, Error> {
    let find =
        |name: &str| headers.iter().find(|h| h.name.eq_ignore_ascii_case(name)).map(|h| h.value);
    if find("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case(b"chunked")) {
        return Ok(Framing::Chunked);
    }
    match find("content-length") {
        Some(value) => std::str::from_utf8(value)
            .ok()
            .and_then(|v| v.trim().parse().ok())
            .map(Framing::Length)
            .ok_or_else(|| Error::malformed("bad Content-Length", raw)),
        None => Ok(Framing::UntilClose),
    }
}

/// The mi_http transport: JSON-RPC as `application/json`; every JSON-RPC answer, errors
/// included, comes back as `200`.
#[derive(Debug)]
pub(crate) struct HttpJsonRpc {
    target: HttpTarget,
}

impl HttpJsonRpc {
    pub(crate) fn new(url: &str) -> Result<HttpJsonRpc, Error> {
        Ok(HttpJsonRpc { target: HttpTarget::parse(url)? })
    }

    pub(crate) fn call(
        &self,
        request: &Request,
        deadline: &Deadline,
        wiretap: &Wiretap,
    ) -> Result<Reply, Error> {
        let json = request.to_json();
        let body = self.target.post("application/json", json.as_bytes(), deadline, wiretap)?;
        decode_for(&body, request.id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let target = HttpTarget::parse("http://127.0.0.1:8888/mi").unwrap();
        assert_eq!(
            (target.authority.as_str(), target.host_port.as_str(), target.path.as_str()),
            ("127.0.0.1:8888", "127.0.0.1:8888", "/mi")
        );
        let target = HttpTarget::parse("http://user@[::1]:8888").unwrap();
        assert_eq!((target.host_port.as_str(), target.path.as_str()), ("[::1]:8888", "/"));
        let target = HttpTarget::parse("http://example.net").unwrap();
        assert_eq!((target.host_port.as_str(), target.path.as_str()), ("example.net:80", "/"));
        for bad in [
            "https://h/mi",
            "127.0.0.1:8888/mi",
            "http:///mi",
            "ftp://h/",
            "http://127.0.0.1:abc/mi",
            "http://127.0.0.1:99999/mi",
            "http://127.0.0.1:0/mi",
            "http://127.0.0.1:/mi",
            "http://[::1]:+80/mi",
        ] {
            assert!(matches!(HttpTarget::parse(bad), Err(Error::InvalidInput(_))), "{bad}");
        }
    }
}
