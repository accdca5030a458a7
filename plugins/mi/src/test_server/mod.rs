//! A test MI server that answers like the OpenSIPS 3.5.9 of the captures, over a real UDP
//! socket (mi_datagram), a real HTTP listener (mi_http at `/mi`, mi_xmlrpc_ng at `/RPC2`) and a
//! real FIFO with its reply directory (mi_fifo). Enabled by the `test-server` feature; used by
//! this crate's tests and by core's `ctiproxy mi` end-to-end tests.
//!
//! It records every request's raw bytes and emulates `which`, `uptime`, `version`, `ps`,
//! `get_statistics`, `list_statistics`, `log_level` and `t_uac_dlg` with the captured error
//! shapes (unknown command, bad params, `t_uac_dlg`'s `400`s), and the hazards
//! (plain-text `400 Parse_error` datagrams, HTTP non-200 replies that never send their body,
//! XML-RPC faults, a reply FIFO never opened for malformed JSON), and can be told to answer
//! the next request with given bytes or not at all. A `t_uac_dlg` to `sip:dead@…` answers
//! `{"Status":"408 Request Timeout"}` after [`TestServer::set_uac_delay`] (30 s by default).

mod engine;
mod fifo;
mod http;
mod stats;
mod udp;
mod xmlrpc;

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use engine::Engine;

/// The MI transports the server listens on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// mi_datagram.
    Datagram,
    /// mi_http (JSON-RPC over HTTP).
    Http,
    /// mi_xmlrpc_ng (XML-RPC over HTTP).
    XmlRpc,
    /// mi_fifo.
    Fifo,
}

/// How to answer the next request on a transport, instead of the emulated answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Injection {
    /// These exact bytes: the datagram payload, the whole HTTP response (the connection then
    /// stays open until the client closes it), or the reply FIFO's content.
    Reply(Vec<u8>),
    /// Nothing at all (HTTP: the request is read, then the connection stays open).
    Silence,
}

/// One `t_uac_dlg` the server accepted, with its parameters as decoded by the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UacRequest {
    /// `method`.
    pub method: String,
    /// `ruri`.
    pub ruri: String,
    /// `headers`, as the server's parser saw them (XML-RPC: after XML line-end normalization).
    pub headers: String,
    /// `next_hop`.
    pub next_hop: Option<String>,
    /// `socket`.
    pub socket: Option<String>,
    /// `body`.
    pub body: Option<String>,
}

/// Every request received, with the transport it came on, in arrival order.
type Received = Arc<Mutex<Vec<(Kind, Vec<u8>)>>>;

/// State shared by the listener threads.
#[derive(Clone)]
pub(crate) struct Shared {
    engine: Engine,
    received: Received,
    injections: Arc<Mutex<HashMap<Kind, VecDeque<Injection>>>>,
    stop: Arc<AtomicBool>,
}

impl Shared {
    fn record(&self, kind: Kind, bytes: &[u8]) {
        self.received.lock().unwrap().push((kind, bytes.to_vec()));
    }

    fn take_injection(&self, kind: Kind) -> Option<Injection> {
        self.injections.lock().unwrap().get_mut(&kind)?.pop_front()
    }

    fn stopping(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }
}

/// A running test MI server; everything stops and the temporary directory goes when dropped.
pub struct TestServer {
    shared: Shared,
    datagram: SocketAddr,
    http: SocketAddr,
    fifo: fifo::FifoServer,
}

impl TestServer {
    /// Starts every endpoint on 127.0.0.1 (ephemeral ports) and in a fresh temporary directory.
    pub fn start() -> TestServer {
        let shared = Shared {
            engine: Engine {
                uac_requests: Arc::default(),
                uac_delay: Arc::new(Mutex::new(Duration::from_secs(30))),
            },
            received: Arc::default(),
            injections: Arc::default(),
            stop: Arc::default(),
        };
        TestServer {
            datagram: udp::start(shared.clone()),
            http: http::start(shared.clone()),
            fifo: fifo::FifoServer::start(shared.clone()),
            shared,
        }
    }

    /// The mi_datagram address, as `HOST:PORT`.
    pub fn datagram_addr(&self) -> String {
        self.datagram.to_string()
    }

    /// The mi_http URL (`http://127.0.0.1:PORT/mi`).
    pub fn http_url(&self) -> String {
        format!("http://{}/mi", self.http)
    }

    /// The mi_xmlrpc_ng URL (`http://127.0.0.1:PORT/RPC2`).
    pub fn xmlrpc_url(&self) -> String {
        format!("http://{}/RPC2", self.http)
    }

    /// The HTTP listener's address.
    pub fn http_addr(&self) -> SocketAddr {
        self.http
    }

    /// The FIFO the server reads requests from.
    pub fn fifo_path(&self) -> &Path {
        &self.fifo.path
    }

    /// The directory the server writes reply FIFOs into (its `reply_dir`).
    pub fn reply_dir(&self) -> &Path {
        self.fifo.reply_dir()
    }

    /// The `ctiproxy mi` transport flags that reach this server over `kind`.
    pub fn cli_args(&self, kind: Kind) -> Vec<String> {
        match kind {
            Kind::Datagram => vec!["--datagram".into(), self.datagram_addr()],
            Kind::Http => vec!["--http".into(), self.http_url()],
            Kind::XmlRpc => vec!["--xmlrpc".into(), self.xmlrpc_url()],
            Kind::Fifo => vec![
                "--fifo".into(),
                self.fifo_path().display().to_string(),
                "--reply-dir".into(),
                self.reply_dir().display().to_string(),
            ],
        }
    }

    /// The raw requests received on `kind`, in order (HTTP: head and body; FIFO: the line).
    pub fn requests(&self, kind: Kind) -> Vec<Vec<u8>> {
        let received = self.shared.received.lock().unwrap();
        received.iter().filter(|(k, _)| *k == kind).map(|(_, bytes)| bytes.clone()).collect()
    }

    /// How many requests arrived on any transport.
    pub fn request_count(&self) -> usize {
        self.shared.received.lock().unwrap().len()
    }

    /// The `t_uac_dlg` requests accepted so far.
    pub fn uac_requests(&self) -> Vec<UacRequest> {
        self.shared.engine.uac_requests.lock().unwrap().clone()
    }

    /// How long a `t_uac_dlg` to `sip:dead@…` takes to answer `408 Request Timeout`.
    pub fn set_uac_delay(&self, delay: Duration) {
        *self.shared.engine.uac_delay.lock().unwrap() = delay;
    }

    /// Answers the next request on `kind` with `injection` instead of the emulated answer.
    pub fn inject(&self, kind: Kind, injection: Injection) {
        let mut injections = self.shared.injections.lock().unwrap();
        injections.entry(kind).or_default().push_back(injection);
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        udp::wake(self.datagram);
        http::wake(self.http);
        self.fifo.wake();
    }
}
