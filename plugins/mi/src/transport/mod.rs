//! The four ways to reach OpenSIPS's Management Interface, behind one `call`: JSON-RPC over a
//! UDP datagram (mi_datagram), HTTP (mi_http) or a FIFO (mi_fifo), and XML-RPC (mi_xmlrpc_ng).

pub(crate) mod datagram;
mod deadline;
pub(crate) mod fifo;
pub(crate) mod http;
pub(crate) mod xmlrpc;

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

use crate::error::Error;
use crate::request::Request;
use crate::response::Reply;
use crate::wiretap::Wiretap;

pub(crate) use deadline::Deadline;

/// The largest reply accepted (an HTTP body, a FIFO reply): a bigger one is refused rather than
/// buffered without bound. The largest real reply, `list_statistics`, is about 5 KB.
pub(crate) const MAX_REPLY: usize = 16 * 1024 * 1024;

/// Where and how to reach the MI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// mi_datagram at `HOST:PORT` (e.g. `127.0.0.1:8809`).
    Datagram(String),
    /// mi_http JSON-RPC at a URL (e.g. `http://127.0.0.1:8888/mi`).
    Http(String),
    /// mi_xmlrpc_ng at a URL (e.g. `http://127.0.0.1:8888/RPC2`).
    XmlRpc(String),
    /// mi_fifo: the server's FIFO, and the server's `reply_dir`, where the reply FIFO must be
    /// created (OpenSIPS's default is `/tmp/`).
    Fifo {
        /// The FIFO OpenSIPS reads (`fifo_name`).
        path: PathBuf,
        /// The directory OpenSIPS writes replies into (`reply_dir`).
        reply_dir: PathBuf,
    },
}

impl Endpoint {
    /// mi_fifo with OpenSIPS's default `reply_dir`, `/tmp`.
    pub fn fifo(path: impl Into<PathBuf>) -> Endpoint {
        Endpoint::Fifo { path: path.into(), reply_dir: PathBuf::from(fifo::DEFAULT_REPLY_DIR) }
    }
}

/// A checked endpoint that can carry requests.
#[derive(Debug)]
pub(crate) enum Transport {
    Datagram(datagram::Datagram),
    Http(http::HttpJsonRpc),
    XmlRpc(xmlrpc::XmlRpc),
    Fifo(fifo::Fifo),
}

impl Transport {
    /// Checks the endpoint's address or URL; nothing is sent yet.
    pub(crate) fn open(endpoint: &Endpoint) -> Result<Transport, Error> {
        Ok(match endpoint {
            Endpoint::Datagram(target) => Transport::Datagram(datagram::Datagram::new(target)?),
            Endpoint::Http(url) => Transport::Http(http::HttpJsonRpc::new(url)?),
            Endpoint::XmlRpc(url) => Transport::XmlRpc(xmlrpc::XmlRpc::new(url)?),
            Endpoint::Fifo { path, reply_dir } => Transport::Fifo(fifo::Fifo::new(path, reply_dir)),
        })
    }

    /// Sends one request and waits at most `timeout` for its reply, showing `wiretap` the
    /// bytes each way.
    pub(crate) fn call(
        &self,
        request: &Request,
        timeout: Duration,
        wiretap: &Wiretap,
    ) -> Result<Reply, Error> {
        let deadline = Deadline::after(timeout);
        match self {
            Transport::Datagram(t) => t.call(request, &deadline, wiretap),
            Transport::Http(t) => t.call(request, &deadline, wiretap),
            Transport::XmlRpc(t) => t.call(request, &deadline, wiretap),
            Transport::Fifo(t) => t.call(request, &deadline, wiretap),
        }
    }
}

/// Resolves `host:port`, IPv4 addresses first: the MI modules usually bind 127.0.0.1 only, and
/// "localhost" resolving to ::1 first would otherwise miss them.
pub(crate) fn resolve(target: &str) -> Result<Vec<SocketAddr>, Error> {
    let mut addrs: Vec<SocketAddr> = target
        .to_socket_addrs()
        .map_err(|e| Error::transport(format!("resolve {target}"), e))?
        .collect();
    addrs.sort_by_key(|addr| addr.is_ipv6());
    if addrs.is_empty() {
        let none = std::io::Error::new(std::io::ErrorKind::NotFound, "no address");
        return Err(Error::transport(format!("resolve {target}"), none));
    }
    Ok(addrs)
}

/// The port of an address or URL: 1 to 5 decimal digits, 1 to 65535. Stricter than `u16`'s
/// parser (which takes `+80`), and `0` would ask the system for any port.
pub(crate) fn parse_port(text: &str) -> Option<u16> {
    let digits = !text.is_empty() && text.len() <= 5 && text.bytes().all(|b| b.is_ascii_digit());
    digits.then(|| text.parse().ok()).flatten().filter(|port| *port != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_1_to_65535_in_digits() {
        for (text, port) in [("1", Some(1)), ("8809", Some(8809)), ("65535", Some(65535))] {
            assert_eq!(parse_port(text), port, "{text}");
        }
        for bad in ["", "0", "00000", "65536", "99999", "abc", "+80", "-1", "080a", "123456", " 80"]
        {
            assert_eq!(parse_port(bad), None, "{bad:?}");
        }
    }
}
