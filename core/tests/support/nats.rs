//! A real `nats-server` with JetStream for the export plugin's tests: started on 127.0.0.1 on a
//! free port with a store directory of its own, stopped and restarted on the same port and
//! store, killed when dropped; and a reader of everything a stream holds, through async-nats.
//!
//! `nats-server` must be installed (CI's `.ci/run` installs it; `$NATS_SERVER` names another):
//! without it the tests fail, saying so, rather than pass without testing anything.
#![allow(dead_code)]

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use async_nats::jetstream;
use async_nats::HeaderMap;

/// How long a server gets to start listening.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// A running (or stopped) nats-server.
pub struct NatsServer {
    child: Option<Child>,
    port: u16,
    store: tempfile::TempDir,
    /// `--user`, `--pass`…
    extra: Vec<String>,
}

impl NatsServer {
    /// A server with JetStream on a free port.
    pub fn start() -> NatsServer {
        NatsServer::start_with(&[])
    }

    /// A server with extra command-line options (such as `--user u --pass p`).
    pub fn start_with(extra: &[&str]) -> NatsServer {
        NatsServer::launch(free_port(), extra)
    }

    /// A server on `port` (one a client was told about while nothing listened there).
    pub fn start_on(port: u16) -> NatsServer {
        NatsServer::launch(port, &[])
    }

    fn launch(port: u16, extra: &[&str]) -> NatsServer {
        let store = tempfile::tempdir().expect("temp dir");
        let extra = extra.iter().map(|s| s.to_string()).collect();
        let mut server = NatsServer { child: None, port, store, extra };
        server.restart();
        server
    }

    /// A free port nobody listens on (for a server that is down).
    pub fn unused_port() -> u16 {
        free_port()
    }

    /// `nats://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Stops the server the way an operator does (SIGTERM: it flushes its store and exits).
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else { return };
        let _ = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
        let deadline = Instant::now() + START_TIMEOUT;
        while child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
    }

    /// Freezes the server (SIGSTOP): connections stay open, the kernel still takes what
    /// clients send, nothing is answered until [`NatsServer::resume`].
    pub fn pause(&self) {
        self.send("-STOP");
    }

    /// Lets a paused server run again: it reads and answers what was sent meanwhile.
    pub fn resume(&self) {
        self.send("-CONT");
    }

    fn send(&self, signal: &str) {
        let child = self.child.as_ref().expect("running");
        let status = Command::new("kill").arg(signal).arg(child.id().to_string()).status();
        assert!(status.map(|s| s.success()).unwrap_or(false), "kill {signal} failed");
    }

    /// Starts the server again on the same port and store directory.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "already running");
        let store = PathBuf::from(self.store.path());
        let mut cmd = Command::new(binary());
        cmd.args(["-js", "-a", "127.0.0.1", "-p"])
            .arg(self.port.to_string())
            .arg("-sd")
            .arg(&store)
            .args(&self.extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let child = cmd.spawn().unwrap_or_else(|e| {
            panic!(
                "cannot run nats-server ({e}): the export tests need a real NATS server; \
                 `make test-peers` fetches one into the target directory (or: apt-get install \
                 nats-server; `make test` does both steps)"
            )
        });
        self.child = Some(child);
        let deadline = Instant::now() + START_TIMEOUT;
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "nats-server did not listen on {}", self.port);
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// `$NATS_SERVER`, else `nats-server` on PATH, else Debian's `/usr/sbin/nats-server` (not on
/// the PATH of users other than root), else the one `make test-peers` fetched into the target
/// directory.
fn binary() -> PathBuf {
    if let Some(path) = std::env::var_os("NATS_SERVER") {
        return path.into();
    }
    let on_path = std::env::var_os("PATH").into_iter().flat_map(|paths| {
        std::env::split_paths(&paths).map(|dir| dir.join("nats-server")).collect::<Vec<_>>()
    });
    on_path
        .chain([PathBuf::from("/usr/sbin/nats-server"), fetched_binary()])
        .find(|path| path.is_file())
        .unwrap_or_else(|| "nats-server".into())
}

/// Where `make test-peers` puts nats-server: `$CARGO_TARGET_DIR` or the workspace's `target`.
fn fetched_binary() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    target.join("test-peers/bin/nats-server")
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("address").port()
}

/// One record as the stream holds it.
#[derive(Debug, Clone)]
pub struct Stored {
    pub subject: String,
    pub payload: serde_json::Value,
    pub msg_id: Option<String>,
}

/// Everything stream `name` holds, in stream order; `connect` is the connection to use.
pub fn read_stream(connect: &str, name: &str) -> Vec<Stored> {
    runtime().block_on(async {
        let client = connect_to(connect).await;
        let js = jetstream::new(client);
        let mut stream = js.get_stream(name).await.expect("stream exists");
        let state = stream.info().await.expect("stream info").state.clone();
        let mut out = Vec::new();
        for seq in state.first_sequence..=state.last_sequence {
            let Ok(message) = stream.get_raw_message(seq).await else { continue };
            out.push(Stored {
                subject: message.subject.to_string(),
                payload: serde_json::from_slice(&message.payload).expect("record is JSON"),
                msg_id: msg_id(&message.headers),
            });
        }
        out
    })
}

/// How many records stream `name` holds.
pub fn stream_len(connect: &str, name: &str) -> u64 {
    runtime().block_on(async {
        let client = connect_to(connect).await;
        let js = jetstream::new(client);
        let Ok(mut stream) = js.get_stream(name).await else { return 0 };
        stream.info().await.map(|info| info.state.messages).unwrap_or(0)
    })
}

/// Creates stream `name` for `subjects` on the server.
pub fn create_stream(connect: &str, name: &str, subjects: &str) {
    runtime().block_on(async {
        let client = connect_to(connect).await;
        let js = jetstream::new(client);
        js.create_stream(jetstream::stream::Config {
            name: name.into(),
            subjects: vec![subjects.into()],
            ..Default::default()
        })
        .await
        .expect("create stream");
    })
}

/// Connects to `url`, with the `user:password@` it may hold (which async-nats ignores).
async fn connect_to(url: &str) -> async_nats::Client {
    let addr: async_nats::ServerAddr = url.parse().expect("NATS URL");
    let options = match (addr.username(), addr.password()) {
        (Some(user), Some(pass)) => {
            async_nats::ConnectOptions::with_user_and_password(user.into(), pass.into())
        }
        _ => async_nats::ConnectOptions::new(),
    };
    options.connect(addr).await.expect("connect to nats-server")
}

fn msg_id(headers: &HeaderMap) -> Option<String> {
    headers.get("Nats-Msg-Id").map(|v| v.as_str().to_owned())
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime")
}

/// Waits until `done` holds (polling every 20 ms), up to a minute; says what was awaited.
pub fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}
