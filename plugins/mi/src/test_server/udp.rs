//! The test server's mi_datagram: one reply datagram per request, from the listening socket;
//! plain text `400 Parse_error` for unparsable or oversize requests, `500 Internal error` for
//! replies that cannot be printed or do not fit its 65457-byte buffer.

use std::net::{SocketAddr, UdpSocket};
use std::thread;
use std::time::Duration;

use super::engine::Answer;
use super::{Injection, Kind, Shared};

const BUFFER: usize = 65457;

pub(crate) fn start(shared: Shared) -> SocketAddr {
    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind the test mi_datagram socket");
    let addr = socket.local_addr().expect("local address");
    thread::spawn(move || serve(&socket, &shared));
    addr
}

pub(crate) fn wake(addr: SocketAddr) {
    if let Ok(socket) = UdpSocket::bind("127.0.0.1:0") {
        let _ = socket.send_to(b"", addr);
    }
}

fn serve(socket: &UdpSocket, shared: &Shared) {
    // One byte more than the server's buffer tells a cut request from one that just fits.
    let mut buffer = vec![0u8; BUFFER + 1];
    while let Ok((length, peer)) = socket.recv_from(&mut buffer) {
        if shared.stopping() {
            return;
        }
        shared.record(Kind::Datagram, &buffer[..length]);
        let (reply, delay) = match shared.take_injection(Kind::Datagram) {
            Some(Injection::Reply(bytes)) => (Some(bytes), Duration::ZERO),
            Some(Injection::Silence) => (None, Duration::ZERO),
            None if length > BUFFER => (Some(b"400 Parse_error".to_vec()), Duration::ZERO),
            None => answer(shared, &buffer[..length]),
        };
        let Some(reply) = reply else { continue };
        let socket = socket.try_clone().expect("clone the UDP socket");
        // A delayed reply (t_uac_dlg to a dead phone) must not hold up the next requests.
        thread::spawn(move || {
            thread::sleep(delay);
            let _ = socket.send_to(&reply, peer);
        });
    }
}

fn answer(shared: &Shared, request: &[u8]) -> (Option<Vec<u8>>, Duration) {
    match shared.engine.answer(request) {
        Answer::ParseError => (Some(b"400 Parse_error".to_vec()), Duration::ZERO),
        Answer::Reply { json, delay } if json.len() > BUFFER => {
            (Some(b"500 Internal error".to_vec()), delay)
        }
        Answer::Reply { json, delay } => (Some(json.into_bytes()), delay),
        Answer::Notification => (None, Duration::ZERO),
        Answer::Unprintable => (Some(b"500 Internal error".to_vec()), Duration::ZERO),
    }
}
