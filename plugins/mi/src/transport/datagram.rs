//! mi_datagram: one JSON-RPC request per UDP datagram, one reply datagram of up to 64 KiB sent
//! back from the MI socket to the request's source port.

use std::net::{SocketAddr, UdpSocket};

use super::{parse_port, resolve, Deadline};
use crate::error::Error;
use crate::request::Request;
use crate::response::{decode_for, Reply};
use crate::wiretap::Wiretap;

/// The largest request mi_datagram reads whole; longer ones are cut and answered
/// `400 Parse_error`.
pub const MAX_REQUEST: usize = 65457;

// Replies are never split, so the buffer must hold the largest UDP payload; the Ruby gem's
// 1500 bytes silently truncates real replies (4836-byte list_statistics).
const RECEIVE_BUFFER: usize = 65536;

/// The mi_datagram transport.
#[derive(Debug)]
pub(crate) struct Datagram {
    target: String,
}

impl Datagram {
    pub(crate) fn new(target: &str) -> Result<Datagram, Error> {
        let valid = match target.rsplit_once(':') {
            Some((host, port)) => !host.is_empty() && parse_port(port).is_some(),
            None => false,
        };
        if !valid {
            return Err(Error::InvalidInput(format!(
                "datagram address {target:?} is not HOST:PORT (PORT 1 to 65535)"
            )));
        }
        Ok(Datagram { target: target.to_owned() })
    }

    pub(crate) fn call(
        &self,
        request: &Request,
        deadline: &Deadline,
        wiretap: &Wiretap,
    ) -> Result<Reply, Error> {
        let json = request.to_json();
        if json.len() > MAX_REQUEST {
            return Err(Error::InvalidInput(format!(
                "request is {} bytes, mi_datagram reads at most {MAX_REQUEST}",
                json.len()
            )));
        }
        let server = resolve(&self.target)?[0];
        let socket = connected_socket(server)?;
        wiretap.sent(json.as_bytes());
        socket
            .send(json.as_bytes())
            .map_err(|e| Error::transport(format!("send to {server}"), e))?;
        let mut buffer = vec![0u8; RECEIVE_BUFFER];
        socket
            .set_read_timeout(Some(deadline.remaining()?))
            .map_err(|e| Error::transport("set read timeout", e))?;
        // ECONNREFUSED here is the ICMP "port unreachable" for a server that is not listening.
        let length = socket
            .recv(&mut buffer)
            .map_err(|e| deadline.io_error(format!("receive from {server}"), e))?;
        wiretap.received(&buffer[..length]);
        decode_for(&buffer[..length], request.id)
    }
}

// A connected socket only accepts datagrams from the server's address, and mi_datagram
// answers from the very socket it listens on, so nothing else can be mistaken for the reply.
fn connected_socket(server: SocketAddr) -> Result<UdpSocket, Error> {
    let local = if server.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" };
    let socket = UdpSocket::bind(local).map_err(|e| Error::transport("bind a UDP socket", e))?;
    socket.connect(server).map_err(|e| Error::transport(format!("connect to {server}"), e))?;
    Ok(socket)
}
